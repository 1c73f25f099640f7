import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import ClassKit

// Left navigation: one button per view; Ctrl+1..6 (from the View menu) do the same.
Rectangle {
    id: nav
    property var names: []
    property int currentIndex: 0
    signal activated(int index)

    color: Theme.panel
    implicitWidth: Theme.navWidth
    border.color: Theme.border

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: Theme.spacing
        spacing: 2

        Label {
            text: "ClassKit"
            font.bold: true
            font.pixelSize: Theme.titleSize
            color: Theme.text
            Layout.bottomMargin: Theme.spacing
        }
        Repeater {
            model: nav.names
            delegate: ItemDelegate {
                required property string modelData
                required property int index
                objectName: "nav_" + modelData.toLowerCase()
                Layout.fillWidth: true
                text: modelData
                highlighted: index === nav.currentIndex
                onClicked: nav.activated(index)
                background: Rectangle {
                    radius: Theme.radius
                    color: parent.highlighted ? Theme.accent : parent.hovered ? Theme.raised : "transparent"
                }
                contentItem: Label {
                    text: parent.text
                    color: parent.highlighted ? Theme.accentText : Theme.text
                    verticalAlignment: Text.AlignVCenter
                }
            }
        }
        Item { Layout.fillHeight: true }
    }
}
