import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import QtQuick.Dialogs
import ClassKit

// Asks for one source (folder, video, CSV, dataset, PoseKit project) and its kind.
Dialog {
    id: dialog
    property var kinds: ["auto"]
    property alias source: sourceField.text
    readonly property string kind: kindBox.currentText

    title: "Ingest images"
    modal: true
    standardButtons: Dialog.Ok | Dialog.Cancel
    anchors.centerIn: Overlay.overlay
    width: 560

    GridLayout {
        anchors.fill: parent
        columns: 4
        Label { text: "Source" }
        TextField {
            id: sourceField
            objectName: "ingestSource"
            Layout.fillWidth: true
            placeholderText: "a folder, video, CSV file or dataset"
        }
        Button { text: "Folder…"; onClicked: folderDialog.open() }
        Button { text: "File…"; onClicked: fileDialog.open() }
        Label { text: "Kind" }
        ComboBox {
            id: kindBox
            Layout.columnSpan: 3
            Layout.fillWidth: true
            model: dialog.kinds
        }
        Label {
            Layout.columnSpan: 4
            Layout.fillWidth: true
            wrapMode: Text.WordWrap
            color: Theme.mutedText
            text: "auto recognises videos, CSV files, PoseKit projects and Ultralytics trees; "
                  + "choose imagefolder to import folder names as labels."
        }
    }
    FolderDialog {
        id: folderDialog
        title: "Folder to ingest"
        onAccepted: sourceField.text = decodeURIComponent(selectedFolder.toString().replace(/^file:\/\//, ""))
    }
    FileDialog {
        id: fileDialog
        title: "File to ingest"
        onAccepted: sourceField.text = decodeURIComponent(selectedFile.toString().replace(/^file:\/\//, ""))
    }
}
