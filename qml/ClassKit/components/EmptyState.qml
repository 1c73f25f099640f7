import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import ClassKit

// An honest empty state: what this view will hold and what the user can do now.
Item {
    id: state
    property string title
    property string body
    property string command  // a CLI command the user can run today (selectable)

    ColumnLayout {
        anchors.centerIn: parent
        width: Math.min(parent.width - 48, 560)
        spacing: Theme.spacing * 1.5

        Label {
            Layout.fillWidth: true
            text: state.title
            font.pixelSize: Theme.titleSize
            font.bold: true
            color: Theme.text
            wrapMode: Text.WordWrap
        }
        Label {
            Layout.fillWidth: true
            text: state.body
            color: Theme.mutedText
            wrapMode: Text.WordWrap
        }
        TextEdit {
            Layout.fillWidth: true
            visible: state.command.length > 0
            text: state.command
            readOnly: true
            selectByMouse: true
            font.family: "monospace"
            color: Theme.text
            wrapMode: TextEdit.WrapAnywhere
        }
    }
}
