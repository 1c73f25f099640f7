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
    onVisibleChanged: if (visible && batch.projectPath !== "") { batch.loadQueue("batch", ""); bm.refresh() }
    function refreshFromDisk(change) {  // the CLI changed the project: a new batch shows at once
        if (change.batches) bm.refresh()
        if (change.batches && visible) batch.loadQueue("batch", "")
        else batch.refreshFromDisk(change)
    }

    BatchModel {
        id: bm
        projectPath: batch.projectPath
        runner: view.project && view.project.runner ? view.project.runner : null
        onSelected: batch.loadQueue("batch", "")
    }
    Connections {
        target: view.project
        ignoreUnknownSignals: true
        function onSettingsChanged() { view.loadSettings() }
    }
    Component.onCompleted: loadSettings()

    readonly property var shareNames: ["uncertainty", "diversity", "representativeness", "audit"]
    readonly property var shareDefaults: [0.40, 0.35, 0.15, 0.10]
    property int sharesTotal: 100  // the four shares' sum in percent (0: nothing to pick by)
    function updateTotal() {
        let t = 0
        for (let i = 0; i < 4; ++i) {
            const box = shareBoxes.itemAt(i)
            if (!box) { sharesTotal = 0; return }  // still being created: each added box recounts
            t += box.value
        }
        sharesTotal = t
    }
    function settingsNow() { return view.project && view.project.settings ? view.project.settings : {} }
    function shareSetting(i) {  // a recipe share from the project's batch settings, in percent
        return Math.round((settingsNow()["weight_" + shareNames[i]] ?? shareDefaults[i]) * 100)
    }
    function loadSettings() {  // the project's batch settings into the controls
        const s = settingsNow()
        budget.value = s.batch_size ?? 50
        for (let i = 0; i < shareBoxes.count; ++i) {
            const box = shareBoxes.itemAt(i)
            if (box) box.value = shareSetting(i)  // boxes not created yet read it when they are
        }
        cap.value = s.cap_per_cluster ?? -1
    }
    function selectBatch() {  // remember the settings for the project, then select
        const w = {}
        const saved = {batch_size: budget.value, cap_per_cluster: cap.value}
        for (let i = 0; i < 4; ++i) {
            w[shareNames[i]] = shareBoxes.itemAt(i).value / 100
            saved["weight_" + shareNames[i]] = shareBoxes.itemAt(i).value / 100
        }
        view.project.saveSettings(saved)
        bm.select(budget.value, w, cap.value)
    }

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: Theme.spacing
        Flow {  // the next batch: size, the recipe's shares, the cluster cap (wraps when narrow)
            objectName: "newBatchRow"
            visible: view.project && view.project.isOpen
            Layout.fillWidth: true
            spacing: Theme.spacing
            RowLayout {
                Label { text: "New batch of" }
                SpinBox { id: budget; objectName: "batchBudget"; from: 1; to: 100000; editable: true; value: 50 }
                Button {
                    objectName: "selectBatch"
                    text: bm.busy ? "Selecting…" : "Select batch"
                    enabled: !bm.busy && view.sharesTotal > 0
                    onClicked: view.selectBatch()
                }
            }
            Repeater {
                id: shareBoxes
                model: ["Uncertainty %", "Diversity %", "Representative %", "Audit %"]
                onItemAdded: view.updateTotal()
                delegate: RowLayout {
                    required property string modelData
                    required property int index
                    property alias value: box.value
                    Label { text: modelData; color: Theme.mutedText }
                    SpinBox { id: box; objectName: "batchShare_" + index; from: 0; to: 100; editable: true
                              implicitWidth: 110; Component.onCompleted: value = view.shareSetting(index)
                              onValueChanged: view.updateTotal() }
                }
            }
            RowLayout {
                Label { text: "Cluster cap"; color: Theme.mutedText }
                SpinBox {
                    id: cap
                    objectName: "batchCap"
                    from: -1; to: 100000; editable: true; value: -1; implicitWidth: 120
                    textFromValue: v => v < 0 ? "auto" : v === 0 ? "none" : String(v)
                    valueFromText: t => t === "auto" ? -1 : t === "none" ? 0 : Number(t)
                }
            }
        }
        Label {  // what the current batch is made of (reasons, predicted classes, modes, shares)
            objectName: "batchComposition"
            visible: text !== ""
            text: (bm.summary.lines || []).join("\n")
            color: Theme.mutedText
            Layout.fillWidth: true; wrapMode: Text.WordWrap
        }
        EmptyState {
            Layout.fillWidth: true
            Layout.fillHeight: true
            visible: batch.total === 0
            title: "No batch to label"
            body: batch.message || "Train a head on your labels, then select the next batch (uncertain, "
                  + "diverse, representative, audit) above."
            command: view.project && view.project.isOpen
                     ? "classkit train " + view.project.path + "\nclasskit select " + view.project.path
                       + " --budget " + budget.value : ""
        }
        RowLayout {
            visible: batch.total > 0
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
            visible: batch.total > 0
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
