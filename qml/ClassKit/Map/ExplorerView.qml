// The Explorer: the map of all images (ScatterItem), colour modes, legend, filters, hover
// thumbnails and the context panel. Set `projectPath`; everything else is internal.
// Gestures: drag pans; Shift+drag lassos, Ctrl+drag selects a rectangle (or pick the tool);
// scroll pans, Ctrl+scroll zooms about the cursor; touch/trackpad pinch zooms;
// keys: arrows pan, +/- zoom, 0 resets; click selects.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import QtQuick.Shapes
import ClassKit.Map

Item {
    id: root
    property string projectPath: ""
    property bool showContextPanel: true
    property string tool: "pan"                  // "pan" | "lasso" | "rect"
    property color background: "#1e1f22"
    property color textColor: "#e6e6e6"
    readonly property QtObject model: explorer   // ExplorerModel (basket, selection, …)
    readonly property Item scatter: scatter
    property var lassoPoints: []

    function reload() { explorer.reload() }         // a new map/clustering/predictions version
    onProjectPathChanged: explorer.openProject(projectPath)
    onVisibleChanged: if (visible) explorer.refreshLabelsIfChanged()  // labels given in another view
    Component.onCompleted: if (projectPath !== "") explorer.openProject(projectPath)

    ExplorerModel { id: explorer; objectName: "explorerModel" }

    RowLayout {
        anchors.fill: parent
        spacing: 0

        Rectangle {
            id: mapArea
            Layout.fillWidth: true
            Layout.fillHeight: true
            color: root.background
            clip: true

            ScatterItem {
                id: scatter
                objectName: "scatter"
                anchors.fill: parent
                model: explorer
                focus: true
                visible: explorer.status === "ready"
                fitInsetRight: mapLegend.visible ? mapLegend.width + 16 : 0  // fit the map clear of it

                DragHandler {                      // pan
                    id: panDrag
                    target: null
                    enabled: root.tool === "pan"
                    acceptedModifiers: Qt.NoModifier
                    property point last: Qt.point(0, 0)
                    onActiveChanged: { last = Qt.point(0, 0); scatter.interacting = active }
                    onTranslationChanged: {
                        scatter.panBy(translation.x - last.x, translation.y - last.y)
                        last = translation
                    }
                }
                DragHandler {                      // lasso
                    id: lassoDrag
                    target: null
                    acceptedModifiers: root.tool === "lasso" ? Qt.NoModifier : Qt.ShiftModifier
                    enabled: root.tool !== "rect" || acceptedModifiers === Qt.ShiftModifier
                    onActiveChanged: {
                        if (active) {
                            root.lassoPoints = [centroid.pressPosition]
                        } else {
                            scatter.lassoSelect(root.lassoPoints)
                            root.lassoPoints = []
                        }
                    }
                    onCentroidChanged: if (active) root.lassoPoints = root.lassoPoints.concat([centroid.position])
                }
                DragHandler {                      // rectangle
                    id: rectDrag
                    target: null
                    acceptedModifiers: root.tool === "rect" ? Qt.NoModifier : Qt.ControlModifier
                    onActiveChanged: if (!active) scatter.rectSelect(centroid.pressPosition.x, centroid.pressPosition.y,
                                                                    centroid.position.x, centroid.position.y)
                }
                PinchHandler {                     // touch pinch and trackpad (native) zoom
                    id: pinch
                    target: null
                    property real lastScale: 1
                    property point lastTranslation: Qt.point(0, 0)
                    onActiveChanged: {
                        lastScale = 1; lastTranslation = Qt.point(0, 0); scatter.interacting = active
                    }
                    onActiveScaleChanged: {
                        scatter.zoomAt(activeScale / lastScale, centroid.position.x, centroid.position.y)
                        lastScale = activeScale
                    }
                    onActiveTranslationChanged: {
                        scatter.panBy(activeTranslation.x - lastTranslation.x, activeTranslation.y - lastTranslation.y)
                        lastTranslation = activeTranslation
                    }
                }
                WheelHandler {                     // scroll pans
                    target: null
                    acceptedModifiers: Qt.NoModifier
                    onWheel: (event) => {
                        const d = (event.pixelDelta.x !== 0 || event.pixelDelta.y !== 0)
                                  ? event.pixelDelta : Qt.point(event.angleDelta.x / 2, event.angleDelta.y / 2)
                        scatter.panBy(d.x, d.y)
                    }
                }
                WheelHandler {                     // Ctrl+scroll zooms about the cursor
                    target: null
                    acceptedModifiers: Qt.ControlModifier
                    onWheel: (event) => {
                        const dy = event.angleDelta.y !== 0 ? event.angleDelta.y : event.pixelDelta.y * 4
                        scatter.zoomAt(Math.pow(1.0015, dy), point.position.x, point.position.y)
                    }
                }
                TapHandler {
                    acceptedModifiers: Qt.NoModifier
                    onTapped: (eventPoint) => {
                        scatter.forceActiveFocus()
                        scatter.clickAt(eventPoint.position.x, eventPoint.position.y)
                    }
                }
                HoverHandler {
                    id: hover
                    onPointChanged: if (hovered) scatter.hoverAt(point.position.x, point.position.y)
                    onHoveredChanged: if (!hovered) explorer.clearHover()
                }
            }

            Shape {                                // lasso outline while drawing
                anchors.fill: parent
                visible: root.lassoPoints.length > 1
                ShapePath {
                    strokeColor: "#ffd54f"; strokeWidth: 1.5; fillColor: "#22ffd54f"
                    PathPolyline { path: root.lassoPoints }
                }
            }
            Rectangle {                            // rectangle band while dragging
                // (the handler goes first when the window closes: guard against null)
                readonly property var c: rectDrag ? rectDrag.centroid : null
                visible: !!c && rectDrag.active
                x: c ? Math.min(c.pressPosition.x, c.position.x) : 0
                y: c ? Math.min(c.pressPosition.y, c.position.y) : 0
                width: c ? Math.abs(c.position.x - c.pressPosition.x) : 0
                height: c ? Math.abs(c.position.y - c.pressPosition.y) : 0
                color: "#22ffd54f"; border.color: "#ffd54f"
            }

            Rectangle {                            // hover tooltip with the thumbnail
                objectName: "hoverTip"
                readonly property var p: hover ? hover.point : null
                visible: !!p && explorer.hoveredId >= 0 && hover.hovered
                x: p ? Math.min(p.position.x + 16, mapArea.width - width - 4) : 0
                y: p ? Math.min(p.position.y + 16, mapArea.height - height - 4) : 0
                width: 140; height: 160; radius: 4; color: "#ee2b2d31"
                Image {
                    x: 6; y: 6; width: 128; height: 128
                    source: explorer.hoveredId >= 0 ? "image://thumbs/" + explorer.hoveredId : ""
                    asynchronous: true; fillMode: Image.PreserveAspectFit
                    sourceSize.width: 128; sourceSize.height: 128
                }
                Label {
                    x: 6; y: 136; width: 128; elide: Text.ElideRight; color: root.textColor
                    text: "#" + explorer.hoveredId + " " + (explorer.hoveredInfo.label || "unlabeled")
                }
            }

            ColumnLayout {                         // honest empty / loading / error state
                anchors.centerIn: parent
                visible: explorer.status !== "ready"
                BusyIndicator { running: explorer.status === "loading"; visible: running; Layout.alignment: Qt.AlignHCenter }
                Label {
                    objectName: "emptyState"
                    text: explorer.status === "empty" ? "No project open." : explorer.message
                    color: root.textColor; font.pixelSize: 16
                    horizontalAlignment: Text.AlignHCenter; wrapMode: Text.Wrap
                    Layout.maximumWidth: 420
                }
            }

            RowLayout {                            // toolbar
                visible: explorer.status === "ready"
                x: 8; y: 8; spacing: 6
                ComboBox {
                    objectName: "colorMode"
                    textRole: "name"; valueRole: "key"
                    model: explorer.colorModes
                    implicitContentWidthPolicy: ComboBox.WidestText
                    currentIndex: Math.max(0, explorer.colorModes.findIndex(m => m.key === explorer.colorMode))
                    onActivated: (i) => { if (explorer.colorModes[i].available) explorer.colorMode = currentValue }
                    delegate: ItemDelegate {
                        required property var modelData
                        required property int index
                        text: modelData.name + (modelData.available ? "" : " (none yet)")
                        enabled: modelData.available
                        width: ListView.view.width
                    }
                }
                Repeater {
                    model: [["pan", "Pan"], ["lasso", "Lasso"], ["rect", "Rectangle"]]
                    delegate: Button {
                        required property var modelData
                        text: modelData[1]; checkable: true; checked: root.tool === modelData[0]
                        onClicked: root.tool = modelData[0]
                    }
                }
                Button { text: "Reset view"; onClicked: scatter.resetView() }
                Label {
                    color: root.textColor
                    text: explorer.visibleCount + " / " + explorer.pointCount + " shown · " + scatter.lodMode
                          + (explorer.message ? " · " + explorer.message : "")
                }
            }
            MapLegend {
                id: mapLegend
                visible: explorer.status === "ready"
                model: explorer; textColor: root.textColor
                anchors { right: parent.right; top: parent.top; margins: 8; topMargin: 56 }
            }
            MapFilters {
                visible: explorer.status === "ready"
                model: explorer; textColor: root.textColor
                anchors { left: parent.left; bottom: parent.bottom; margins: 8 }
            }
        }
        MapContextPanel {
            visible: root.showContextPanel
            model: explorer; textColor: root.textColor
            Layout.preferredWidth: implicitWidth
            Layout.fillHeight: true
        }
    }
}
