import QtQuick
import ClassKit

// Batch: an honest empty state until the batch basket view exists.
EmptyState {
    property var project  // a ProjectModel
    readonly property string where: project.isOpen ? project.path : "PROJECT"
    objectName: "view_batch"
    title: "Pick the next batch from the command line"
    body: "Train a head on your labels, then select the most useful images to label next "
          + "(uncertain, diverse, representative, audit). The batch view is not in this version "
          + "of the app yet."
    command: "classkit train " + where + "\nclasskit select " + where + " --budget 100"
}
