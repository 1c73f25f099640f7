import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import ClassKit
import ClassKit.Backend

// Clusters: the visual modes of the project, sortable, each with typical thumbnails and its
// label state; "Label this cluster", "Show on map" and a thumbnail's click (label that image,
// in its cluster's queue) are signals Main.qml handles.
Item {
    id: view
    property var project  // a ProjectModel
    readonly property QtObject model: cm
    property bool stale: true  // the project changed while the view was hidden
    objectName: "view_clusters"
    signal labelCluster(int id)
    signal showCluster(int id)
    signal labelImage(int cluster, int imageId)

    readonly property var sortKeys: [
        {"key": "size", "text": "Size"},
        {"key": "unlabeled", "text": "Unlabeled share"},
        {"key": "purity", "text": "Purity (lowest)"},
        {"key": "disagreement", "text": "Disagreement"}]

    function pct(v) { return v === null || v === undefined ? "–" : Math.round(v * 100) + "%" }
    property real keepY: 0  // the list's scroll position across a refresh
    function freshen() { if (visible) reload(); else stale = true }  // now if shown, else on show
    function reload() {
        if (cm.projectPath === "") return
        stale = false
        keepY = list.contentY
        cm.refresh()
    }

    ClustersModel {
        id: cm
        runner: view.project ? view.project.runner : null
        projectPath: view.project && view.project.isOpen ? view.project.path : ""
        onProjectPathChanged: { view.stale = true; view.keepY = 0; if (view.visible) view.reload() }
        onLoaded: Qt.callLater(() => {
            list.contentY = Math.max(0, Math.min(view.keepY, list.contentHeight - list.height))
        })
    }
    Connections {
        target: view.project
        function onRevisionChanged() { view.freshen() }
        // labels given since (the Label view, the CLI): coverage and purity change
        function onLabelRevisionChanged() { view.freshen() }
    }
    onVisibleChanged: if (visible && stale) reload()

    EmptyState {
        anchors.fill: parent
        visible: !view.project.isOpen || !view.project.hasClusters || cm.state === "noclusters"
                 || cm.state === "error"
        title: cm.state === "error" ? "Cannot show the clusters"
               : (view.project.isOpen && view.project.hasClusters) ? "Clusters are computed" : "No clusters yet"
        body: cm.state === "error" ? cm.message
              : !view.project.hasEmbeddings
                ? "Group similar images into visual modes: run Pipeline ▸ Embed, then Pipeline ▸ Cluster, "
                  + "or use the command line."
                : "Group similar images into visual modes: run Pipeline ▸ Cluster (after Embed), "
                  + "or use the command line."
        command: "classkit cluster " + (view.project.isOpen ? view.project.path : "PROJECT") + " --show 30"
    }

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: Theme.spacing * 1.5
        spacing: Theme.spacing
        visible: view.project.isOpen && view.project.hasClusters && cm.state === "ready"

        RowLayout {
            Layout.fillWidth: true
            spacing: Theme.spacing
            Label {
                text: cm.count + " clusters"
                font.pixelSize: Theme.titleSize
                font.bold: true
                color: Theme.text
            }
            BusyIndicator { running: cm.busy; visible: cm.busy; Layout.preferredHeight: 24; Layout.preferredWidth: 24 }
            Item { Layout.fillWidth: true }
            Label { text: "Sort by"; color: Theme.mutedText }
            Repeater {
                model: view.sortKeys
                delegate: Button {
                    required property var modelData
                    objectName: "clusterSort_" + modelData.key
                    text: modelData.text
                    palette.button: cm.sortKey === modelData.key ? Theme.accent : Theme.raised
                    palette.buttonText: cm.sortKey === modelData.key ? Theme.accentText : Theme.text
                    enabled: modelData.key !== "disagreement" || cm.hasPredictions
                    onClicked: cm.sortBy(modelData.key)
                }
            }
        }
        Label {
            objectName: "clusterSummary"
            Layout.fillWidth: true
            color: Theme.text
            text: cm.summary.unlabeled + " without any label · " + cm.summary.impure + " impure (purity under "
                  + view.pct(cm.impureBelow) + ")"
                  + (cm.hasPredictions ? " · " + cm.summary.disagreeing + " where the model disagrees with a label" : "")
        }
        Label {
            Layout.fillWidth: true
            color: Theme.mutedText
            wrapMode: Text.WordWrap
            text: "Each row is a visual mode: its most typical images, how much of it is labeled, how pure "
                  + "its labels are" + (cm.hasPredictions ? " and where the model disagrees with them"
                                                         : " (train a round to see the model's disagreement)") + "."
        }

        ListView {
            id: list
            objectName: "clusterList"
            Layout.fillWidth: true
            Layout.fillHeight: true
            clip: true
            spacing: Theme.spacing / 2
            model: cm.clusters
            ScrollBar.vertical: ScrollBar {}
            delegate: Rectangle {
                id: row
                required property var modelData
                required property int index
                objectName: "clusterRow_" + modelData.cluster
                width: ListView.view.width - 12
                height: 96
                radius: Theme.radius
                color: Theme.panel
                border.color: Theme.border

                RowLayout {
                    anchors.fill: parent
                    anchors.margins: Theme.spacing
                    spacing: Theme.spacing * 1.5

                    Item {  // typical members; fewer shown when the row is narrow
                        id: strip
                        Layout.fillWidth: true
                        Layout.minimumWidth: 2 * 59
                        Layout.maximumWidth: 5 * 59
                        Layout.preferredHeight: 56
                        clip: true
                        Row {
                            spacing: 3
                            Repeater {
                                model: row.modelData.thumbs.slice(0, Math.max(1, Math.floor((strip.width + 3) / 59)))
                                delegate: Image {
                                    required property var modelData
                                    required property int index
                                    objectName: "clusterThumb_" + row.modelData.cluster + "_" + index
                                    width: 56; height: 56
                                    source: "image://thumbs/" + modelData
                                    sourceSize.width: 56; sourceSize.height: 56
                                    fillMode: Image.PreserveAspectCrop
                                    asynchronous: true
                                    ToolTip.visible: thumbHover.hovered
                                    ToolTip.text: "Label image #" + modelData + " (in this cluster's queue)"
                                    HoverHandler { id: thumbHover; cursorShape: Qt.PointingHandCursor }
                                    TapHandler { onTapped: view.labelImage(row.modelData.cluster, modelData) }
                                }
                            }
                        }
                    }
                    ColumnLayout {
                        Layout.preferredWidth: 95
                        Layout.fillWidth: false  // nested layouts fill by default
                        Layout.minimumWidth: 85
                        spacing: 2
                        Label { text: "Cluster " + row.modelData.cluster; font.bold: true; color: Theme.text }
                        Label { text: row.modelData.size + " images"; color: Theme.mutedText }
                        Label {
                            text: row.modelData.majority ? row.modelData.majority : "no labels"
                            color: row.modelData.majority ? Theme.text : Theme.mutedText
                            elide: Text.ElideRight
                            Layout.fillWidth: true
                        }
                    }
                    ColumnLayout {  // labeled share as a bar
                        Layout.preferredWidth: 125
                        Layout.fillWidth: false  // nested layouts fill by default
                        Layout.minimumWidth: 110
                        spacing: 4
                        Label {
                            text: "Labeled " + row.modelData.labeled + " / " + row.modelData.size
                            color: row.modelData.labeled === 0 ? Theme.error : Theme.text
                        }
                        Rectangle {
                            Layout.fillWidth: true
                            height: 6
                            radius: 3
                            color: Theme.raised
                            Rectangle {
                                height: parent.height
                                radius: 3
                                width: parent.width * (1 - row.modelData.unlabeledShare)
                                color: Theme.accent
                            }
                        }
                        Label {
                            text: "Purity " + view.pct(row.modelData.purity)
                            color: row.modelData.purity !== null && row.modelData.purity < cm.impureBelow ? Theme.error : Theme.text
                        }
                    }
                    ColumnLayout {
                        Layout.preferredWidth: 135
                        Layout.fillWidth: false  // nested layouts fill by default
                        Layout.minimumWidth: 120
                        spacing: 2
                        visible: cm.hasPredictions
                        Label {
                            text: "Model disagrees " + view.pct(row.modelData.disagreement)
                            color: row.modelData.disagreement > 0 ? Theme.error : Theme.text
                        }
                        Label {
                            text: "Model split " + view.pct(row.modelData.predMixing)
                            color: Theme.mutedText
                            ToolTip.visible: splitHover.hovered
                            ToolTip.text: "Share of members the model predicts as another class than the "
                                          + "cluster's most predicted one"
                            HoverHandler { id: splitHover }
                        }
                    }
                    ColumnLayout {
                        spacing: 4
                        Layout.fillWidth: false
                        Layout.minimumWidth: implicitWidth
                        Button {
                            objectName: "labelCluster_" + row.modelData.cluster
                            Layout.preferredHeight: 36
                            text: "Label this cluster"
                            Layout.fillWidth: true
                            onClicked: view.labelCluster(row.modelData.cluster)
                        }
                        Button {
                            objectName: "showCluster_" + row.modelData.cluster
                            Layout.preferredHeight: 36
                            text: "Show on map"
                            Layout.fillWidth: true
                            onClicked: view.showCluster(row.modelData.cluster)
                        }
                    }
                }
            }
        }
    }
}
