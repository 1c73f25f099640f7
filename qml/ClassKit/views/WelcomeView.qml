import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import ClassKit

// Shown while no project is open: create, open, or pick a recent project.
Item {
    id: view
    property var project  // a ProjectModel
    signal newProjectRequested()
    signal openProjectRequested()

    ColumnLayout {
        anchors.centerIn: parent
        width: Math.min(parent.width - 48, 560)
        spacing: Theme.spacing * 1.5

        Label {
            text: "Welcome to ClassKit"
            font.pixelSize: Theme.titleSize + 6
            font.bold: true
        }
        Label {
            Layout.fillWidth: true
            wrapMode: Text.WordWrap
            color: Theme.mutedText
            text: "Create a project, ingest your images, then run Embed, Index, Map and Cluster "
                  + "from the Pipeline menu to explore them on the map."
        }
        RowLayout {
            Button { objectName: "welcomeNew"; text: "New project…"; onClicked: view.newProjectRequested() }
            Button { objectName: "welcomeOpen"; text: "Open project…"; onClicked: view.openProjectRequested() }
        }
        Label {
            visible: view.project.recentProjects.length > 0
            text: "Recent projects"
            font.bold: true
            Layout.topMargin: Theme.spacing
        }
        Repeater {
            model: view.project.recentProjects
            delegate: RowLayout {
                required property string modelData
                Layout.fillWidth: true
                ItemDelegate {
                    Layout.fillWidth: true
                    text: parent.modelData
                    onClicked: view.project.openProject(parent.modelData)
                }
                ToolButton {
                    text: "✕"
                    ToolTip.visible: hovered
                    ToolTip.text: "Remove from the list (the project stays on disk)"
                    onClicked: view.project.removeRecent(parent.modelData)
                }
            }
        }
    }
}
