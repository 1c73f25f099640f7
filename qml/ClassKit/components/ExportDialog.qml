import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import QtQuick.Dialogs
import ClassKit

// Asks what to export and where (the options of `classkit export`); the project model runs it.
Dialog {
    id: dialog
    property var formats: ["imagefolder"]
    property alias out: outField.text
    readonly property string format: formatBox.currentText
    readonly property bool tree: format === "imagefolder" || format === "ultralytics"
    readonly property var options: ({
        link: linkBox.currentText,
        include: [unsureBox, junkBox, skipBox, unlabeledBox].filter(b => b.checked && b.enabled)
                                                              .map(b => b.text),
        includePredicted: predictedBox.checked ? confSpin.value / 100 : 0,
        skipMissing: skipMissingBox.checked,
        upright: uprightBox.checked && uprightBox.enabled,
        allowEmptySplits: emptySplitsBox.checked
    })

    title: "Export dataset"
    modal: true
    standardButtons: Dialog.Ok | Dialog.Cancel
    anchors.centerIn: Overlay.overlay
    width: 600

    GridLayout {
        anchors.fill: parent
        columns: 3
        Label { text: "Format" }
        ComboBox {
            id: formatBox
            objectName: "exportFormat"
            Layout.columnSpan: 2
            Layout.fillWidth: true
            model: dialog.formats
        }
        Label { text: "Folder" }
        TextField {
            id: outField
            objectName: "exportOut"
            Layout.fillWidth: true
            placeholderText: "each export is a new version folder inside it"
        }
        Button { text: "Choose…"; onClicked: folderDialog.open() }
        Label { text: "Files"; enabled: dialog.tree }
        ComboBox {
            id: linkBox
            objectName: "exportLink"
            Layout.columnSpan: 2
            Layout.fillWidth: true
            enabled: dialog.tree
            model: ["copy", "hardlink", "symlink"]
        }
        Label { text: "Also export" }
        Flow {
            Layout.columnSpan: 2
            Layout.fillWidth: true
            spacing: Theme.spacing
            CheckBox { id: unsureBox; text: "unsure" }
            CheckBox { id: junkBox; text: "junk" }
            CheckBox { id: skipBox; text: "skip" }
            CheckBox { id: unlabeledBox; text: "unlabeled"; enabled: !dialog.tree }
        }
        CheckBox {
            id: predictedBox
            Layout.columnSpan: 2
            text: "Predicted classes of unlabeled images, at confidence ≥ (%)"
        }
        SpinBox { id: confSpin; from: 50; to: 100; value: 95; enabled: predictedBox.checked; editable: true }
        CheckBox {
            id: uprightBox
            objectName: "exportUpright"
            Layout.columnSpan: 3
            enabled: dialog.tree && linkBox.currentText === "copy"
            text: "Rotate photos stored sideways (EXIF orientation) upright, for loaders that ignore EXIF"
        }
        CheckBox {
            id: skipMissingBox
            Layout.columnSpan: 3
            text: "Leave out images whose file is missing (listed in the manifest) instead of stopping"
        }
        CheckBox {
            id: emptySplitsBox
            Layout.columnSpan: 3
            visible: dialog.format === "ultralytics"
            text: "Export even when a class has no images in a split"
        }
        Label {
            Layout.columnSpan: 3
            Layout.fillWidth: true
            wrapMode: Text.WordWrap
            color: Theme.mutedText
            text: "Exports the current labels with their train/val/test splits and a manifest "
                  + "(label snapshot, versions, SHA-256 of every file); the same labels export "
                  + "to the same bytes. Command line: classkit export PROJECT --format "
                  + dialog.format + " --out FOLDER"
        }
    }
    FolderDialog {
        id: folderDialog
        title: "Folder to export into"
        onAccepted: outField.text = decodeURIComponent(selectedFolder.toString().replace(/^file:\/\//, ""))
    }
}
