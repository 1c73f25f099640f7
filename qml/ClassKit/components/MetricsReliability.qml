import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import ClassKit

// Reliability bins of one round before and after temperature scaling: per confidence bin,
// a bar for the accuracy and a tick for the mean confidence (a calibrated model: equal).
ColumnLayout {
    id: rel
    property var details: ({})
    spacing: 4

    function num(v) { return v === null || v === undefined ? "—" : Number(v).toFixed(3) }

    component Chart: Column {
        id: chart
        property string title
        property var bins: []
        readonly property int barHeight: 70
        spacing: 2
        Label { text: chart.title; color: Theme.mutedText }
        Rectangle {
            width: bars.width + 8; height: chart.barHeight + 8
            color: Theme.panel; border.color: Theme.border; radius: Theme.radius
            Row {
                id: bars
                x: 4; y: 4
                spacing: 2
                Repeater {
                    model: chart.bins
                    Item {
                        required property var modelData
                        width: 18; height: chart.barHeight
                        Rectangle {  // accuracy
                            anchors.bottom: parent.bottom; width: parent.width
                            height: modelData.count > 0 ? Math.max(1, modelData.accuracy * parent.height) : 0
                            color: Theme.accent; opacity: 0.85
                        }
                        Rectangle {  // mean confidence
                            visible: modelData.count > 0
                            width: parent.width; height: 2; color: Theme.error
                            y: parent.height - modelData.confidence * parent.height - 1
                        }
                        ToolTip.visible: hover.containsMouse
                        ToolTip.text: "confidence " + modelData.lo.toFixed(2) + "–" + modelData.hi.toFixed(2)
                                      + ": " + modelData.count + " images, accuracy "
                                      + modelData.accuracy.toFixed(2) + ", mean confidence "
                                      + modelData.confidence.toFixed(2)
                        MouseArea { id: hover; anchors.fill: parent; hoverEnabled: true }
                    }
                }
            }
        }
    }

    Label { text: "Calibration (reliability bins: bar = accuracy, red tick = mean confidence)"
            font.bold: true; color: Theme.text }
    Label {
        visible: (rel.details.skipped || "") !== ""
        text: "Calibration skipped: " + (rel.details.skipped || "")
        color: Theme.mutedText
    }
    Flow {
        objectName: "reliabilityBins"
        Layout.fillWidth: true
        spacing: Theme.spacing * 3
        visible: (rel.details.bins_after || []).length > 0
        Chart { title: "Before temperature scaling · ECE " + rel.num(rel.details.ece_before)
                       + " · NLL " + rel.num(rel.details.nll_before)
                bins: rel.details.bins_before || [] }
        Chart { title: "After (T = " + (rel.details.temperature === null || rel.details.temperature === undefined
                                        ? "—" : Number(rel.details.temperature).toFixed(2))
                       + ") · ECE " + rel.num(rel.details.ece_after) + " · NLL " + rel.num(rel.details.nll_after)
                bins: rel.details.bins_after || [] }
    }
}
