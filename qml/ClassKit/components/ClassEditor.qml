import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import ClassKit

// The class editor: add, rename, recolour, rebind keys, describe, merge, delete. Every edit
// goes through ClassModel (renames and merges are label events; nothing is lost).
ColumnLayout {
    id: ed
    property var labels  // a LabelModel
    property var editor  // a ClassModel
    spacing: Theme.spacing
    Component.onCompleted: editor.loadExamples()

    Label { text: "Classes"; font.bold: true; font.pixelSize: Theme.titleSize }
    Label { text: editor.message; color: Theme.error; visible: text.length > 0 }
    ListView {
        Layout.fillWidth: true
        Layout.fillHeight: true
        clip: true
        model: ed.labels.classes
        delegate: RowLayout {
            width: ListView.view.width
            Rectangle { width: 16; height: 16; radius: 3; color: modelData.color }
            TextField { text: modelData.name; Layout.preferredWidth: 110
                        onEditingFinished: if (text !== modelData.name) ed.editor.rename(modelData.name, text) }
            TextField { text: modelData.key; Layout.preferredWidth: 36; placeholderText: "key"
                        onEditingFinished: if (text !== modelData.key) ed.editor.setKey(modelData.name, text) }
            TextField { text: modelData.color; Layout.preferredWidth: 80
                        onEditingFinished: if (text !== modelData.color) ed.editor.recolour(modelData.name, text) }
            TextField { text: modelData.description; Layout.fillWidth: true; placeholderText: "description"
                        onEditingFinished: if (text !== modelData.description) ed.editor.describe(modelData.name, text) }
            Repeater {
                model: (ed.editor.examples[modelData.name] || []).slice(0, 3)
                Image { source: "image://thumbs/" + modelData; sourceSize.width: 28; sourceSize.height: 28 }
            }
            ComboBox {
                Layout.preferredWidth: 110
                model: ["merge into…"].concat(ed.labels.classes.map(c => c.name).filter(n => n !== modelData.name))
                onActivated: i => { if (i > 0) ed.editor.merge(modelData.name, currentText) }
            }
            Button { text: "Delete"; onClicked: ed.editor.remove(modelData.name, false) }
        }
    }
    RowLayout {
        TextField { id: newName; placeholderText: "new class"; Layout.fillWidth: true }
        TextField { id: newKey; placeholderText: "key"; Layout.preferredWidth: 40 }
        Button { text: "Add"; enabled: newName.text.length > 0
                 onClicked: { ed.editor.add(newName.text, newKey.text, "", ""); newName.text = ""; newKey.text = "" } }
    }
}
