import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import ClassKit

// Right-hand context: the open project's counts, pipeline state and class definitions.
Rectangle {
    id: panel
    property var project  // a ProjectModel

    color: Theme.panel
    border.color: Theme.border
    implicitWidth: Theme.panelWidth

    ScrollView {
        anchors.fill: parent
        anchors.margins: Theme.spacing
        contentWidth: availableWidth

        ColumnLayout {
            width: parent.width
            spacing: Theme.spacing

            Label {
                text: panel.project.isOpen ? panel.project.name : "No project open"
                font.bold: true
                font.pixelSize: Theme.titleSize
                Layout.fillWidth: true
                elide: Text.ElideRight
            }
            Label {
                visible: panel.project.isOpen
                text: panel.project.path
                color: Theme.mutedText
                Layout.fillWidth: true
                elide: Text.ElideMiddle
            }
            GridLayout {
                visible: panel.project.isOpen
                columns: 2
                columnSpacing: Theme.spacing * 2
                Label { text: "Images" }
                Label { objectName: "countImages"; text: panel.project.counts.images ?? 0 }
                Label { text: "Labeled" }
                Label { objectName: "countLabeled"; text: panel.project.counts.labeled ?? 0 }
                Label { text: "Duplicates" }
                Label { text: panel.project.counts.duplicates ?? 0 }
                Label { text: "Ingest issues" }
                Label { text: panel.project.counts.ingest_issues ?? 0 }
            }
            Label {
                visible: panel.project.isOpen
                text: "Pipeline"
                font.bold: true
                Layout.topMargin: Theme.spacing
            }
            Repeater {
                model: panel.project.isOpen ? [
                    ["Embeddings", panel.project.hasEmbeddings],
                    ["kNN index", panel.project.hasIndex],
                    ["Map", panel.project.hasMap],
                    ["Clusters", panel.project.hasClusters]] : []
                delegate: Label {
                    required property var modelData
                    text: (modelData[1] ? "✓ " : "– ") + modelData[0]
                          + (modelData[1] ? "" : ": not computed yet (Pipeline menu)")
                    color: modelData[1] ? Theme.success : Theme.mutedText
                    Layout.fillWidth: true
                    wrapMode: Text.WordWrap
                }
            }
            Label {
                visible: panel.project.isOpen
                text: "Classes"
                font.bold: true
                Layout.topMargin: Theme.spacing
            }
            Label {
                visible: panel.project.isOpen && panel.project.classes.length === 0
                text: "No classes yet. Add them with Classes… in the Label view (or classkit classes PROJECT --add cat,dog)"
                color: Theme.mutedText
                wrapMode: Text.WordWrap
                Layout.fillWidth: true
            }
            Repeater {
                model: panel.project.classes
                delegate: RowLayout {
                    required property var modelData
                    Layout.fillWidth: true
                    Rectangle { width: 12; height: 12; radius: 6; color: modelData.color }
                    Label { text: modelData.name; Layout.fillWidth: true; elide: Text.ElideRight }
                    Label { text: modelData.key ? "[" + modelData.key + "]" : ""; color: Theme.mutedText }
                    Label { text: modelData.count }
                }
            }
        }
    }
}
