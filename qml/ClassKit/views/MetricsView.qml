import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import ClassKit
import ClassKit.Backend

// Model quality per training round: the rounds ledger, and for the selected round its
// per-class table, confusion matrix, reliability bins and stop signals. Logic in MetricsModel.
Item {
    id: view
    property var project  // a ProjectModel
    readonly property QtObject model: mm
    readonly property var d: mm.details
    readonly property string where: project && project.isOpen ? project.path : "PROJECT"
    readonly property var columns: [  // rounds table: title, width, value of a summary row
        ["Round", 58, r => "#" + r.round + (r.current ? " ●" : "")],
        ["Labeled", 70, r => "" + r.labeled],
        ["Val acc", 70, r => view.num(r.val_accuracy, 3)],
        ["Macro F1", 74, r => view.num(r.macro_f1, 3)],
        ["Test acc", 70, r => view.num(r.test_accuracy, 3)],
        ["Est. acc unlabeled", 132, r => view.num(r.expected_accuracy, 3)],
        ["ECE before → after", 140, r => view.num(r.ece_before, 3) + " → " + view.num(r.ece_after, 3)],
        ["NLL before → after", 140, r => view.num(r.nll_before, 3) + " → " + view.num(r.nll_after, 3)],
        ["Temp.", 60, r => view.num(r.temperature, 2)],
        ["Semi", 48, r => r.semi ? "yes" : "no"],
        ["Smoothed", 74, r => r.smoothed === null || r.smoothed === undefined ? "—" : (r.smoothed ? "yes" : "no")],
        ["Head", 60, r => r.head],
        ["Trained", 130, r => view.when(r.created_at)]
    ]
    // the table scrolls sideways when the window is narrower than its columns
    readonly property int tableWidth: columns.reduce((w, c) => w + c[1], 0) + 2 * Theme.spacing
    objectName: "view_metrics"
    signal reviewSuspects()  // Main.qml opens the Label view on the suspects queue

    function num(v, digits) { return v === null || v === undefined ? "—" : Number(v).toFixed(digits) }
    function when(t) { return t ? new Date(t * 1000).toLocaleString(Qt.locale(), "yyyy-MM-dd HH:mm") : "" }
    function tint(c, a) { return Qt.rgba(c.r, c.g, c.b, a) }
    function refreshIfShown() { if (visible && mm.projectPath !== "") mm.refresh() }
    function refreshOthers() {  // after a restore: status, and the map's colours and uncertainty
        if (view.project && typeof view.project.refresh === "function") view.project.refresh()
        const w = ApplicationWindow.window
        const m = w && w.explorer && w.explorer.model ? w.explorer.model : null
        if (m && typeof m.reload === "function") m.reload()
    }

    MetricsModel {
        id: mm
        projectPath: view.project && view.project.isOpen ? view.project.path : ""
        runner: view.project ? view.project.runner : null
        onRestored: view.refreshOthers()
    }
    Connections {
        target: view.project
        ignoreUnknownSignals: true
        function onRevisionChanged() { view.refreshIfShown() }
    }
    onVisibleChanged: refreshIfShown()

    EmptyState {
        anchors.fill: parent
        visible: !view.project || !view.project.isOpen
        title: "Open a project to see its metrics"
        body: "Each training round records validation accuracy, per-class scores, the confusion "
              + "matrix, calibration and the stop signals."
    }
    EmptyState {
        objectName: "metricsEmpty"
        anchors.fill: parent
        visible: view.project && view.project.isOpen && mm.count === 0 && !mm.busy
        title: "No training rounds yet"
        body: "Label some images, then Train now in the Label view or `classkit train "
              + view.where + "`."
        command: "classkit train " + view.where
    }

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: Theme.spacing * 1.5
        spacing: Theme.spacing
        visible: view.project && view.project.isOpen && mm.count > 0

        RowLayout {  // title, message, actions
            Layout.fillWidth: true
            spacing: Theme.spacing
            Label {
                text: "Metrics"
                font.pixelSize: Theme.titleSize; font.bold: true
                color: Theme.text
            }
            Label {
                objectName: "metricsMessage"
                Layout.fillWidth: true
                text: mm.message || ("current model: round " + (mm.current || "—")
                                     + " · click a round to see its details")
                color: mm.message.indexOf("failed") >= 0 ? Theme.error : Theme.mutedText
                elide: Text.ElideRight
            }
            BusyIndicator { running: mm.busy; visible: mm.busy; implicitWidth: 24; implicitHeight: 24 }
            Button {
                objectName: "restoreButton"
                text: "Restore round " + mm.selected
                enabled: !mm.busy && mm.selected > 0 && mm.selected !== mm.current
                onClicked: restoreDialog.open()
            }
            Button {
                objectName: "refreshButton"
                text: "Refresh"
                enabled: !mm.busy
                onClicked: mm.refresh()
            }
        }

        Rectangle {  // the rounds ledger
            Layout.fillWidth: true
            Layout.preferredHeight: Math.min(roundsList.contentHeight, 28 * 7) + 2
                                    + (roundsList.contentWidth > roundsList.width ? 12 : 0)
            color: Theme.panel; border.color: Theme.border; radius: Theme.radius
            clip: true
            ListView {
                id: roundsList
                objectName: "roundsList"
                anchors.fill: parent; anchors.margins: 1
                model: mm.rounds
                clip: true
                boundsBehavior: Flickable.StopAtBounds
                headerPositioning: ListView.OverlayHeader
                contentWidth: Math.max(width, view.tableWidth)
                flickableDirection: Flickable.AutoFlickIfNeeded
                ScrollBar.vertical: ScrollBar {}
                ScrollBar.horizontal: ScrollBar { objectName: "roundsHScroll" }
                header: Rectangle {
                    z: 2; width: roundsList.contentWidth; height: 28; color: Theme.raised
                    Row {
                        x: Theme.spacing; anchors.verticalCenter: parent.verticalCenter
                        Repeater {
                            model: view.columns
                            Label { width: modelData[1]; text: modelData[0]; color: Theme.mutedText; font.bold: true }
                        }
                    }
                }
                delegate: Rectangle {
                    id: roundRow
                    required property var modelData
                    width: roundsList.contentWidth; height: 28
                    color: modelData.round === mm.selected ? view.tint(Theme.accent, 0.22)
                           : (rowMouse.containsMouse ? Theme.raised : "transparent")
                    Row {
                        x: Theme.spacing; anchors.verticalCenter: parent.verticalCenter
                        Repeater {
                            model: view.columns
                            Label {
                                required property var modelData
                                width: modelData[1]; elide: Text.ElideRight
                                text: modelData[2](roundRow.modelData)
                                color: Theme.text
                            }
                        }
                    }
                    MouseArea { id: rowMouse; anchors.fill: parent; hoverEnabled: true
                                onClicked: mm.select(roundRow.modelData.round) }
                }
                Component.onCompleted: positionViewAtEnd()
                onCountChanged: positionViewAtEnd()
            }
        }

        ScrollView {  // the selected round
            Layout.fillWidth: true; Layout.fillHeight: true
            contentWidth: availableWidth
            clip: true
            ColumnLayout {
                width: parent.width
                spacing: Theme.spacing * 1.5
                RowLayout {
                    spacing: Theme.spacing
                    Label {
                        objectName: "roundTitle"
                        text: "Round " + (view.d.round || "") + (view.d.current ? " (current model)" : "")
                              + " · " + (view.d.split === "test" ? "test" : "validation") + " split, "
                              + (view.d.n || 0) + " images · " + (view.d.suspects || 0) + " label-error suspects"
                        font.bold: true; color: Theme.text
                    }
                    Button {  // the current model's suspects, one by one in the Label view
                        objectName: "reviewSuspects"
                        visible: !!view.d.current && (view.d.suspects || 0) > 0
                        text: "Review suspects"
                        onClicked: view.reviewSuspects()
                    }
                }
                Label {  // whether predictions were neighbour-smoothed, with the val figures
                    objectName: "smoothingNote"
                    visible: (view.d.smoothing || "") !== ""
                    text: view.d.smoothing || ""
                    color: Theme.mutedText
                    Layout.fillWidth: true; wrapMode: Text.WordWrap
                }
                Label {  // whether the head read graph features, with the val figures
                    objectName: "featuresNote"
                    visible: (view.d.graph_features || "") !== ""
                    text: view.d.graph_features || ""
                    color: Theme.mutedText
                    Layout.fillWidth: true; wrapMode: Text.WordWrap
                }
                Label {  // the estimate for the images not labeled yet, and why val/test read lower
                    objectName: "expectedNote"
                    visible: view.d.expected_accuracy !== null && view.d.expected_accuracy !== undefined
                    text: "Expected accuracy on the " + (view.d.unlabeled_n || 0) + " images not labeled yet: "
                          + view.num(view.d.expected_accuracy, 3)
                          + (view.d.expected_caveats || []).map((c, i) => i === 0 ? " (" + c + ")."
                              : " " + c.charAt(0).toUpperCase() + c.slice(1) + ".").join("")
                    color: Theme.mutedText
                    Layout.fillWidth: true; wrapMode: Text.WordWrap
                }
                Flow {
                    Layout.fillWidth: true
                    spacing: Theme.spacing * 3
                    MetricsPerClass { details: view.d }
                    MetricsConfusion { details: view.d }
                }
                MetricsReliability { details: view.d; Layout.fillWidth: true }
                MetricsSignals { details: view.d; Layout.fillWidth: true }
            }
        }
    }

    Dialog {
        id: restoreDialog
        objectName: "restoreDialog"
        title: "Restore round " + mm.selected + "?"
        anchors.centerIn: Overlay.overlay
        width: Math.min(view.width - 40, 480)
        modal: true
        standardButtons: Dialog.Ok | Dialog.Cancel
        ColumnLayout {  // colours from the window's palette, like ErrorDialog
            anchors.fill: parent
            Label {
                Layout.fillWidth: true
                wrapMode: Text.WordWrap
                text: "Round " + mm.selected + "'s model and predictions become the current ones again "
                      + "(suggestions, the map's colours, batches). Nothing is deleted; later rounds "
                      + "stay in the ledger and can be restored the same way."
            }
        }
        onAccepted: mm.restore(mm.selected)
    }
}
