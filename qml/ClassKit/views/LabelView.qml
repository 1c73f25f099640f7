import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import ClassKit
import ClassKit.Backend

// The label workbench: keyboard first. 1-9 (class keys), U unsure, J junk, S skip, A accept the
// suggestion, Backspace/Ctrl+Z undo, Left/Right move, Alt+1-9 jump to a neighbour. All logic lives in LabelModel.
FocusScope {
    id: view
    property var project  // a ProjectModel
    readonly property QtObject model: lm
    objectName: "view_label"
    focus: visible
    signal imageShown(int imageId)  // the big image for this id is decoded and laid out

    function startQueue(kind, arg) { showSource(kind, arg); lm.loadQueue(kind, arg) }
    function startQueueAt(kind, arg, imageId) {  // opens on imageId
        showSource(kind, arg)
        lm.loadQueueAt(kind, arg, imageId)
    }
    function showSource(kind, arg) {  // the queue menu says which queue another view opened
        const i = ["batch", "ids", "", "", "cluster", "suspects"].indexOf(kind)
        if (i < 0) return
        if (kind === "cluster") clusterNo.value = Number(arg)
        source.currentIndex = i
    }
    function showSuspects() { loadSource(5) }  // the label-error suspects
    function explorerModel() {
        const w = ApplicationWindow.window
        return w && w.explorer && w.explorer.model ? w.explorer.model : null
    }
    function refreshOthers() {  // after training: status, and the map's colours and uncertainty
        if (view.project) view.project.refresh()
        const m = explorerModel()
        if (m && typeof m.reload === "function") m.reload()
    }
    function loadSource(i) { loadSourceAt(i, -1) }
    function loadSourceAt(i, at) {  // at: open on that image where the queue holds it (-1: start)
        source.currentIndex = i  // the queue menu shows the queue loaded
        if (i === 0) lm.loadQueueAt("batch", "", at)
        else if (i === 1) { const m = explorerModel(); lm.loadQueueAt("ids", m ? m.basket : [], at) }
        else if (i === 2) lm.loadQueueAt("filter", {"status": "unlabeled"}, at)
        else if (i === 3) lm.loadQueueAt("filter", {"status": "unlabeled", "max_confidence": 0.6}, at)
        else if (i === 4) lm.loadQueueAt("cluster", clusterNo.value, at)
        else if (i === 5) lm.loadQueueAt("suspects", "", at)  // labels the out-of-fold heads contradict
    }
    function refreshFromDisk(change) { lm.refreshFromDisk(change) }  // the CLI changed the project
    function reloadQueue() {  // labels changed elsewhere (a CSV import): same queue, same image
        if (lm.queueKind !== "") loadSourceAt(source.currentIndex, lm.current.id === undefined ? -1 : lm.current.id)
    }
    function keyName(event) {
        if (event.key === Qt.Key_Z && (event.modifiers & Qt.ControlModifier)) return "undo"
        if (event.key === Qt.Key_Backspace) return "backspace"
        if ((event.modifiers & Qt.AltModifier) && event.key >= Qt.Key_1 && event.key <= Qt.Key_9)
            return "neighbour" + (event.key - Qt.Key_1)  // Alt+1..9: jump to that neighbour
        if (event.key === Qt.Key_Left) return "left"
        if (event.key === Qt.Key_Right) return "right"
        return event.text
    }

    LabelModel {
        id: lm
        projectPath: view.project ? view.project.path : ""
        runner: view.project ? view.project.runner : null
        autosaveMs: view.project && view.project.settings ? (view.project.settings.autosave_ms || 250) : 250
        onBusyChanged: if (busy === "") view.refreshOthers()
        onProjectPathChanged: if (view.visible && projectPath !== "") loadQueue("batch", "")
    }
    ClassModel {  // a class edit: the side panel's class list and the map's legend follow
        id: classModel
        objectName: "classModel"
        labelModel: lm
        onEdited: view.refreshOthers()
    }

    onVisibleChanged: {
        if (!visible) return
        forceActiveFocus()
        if (lm.queueKind === "" && lm.projectPath !== "") lm.loadQueue("batch", "")
    }
    Keys.onPressed: event => {
        if (lm.labelKey(keyName(event), event.isAutoRepeat)) event.accepted = true
    }

    EmptyState {
        anchors.fill: parent
        visible: !view.project || !view.project.isOpen
        title: "Open a project to label"
        body: "The label workbench shows the current active-learning batch, one image at a time."
    }

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: Theme.spacing
        spacing: Theme.spacing
        visible: view.project && view.project.isOpen

        RowLayout {  // counter, reason, save heartbeat
            Layout.fillWidth: true
            ComboBox {
                id: source
                objectName: "queueSource"
                focusPolicy: Qt.NoFocus
                implicitContentWidthPolicy: ComboBox.WidestText  // no entry cut off
                model: ["Current batch", "Basket", "All unlabeled", "Uncertain (< 60%)", "Cluster",
                        "Label-error suspects"]
                onActivated: i => view.loadSource(i)
            }
            SpinBox { id: clusterNo; objectName: "clusterNo"; visible: source.currentIndex === 4; from: 0; to: 100000; editable: true
                      focusPolicy: Qt.NoFocus; onValueModified: view.loadSource(4) }
            Label {  // suspects all carry a label already: show where the review stands instead
                objectName: "counter"; font.bold: true
                text: lm.queueKind === "suspects"
                      ? "suspect " + Math.min(lm.position + 1, lm.total) + " of " + lm.total
                      : lm.done + " / " + lm.total + " labeled"
            }
            Label { text: lm.current.reason ? "· " + lm.current.reason : ""; color: Theme.mutedText }
            Label { text: lm.current.blind ? "· audit (blind)" : ""; color: Theme.mutedText }
            Item { Layout.fillWidth: true }
            Label { text: lm.busy ? lm.busy + "…" : ""; color: Theme.accent }
            Label { objectName: "labelMessage"; text: lm.message; color: lm.messageIsError ? Theme.error : Theme.mutedText }
            Label { objectName: "saveState"; text: lm.saveState; color: Theme.mutedText }
            Button { text: "Classes…"; focusPolicy: Qt.NoFocus; onClicked: classPopup.open() }
        }

        RowLayout {
            Layout.fillWidth: true
            Layout.fillHeight: true
            spacing: Theme.spacing

            Rectangle {  // the big image
                Layout.fillWidth: true
                Layout.fillHeight: true
                color: Theme.raised
                radius: Theme.radius
                Image {
                    id: bigImage
                    objectName: "bigImage"
                    anchors.fill: parent
                    anchors.margins: 4
                    fillMode: Image.PreserveAspectFit
                    asynchronous: true
                    cache: false
                    source: lm.current.source || ""
                    onStatusChanged: if (status === Image.Ready) { lm.markShown(lm.current.id); view.imageShown(lm.current.id) }
                }
                Label {
                    anchors.left: parent.left; anchors.bottom: parent.bottom; anchors.margins: 8
                    objectName: "suggestion"
                    visible: !!lm.current.suggestion
                    text: "suggested: " + lm.current.suggestion + "  ("
                          + Math.round((lm.current.confidence || 0) * 100) + "%)  — A to accept"
                    color: Theme.text
                    background: Rectangle { color: Theme.panel; opacity: 0.85; radius: 4 }
                    padding: 4
                }
                Label {
                    anchors.right: parent.right; anchors.bottom: parent.bottom; anchors.margins: 8
                    visible: !!lm.current.label
                    text: "label: " + lm.current.label
                    padding: 4
                    background: Rectangle { color: Theme.panel; opacity: 0.85; radius: 4 }
                }
                Column {  // end of queue: close the round
                    anchors.centerIn: parent
                    visible: lm.atEnd
                    spacing: Theme.spacing
                    Label { text: "Queue done."; font.pixelSize: Theme.titleSize }
                    Button {  // the project's batch settings (the Batch view edits them)
                        text: "Next batch"; focusPolicy: Qt.NoFocus; enabled: !lm.busy
                        onClicked: lm.nextBatch(view.project && view.project.settings
                                                ? (view.project.settings.batch_size || 50) : 50)
                    }
                    Button { text: "Train now"; focusPolicy: Qt.NoFocus; enabled: !lm.busy; onClicked: lm.trainNow() }
                }
            }

            ColumnLayout {  // neighbours
                Layout.fillWidth: false
                Layout.preferredWidth: 220
                Layout.maximumWidth: 220
                Layout.fillHeight: true
                Label { text: "Neighbours"; font.bold: true }
                ListView {
                    objectName: "neighbours"
                    Layout.fillWidth: true
                    Layout.fillHeight: true
                    clip: true
                    model: lm.neighbours
                    delegate: ItemDelegate {
                        width: ListView.view.width
                        focusPolicy: Qt.NoFocus
                        onClicked: lm.jumpToNeighbour(index)
                        contentItem: RowLayout {
                            Image { source: "image://thumbs/" + modelData.id; sourceSize.width: 48; sourceSize.height: 48
                                    Layout.preferredWidth: 48; Layout.preferredHeight: 48; fillMode: Image.PreserveAspectFit; asynchronous: true }
                            Label { text: modelData.similarity.toFixed(2) + "\n" + (modelData.label || "—"); color: Theme.text }
                        }
                    }
                }
                RowLayout {
                    SpinBox { id: similarN; from: 4; to: 200; value: 24; editable: true; focusPolicy: Qt.NoFocus
                              Layout.preferredWidth: 100 }
                    Button { text: "Label similar"; focusPolicy: Qt.NoFocus; onClicked: { lm.openSimilar(similarN.value); review.open() } }
                }
            }
        }

        ListView {  // upcoming strip
            objectName: "strip"
            Layout.fillWidth: true
            Layout.preferredHeight: 72
            orientation: ListView.Horizontal
            spacing: 4
            model: lm.upcoming
            delegate: Image { width: 72; height: 72; source: "image://thumbs/" + modelData.id; sourceSize.width: 72; sourceSize.height: 72
                              fillMode: Image.PreserveAspectFit; asynchronous: true }
        }

        Flow {  // class buttons with their keys
            Layout.fillWidth: true
            spacing: 4
            Repeater {
                model: lm.classes
                Button {
                    focusPolicy: Qt.NoFocus
                    text: (modelData.key ? "[" + modelData.key + "] " : "") + modelData.name
                    palette.button: modelData.color
                    palette.buttonText: "white"
                    onClicked: lm.assign(modelData.name)
                }
            }
            Button { focusPolicy: Qt.NoFocus; text: "[U] unsure"; onClicked: lm.unsure() }
            Button { focusPolicy: Qt.NoFocus; text: "[J] junk"; onClicked: lm.junk() }
            Button { focusPolicy: Qt.NoFocus; text: "[S] skip"; onClicked: lm.skip() }
            Button { focusPolicy: Qt.NoFocus; text: "[⌫] undo"; onClicked: lm.undo() }
            Button { focusPolicy: Qt.NoFocus; text: "Train now"; enabled: !lm.busy; onClicked: lm.trainNow() }
        }
    }

    Dialog {  // review grid for "label similar N": untick the wrong ones, then confirm
        id: review
        objectName: "reviewDialog"
        title: "Label " + lm.reviewItems.length + " similar as " + (lm.current.label || "?")
        anchors.centerIn: parent
        width: Math.min(view.width - 40, 760); height: Math.min(view.height - 40, 600)
        modal: true
        standardButtons: Dialog.Ok | Dialog.Cancel
        property var removed: ({})
        onOpened: removed = ({})
        onAccepted: lm.confirmSimilar(lm.reviewItems.map(x => x.id).filter(i => !removed[i]))
        onClosed: view.forceActiveFocus()
        GridView {
            anchors.fill: parent
            clip: true
            cellWidth: 110; cellHeight: 110
            model: lm.reviewItems
            delegate: Item {
                width: 106; height: 106
                Image { anchors.fill: parent; source: "image://thumbs/" + modelData.id; sourceSize.width: 100; sourceSize.height: 100
                        fillMode: Image.PreserveAspectFit; opacity: review.removed[modelData.id] ? 0.25 : 1 }
                MouseArea { anchors.fill: parent
                    onClicked: { const r = Object.assign({}, review.removed); r[modelData.id] = !r[modelData.id]; review.removed = r } }
            }
        }
    }
    Popup {
        id: classPopup
        anchors.centerIn: parent
        width: Math.min(view.width - 40, 640); height: Math.min(view.height - 40, 520)
        modal: true
        onClosed: view.forceActiveFocus()
        ClassEditor { anchors.fill: parent; labels: lm; editor: classModel }
    }
}
