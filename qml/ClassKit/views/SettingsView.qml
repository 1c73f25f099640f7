import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import ClassKit

// Project settings (stored in the project manifest) and the app theme.
Item {
    id: view
    property var project  // a ProjectModel
    objectName: "view_settings"

    function load() {
        const s = project.settings
        autosave.value = s.autosave_ms ?? 250
        thumbSize.value = s.thumbnail_size ?? 256
        thumbQuality.value = s.thumbnail_quality ?? 90
        cacheMb.value = s.cache_max_mb ?? 4096
        graphFeatures.currentIndex = Math.max(0, graphFeatures.find(s.graph_features ?? "off"))
    }
    function save() {
        project.saveSettings({ autosave_ms: autosave.value, thumbnail_size: thumbSize.value,
                               thumbnail_quality: thumbQuality.value, cache_max_mb: cacheMb.value,
                               graph_features: graphFeatures.currentText })
    }

    Component.onCompleted: load()
    Connections {
        target: view.project
        function onSettingsChanged() { view.load() }
    }

    ScrollView {
        anchors.fill: parent
        anchors.margins: Theme.spacing * 3
        contentWidth: availableWidth

        ColumnLayout {
            width: Math.min(parent.width, 640)
            spacing: Theme.spacing * 1.5

            Label { text: "Appearance"; font.bold: true; font.pixelSize: Theme.titleSize }
            Switch {
                objectName: "darkSwitch"
                text: "Dark theme"
                checked: Theme.dark
                onToggled: Theme.dark = checked
            }

            Label {
                text: "Project settings"
                font.bold: true
                font.pixelSize: Theme.titleSize
                Layout.topMargin: Theme.spacing * 2
            }
            Label {
                visible: !view.project.isOpen
                text: "Open a project to edit its settings."
                color: Theme.mutedText
            }
            GridLayout {
                enabled: view.project.isOpen
                columns: 3
                columnSpacing: Theme.spacing * 2

                Label { text: "Autosave interval" }
                SpinBox { id: autosave; objectName: "autosaveSpin"; from: 50; to: 60000; stepSize: 50; editable: true }
                Label { text: "ms: labels are committed at most this long after a key press"; color: Theme.mutedText }

                Label { text: "Thumbnail size" }
                SpinBox { id: thumbSize; objectName: "thumbSizeSpin"; from: 32; to: 1024; stepSize: 32; editable: true }
                Label { text: "px, longest side (new thumbnails use it)"; color: Theme.mutedText }

                Label { text: "Thumbnail quality" }
                SpinBox { id: thumbQuality; from: 30; to: 100; editable: true }
                Label { text: "JPEG quality"; color: Theme.mutedText }

                Label { text: "Cache limit" }
                SpinBox { id: cacheMb; objectName: "cacheSpin"; from: 0; to: 10000000; stepSize: 256; editable: true }
                Label {
                    text: "MB; pruning drops the least recently used thumbnails above it (0 = keep none)"
                    color: Theme.mutedText
                }

                Label { text: "Graph features" }
                ComboBox { id: graphFeatures; objectName: "graphFeaturesBox"; model: ["off", "auto", "on"] }
                Label {
                    text: "Training: the model also reads each image's nearest neighbours (auto: decided on "
                          + "val each round). Helped with few labels on one test dataset, cost accuracy on "
                          + "another: compare rounds in Metrics."
                    color: Theme.mutedText
                    wrapMode: Text.WordWrap
                    Layout.maximumWidth: 360
                }
            }
            RowLayout {
                enabled: view.project.isOpen
                Button { objectName: "saveSettings"; text: "Save"; onClicked: view.save() }
                Button { text: "Revert"; onClicked: view.load() }
            }
        }
    }
}
