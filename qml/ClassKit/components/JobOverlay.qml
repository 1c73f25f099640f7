import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import ClassKit

// One card per queued or running job: name, message, progress, cancel. A card shows once its
// job has lasted ``showAfterMs``: quick jobs (reading metrics, a batch summary) do not flash.
ColumnLayout {
    id: overlay
    property var runner
    property int showAfterMs: 600
    property real nowMs: Date.now()
    spacing: Theme.spacing

    Timer {  // the cards re-evaluate their age while jobs run
        interval: 150
        repeat: true
        running: overlay.runner ? overlay.runner.busy : false
        onTriggered: overlay.nowMs = Date.now()
    }

    Repeater {
        model: overlay.runner ? overlay.runner.jobs : []
        delegate: Pane {
            id: card
            required property var modelData
            objectName: "job_" + modelData.id
            visible: overlay.nowMs - (modelData.queued_ms || 0) >= overlay.showAfterMs
            Layout.preferredWidth: 340
            padding: Theme.spacing
            background: Rectangle {
                color: Theme.raised
                border.color: Theme.border
                radius: Theme.radius
            }
            ColumnLayout {
                anchors.fill: parent
                spacing: 4
                RowLayout {
                    Layout.fillWidth: true
                    Label {
                        Layout.fillWidth: true
                        text: card.modelData.name
                        font.bold: true
                        elide: Text.ElideRight
                    }
                    Button {
                        objectName: "cancelJob_" + card.modelData.id
                        text: "Cancel"
                        flat: true
                        enabled: card.modelData.state !== "cancelling"
                        onClicked: overlay.runner.cancel(card.modelData.id)
                    }
                }
                ProgressBar {
                    Layout.fillWidth: true
                    indeterminate: card.modelData.total <= 0
                    from: 0
                    to: Math.max(1, card.modelData.total)
                    value: card.modelData.done
                }
                Label {
                    Layout.fillWidth: true
                    text: card.modelData.total > 0
                          ? card.modelData.message + "  " + card.modelData.done + " / " + card.modelData.total
                          : card.modelData.message
                    color: Theme.mutedText
                    elide: Text.ElideRight
                }
            }
        }
    }
}
