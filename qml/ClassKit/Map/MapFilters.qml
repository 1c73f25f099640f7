// Filters of the map: cluster, label status, predicted class, uncertainty range.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

Rectangle {
    id: filters
    required property var model          // ExplorerModel
    property color textColor: "#e6e6e6"
    color: "#cc2b2d31"
    radius: 6
    implicitWidth: grid.implicitWidth + 16
    implicitHeight: grid.implicitHeight + 16

    GridLayout {
        id: grid
        x: 8; y: 8
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
