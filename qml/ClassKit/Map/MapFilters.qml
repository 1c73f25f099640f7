// Filters of the map: cluster, label status, predicted class, uncertainty range.
// Collapsed to one button by default, so the panel does not hide points of the map.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

Rectangle {
    id: filters
    required property var model          // ExplorerModel
    property color textColor: "#e6e6e6"
    color: "#cc2b2d31"
    radius: 6
    property bool expanded: false
    readonly property bool active: model.labelFilter !== "all" || model.clusterFilter >= 0
                                   || model.predictedFilter >= 0 || model.uncertaintyMin > 0
                                   || model.uncertaintyMax < 1
    implicitWidth: (expanded ? Math.max(grid.implicitWidth, toggle.implicitWidth) : toggle.implicitWidth) + 16
    implicitHeight: toggle.implicitHeight + (expanded ? grid.implicitHeight + 4 : 0) + 16

    Label {
        id: toggle
        objectName: "filtersToggle"
        x: 8; y: 8
        text: (filters.expanded ? "▾ " : "▸ ") + "Filters" + (filters.active ? " (on)" : "")
        color: filters.textColor
        font.bold: true
        TapHandler { onTapped: filters.expanded = !filters.expanded }
        HoverHandler { cursorShape: Qt.PointingHandCursor }
    }
    GridLayout {
        id: grid
        visible: filters.expanded
        x: 8; y: toggle.y + toggle.height + 4
        columns: 2; rowSpacing: 4; columnSpacing: 8
        Label { text: "Labels"; color: filters.textColor }
        ComboBox {
            objectName: "labelFilter"
            model: ["all", "labeled", "unlabeled", "marked"]
            currentIndex: Math.max(0, model.indexOf(filters.model.labelFilter))
            onActivated: filters.model.labelFilter = currentText
        }
        Label { text: "Cluster"; color: filters.textColor; visible: filters.model.clusterCount > 0 }
        SpinBox {
            objectName: "clusterFilter"
            visible: filters.model.clusterCount > 0
            from: -1; to: Math.max(filters.model.clusterCount - 1, -1); editable: true
            value: filters.model.clusterFilter
            textFromValue: (v) => v < 0 ? "all" : "" + v
            valueFromText: (t) => t === "all" ? -1 : parseInt(t)
            onValueModified: filters.model.clusterFilter = value
        }
        Label { text: "Predicted"; color: filters.textColor; visible: filters.model.hasPredictions }
        ComboBox {
            objectName: "predictedFilter"
            visible: filters.model.hasPredictions
            model: ["all"].concat(filters.model.classNames)
            currentIndex: filters.model.predictedFilter + 1
            onActivated: (i) => filters.model.predictedFilter = i - 1
        }
        Label { text: "Uncertainty"; color: filters.textColor; visible: filters.model.hasPredictions }
        RangeSlider {
            objectName: "uncertaintyFilter"
            visible: filters.model.hasPredictions
            from: 0; to: 1; stepSize: 0.05
            first.value: filters.model.uncertaintyMin
            second.value: filters.model.uncertaintyMax
            first.onMoved: filters.model.uncertaintyMin = first.value
            second.onMoved: filters.model.uncertaintyMax = second.value
        }
    }
}
