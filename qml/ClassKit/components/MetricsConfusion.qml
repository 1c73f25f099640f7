import QtQuick
import QtQuick.Controls
import ClassKit

// The confusion matrix of one round: rows = true class, columns = predicted; each cell is
// shaded by its share of the row (diagonal: accent, mistakes: error colour), counts as text.
Column {
    id: box
    property var details: ({})
    readonly property var classes: details.classes || []
    readonly property var counts: details.confusion || []
    readonly property var shares: details.row_share || []
    readonly property int n: classes.length
    readonly property int cell: Math.max(14, Math.min(44, Math.floor(440 / Math.max(1, n))))
    readonly property int labelWidth: 110
    spacing: 4

    function tint(c, a) { return Qt.rgba(c.r, c.g, c.b, a) }

    Label { text: "Confusion matrix"; font.bold: true; color: Theme.text }
    Label { text: "rows: true class · columns: predicted · shaded by share of the row"
            color: Theme.mutedText; font.pixelSize: 11 }
    Row {  // predicted class names, rotated
        Item { width: box.labelWidth; height: 1 }
        Repeater {
            model: box.classes
            Item {
                required property var modelData
                width: box.cell; height: 64
                Label {
                    text: modelData; color: Theme.mutedText
                    width: 64; elide: Text.ElideRight
                    rotation: -90; transformOrigin: Item.TopLeft
                    x: (box.cell - height) / 2; y: 64
                }
            }
        }
    }
    Grid {
        objectName: "confusionGrid"
        columns: box.n + 1
        Repeater {
            model: box.n * (box.n + 1)
            Rectangle {
                required property int index
                readonly property int r: Math.floor(index / (box.n + 1))
                readonly property int c: index % (box.n + 1) - 1
                readonly property real share: c >= 0 ? (box.shares[r] || [])[c] || 0 : 0
                readonly property int count: c >= 0 ? (box.counts[r] || [])[c] || 0 : 0
                objectName: c >= 0 ? "cell_" + r + "_" + c : "rowLabel_" + r
                width: c < 0 ? box.labelWidth : box.cell; height: box.cell
                color: c < 0 ? "transparent"
                       : (share > 0 ? box.tint(r === c ? Theme.accent : Theme.error, 0.12 + 0.88 * share)
                                    : Theme.panel)
                border.color: c < 0 ? "transparent" : Theme.border; border.width: 1
                Label {
                    anchors.fill: parent; anchors.rightMargin: parent.c < 0 ? 6 : 0
                    horizontalAlignment: parent.c < 0 ? Text.AlignRight : Text.AlignHCenter
                    verticalAlignment: Text.AlignVCenter
                    elide: Text.ElideRight
                    visible: parent.c < 0 || box.cell >= 22
                    text: parent.c < 0 ? box.classes[parent.r] : (parent.count ? "" + parent.count : "·")
                    color: parent.c < 0 ? Theme.mutedText
                           : (parent.share > 0.5 ? Theme.accentText : Theme.text)
                    font.pixelSize: Math.min(13, box.cell * 0.4)
                }
                ToolTip.visible: c >= 0 && tip.containsMouse
                ToolTip.text: c >= 0 ? box.classes[r] + " → " + box.classes[c] + ": " + count + " ("
                                       + Math.round(share * 100) + "% of " + box.classes[r] + ")" : ""
                MouseArea { id: tip; anchors.fill: parent; hoverEnabled: parent.c >= 0 }
            }
        }
    }
}
