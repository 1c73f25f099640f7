// Legend of the active colour mode: one row per entry (colour, name, count); click toggles.
import QtQuick
import QtQuick.Controls

Rectangle {
    id: legend
    required property var model          // ExplorerModel
    property color textColor: "#e6e6e6"
    color: "#cc2b2d31"
    radius: 6
    implicitWidth: 210
    implicitHeight: Math.min(list.contentHeight + header.height + 16, 320)

    Row {
        id: header
        x: 8; y: 6; spacing: 8
        Label { text: "Legend"; color: legend.textColor; font.bold: true }
        Label {
            text: "show all"; color: "#8ab4f8"; font.underline: true
            MouseArea { anchors.fill: parent; onClicked: legend.model.showAll() }
        }
    }
    ListView {
        id: list
        objectName: "legendList"
        anchors { left: parent.left; right: parent.right; top: header.bottom; bottom: parent.bottom; margins: 8 }
        clip: true
        model: legend.model.legend
        delegate: ItemDelegate {
            required property var modelData
            width: ListView.view.width
            height: 22
            padding: 0
            onClicked: legend.model.toggleLegend(modelData.key)
            contentItem: Row {
                spacing: 6
                Rectangle {
                    width: 12; height: 12; radius: 6; anchors.verticalCenter: parent.verticalCenter
                    color: modelData.color; opacity: modelData.hidden ? 0.25 : 1
                }
                Label {
                    text: modelData.name + "  (" + modelData.count + ")"
                    color: legend.textColor; opacity: modelData.hidden ? 0.4 : 1
                    font.strikeout: modelData.hidden; elide: Text.ElideRight; width: list.width - 24
                }
            }
        }
    }
}
