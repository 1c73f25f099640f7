import QtQuick
import ClassKit

// Metrics: an honest empty state until the metrics view exists.
EmptyState {
    property var project  // a ProjectModel
    readonly property string where: project.isOpen ? project.path : "PROJECT"
    objectName: "view_metrics"
    title: "See model quality from the command line"
    body: "Training prints cross-validated accuracy and calibration for the current labels; "
          + "the rounds ledger lists every round. The metrics view is not in this version of the "
          + "app yet."
    command: "classkit train " + where + "\nclasskit rounds " + where
}
