import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import ClassKit
import ClassKit.Backend

// The current active-learning batch: why each image was picked, its score, its label;
// "Start labeling" opens it in the label workbench.
Item {
    id: view
    property var project  // a ProjectModel
    readonly property QtObject model: batch
    objectName: "view_batch"

    signal startLabeling()  // the window opens the Label view on this batch

    LabelModel {
        id: batch
        projectPath: view.project && view.project.isOpen ? view.project.path : ""
        // a (re)loaded batch opens at its first row: the old scroll offset would cut a row in half
        onQueueChanged: Qt.callLater(() => list.positionViewAtBeginning())
    }
    onVisibleChanged: if (visible && batch.projectPath !== "") batch.loadQueue("batch", "")
    function refreshFromDisk(change) {  // the CLI changed the project: a new batch shows at once
        if (change.batches && visible) batch.loadQueue("batch", "")
        else batch.refreshFromDisk(change)
    }

    EmptyState {
        anchors.fill: parent
        visible: batch.total === 0
        title: "No batch to label"
        body: batch.message || "Train a head on your labels, then select the next batch (uncertain, "
              + "diverse, representative, audit)."
        command: view.project && view.project.isOpen
                 ? "classkit train " + view.project.path + "\nclasskit select " + view.project.path + " --budget 50" : ""
    }
    ColumnLayout {
        anchors.fill: parent
        anchors.margins: Theme.spacing
        visible: batch.total > 0
        RowLayout {
            Label { text: "Current batch: " + batch.total + " images to label"; font.bold: true }
            Label { objectName: "batchReasons"; text: batch.reasonSummary; color: Theme.mutedText }
            Item { Layout.fillWidth: true }
            Button {
                objectName: "startLabeling"
                text: "Start labeling"
                onClicked: view.startLabeling()
            }
        }
        ListView {
            id: list
            objectName: "batchList"
            Layout.fillWidth: true
            Layout.fillHeight: true
            clip: true
            spacing: 2
            model: batch.items
            delegate: RowLayout {
                required property var modelData
                required property int index
                objectName: "batchRow_" + index
                width: ListView.view.width
                height: 44  // fixed, thumbnail centred: it clears the list's top edge, and rows never
                            // change height (and shift the list) as they lay out
                Image { objectName: "batchThumb"; source: "image://thumbs/" + modelData.id; sourceSize.width: 40; sourceSize.height: 40
                        Layout.preferredWidth: 40; Layout.preferredHeight: 40; fillMode: Image.PreserveAspectFit
                        asynchronous: true }
                Label { text: "#" + modelData.id; Layout.preferredWidth: 70 }
                Label { text: modelData.reason; Layout.fillWidth: true }
                Label { text: modelData.score === null ? "" : modelData.score.toFixed(3); Layout.preferredWidth: 60 }
                Label { text: modelData.label || ""; Layout.preferredWidth: 80; color: Theme.mutedText }
            }
        }
    }
}
