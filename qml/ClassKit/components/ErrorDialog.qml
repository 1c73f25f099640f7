import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import ClassKit

// Shows a failure with its message and, on demand, the full detail (traceback).
Dialog {
    id: dialog
    property string message
    property string detail

    function show(heading, text, more) {
        title = heading
        message = text
        detail = more || ""
        detailArea.visible = false
        open()
    }

    modal: true
    standardButtons: Dialog.Ok
    anchors.centerIn: Overlay.overlay
    width: Math.min(parent ? parent.width - 80 : 640, 720)

    ColumnLayout {
        anchors.fill: parent
        spacing: Theme.spacing
        Label {
            objectName: "errorMessage"
            Layout.fillWidth: true
            text: dialog.message
            wrapMode: Text.WordWrap
        }
        Button {
            visible: dialog.detail.length > 0
            text: detailArea.visible ? "Hide details" : "Show details"
            onClicked: detailArea.visible = !detailArea.visible
        }
        ScrollView {
            id: detailArea
            visible: false
            Layout.fillWidth: true
            Layout.preferredHeight: 240
            TextArea {
                objectName: "errorDetail"
                text: dialog.detail
                readOnly: true
                selectByMouse: true
                font.family: "monospace"
                wrapMode: TextEdit.NoWrap
            }
        }
    }
}
