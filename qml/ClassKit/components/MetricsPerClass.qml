import QtQuick
import QtQuick.Controls
import ClassKit

// Per-class precision, recall, F1 and support of one round (a MetricsModel details map).
Column {
    id: table
    property var details: ({})
    readonly property var rows: details.per_class || []
    readonly property var widths: [140, 74, 74, 74, 64]
    objectName: "perClassTable"
    spacing: 2

    function num(v) { return v === null || v === undefined ? "—" : Number(v).toFixed(3) }

    Label { text: "Per class"; font.bold: true; color: Theme.text; bottomPadding: 4 }
    Row {
        Repeater {
            model: ["Class", "Precision", "Recall", "F1", "Support"]
            Label { required property var modelData; required property int index
                    width: table.widths[index]; text: modelData; color: Theme.mutedText; font.bold: true }
        }
    }
    Repeater {
        objectName: "perClassRows"
        model: table.rows
        Row {
            id: classRow
            required property var modelData
            readonly property var cells: [modelData.name, table.num(modelData.precision),
                                          table.num(modelData.recall), table.num(modelData.f1),
                                          "" + modelData.support]
            Repeater {
                model: classRow.cells
                Label {
                    required property var modelData; required property int index
                    width: table.widths[index]; elide: Text.ElideRight
                    text: modelData
                    color: index === 3 && classRow.modelData.f1 < 0.7 && classRow.modelData.support > 0
                           ? Theme.error : Theme.text
                }
            }
        }
    }
    Row {
        visible: table.rows.length > 0
        Repeater {
            model: ["macro", table.num((table.details.macro || {}).precision),
                    table.num((table.details.macro || {}).recall), table.num((table.details.macro || {}).f1),
                    "" + (table.details.n || 0)]
            Label { required property var modelData; required property int index
                    width: table.widths[index]; text: modelData; color: Theme.mutedText; font.italic: true }
        }
    }
}
