// Context panel for the map: the selected image, its metadata, its kNN neighbours and the
// batch basket. ExplorerView shows it on its right; the shell may place it elsewhere.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

Rectangle {
    id: panel
    required property var model          // ExplorerModel
    property color textColor: "#e6e6e6"
    property int thumbSize: 72
    readonly property var info: model.selectedInfo
    color: "#2b2d31"
    implicitWidth: 280

    ScrollView {
        anchors.fill: parent
        anchors.margins: 10
        contentWidth: availableWidth
        ColumnLayout {
            width: parent.width
            spacing: 8
            Label {
                text: panel.info.id === undefined ? "Click a point to see its image." : "Image " + panel.info.id
                color: panel.textColor; font.bold: true; wrapMode: Text.Wrap; Layout.fillWidth: true
            }
            Image {
                objectName: "selectedImage"
                visible: panel.info.id !== undefined
                source: panel.info.id === undefined ? "" : "image://thumbs/" + panel.info.id
                asynchronous: true; fillMode: Image.PreserveAspectFit
                sourceSize.width: 256; sourceSize.height: 256
                Layout.fillWidth: true; Layout.preferredHeight: 200
            }
            Repeater {
                model: [["Label", panel.info.label], ["Predicted", panel.info.predicted],
                        ["Confidence", panel.info.confidence], ["Cluster", panel.info.cluster],
                        ["Size", panel.info.width ? panel.info.width + " × " + panel.info.height : undefined],
                        ["Path", panel.info.path]]
                delegate: Label {
                    required property var modelData
                    visible: panel.info.id !== undefined
                    text: modelData[0] + ": " + (modelData[1] === undefined || modelData[1] === null
                                                 ? "—" : modelData[1])
                    color: panel.textColor; wrapMode: Text.WrapAnywhere; Layout.fillWidth: true
                }
            }
            Label {
                visible: panel.info.id !== undefined
                text: panel.info.error ? "Neighbours: " + panel.info.error
                      : (panel.info.neighboursError ? "Neighbours: " + panel.info.neighboursError
                                                     : "Nearest neighbours")
                color: panel.textColor; font.bold: true; wrapMode: Text.Wrap; Layout.fillWidth: true
            }
            Flow {
                objectName: "neighbours"
                Layout.fillWidth: true
                spacing: 6
                Repeater {
                    model: panel.model.neighbours
                    delegate: Column {
                        required property var modelData
                        width: panel.thumbSize
                        Image {
                            width: panel.thumbSize; height: panel.thumbSize
                            source: "image://thumbs/" + modelData.id
                            asynchronous: true; fillMode: Image.PreserveAspectCrop
                            sourceSize.width: panel.thumbSize; sourceSize.height: panel.thumbSize
                            MouseArea { anchors.fill: parent; onClicked: panel.model.selectId(modelData.id) }
                        }
                        Label {
                            width: parent.width; elide: Text.ElideRight; color: panel.textColor
                            font.pixelSize: 10
                            text: modelData.similarity.toFixed(3) + " " + (modelData.label || "")
                        }
                    }
                }
            }
            Label {
                text: "Basket: " + panel.model.basketCount + " images (lasso: Shift+drag, rectangle: Ctrl+drag)"
                color: panel.textColor; wrapMode: Text.Wrap; Layout.fillWidth: true
            }
            Button {
                text: "Clear basket"; enabled: panel.model.basketCount > 0
                onClicked: panel.model.clearBasket()
            }
        }
    }
}
