import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import QtQuick.Dialogs
import ClassKit

// Asks for a folder, a name and the classes; the caller creates the project on accept.
Dialog {
    id: dialog
    property alias folder: folderField.text
    property alias projectName: nameField.text
    property alias classes: classesField.text

    title: "New project"
    modal: true
    standardButtons: Dialog.Ok | Dialog.Cancel
    anchors.centerIn: Overlay.overlay
    width: 520

    GridLayout {
        anchors.fill: parent
        columns: 3
        Label { text: "Folder" }
        TextField {
            id: folderField
            objectName: "newProjectFolder"
            Layout.fillWidth: true
            placeholderText: "/path/to/new/project"
        }
        Button { text: "Browse…"; onClicked: folderDialog.open() }
        Label { text: "Name" }
        TextField {
            id: nameField
            Layout.columnSpan: 2
            Layout.fillWidth: true
            placeholderText: "default: the folder name"
        }
        Label { text: "Classes" }
        TextField {
            id: classesField
            Layout.columnSpan: 2
            Layout.fillWidth: true
            placeholderText: "comma-separated, e.g. cat,dog,bird"
        }
    }
    FolderDialog {
        id: folderDialog
        title: "Folder for the new project"
        onAccepted: folderField.text = decodeURIComponent(selectedFolder.toString().replace(/^file:\/\//, ""))
    }
}
