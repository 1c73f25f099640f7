import QtQuick
import ClassKit

// Labeling: an honest empty state until the labeling workbench exists.
EmptyState {
    property var project  // a ProjectModel
    readonly property string where: project.isOpen ? project.path : "PROJECT"
    objectName: "view_label"
    title: "Label from the command line"
    body: "Label images by id, or import labels from a CSV file (columns path,label); "
          + "every label is an event you can undo. The keyboard labeling workbench is not in "
          + "this version of the app yet."
    command: "classkit label " + where + " --id ID --set LABEL\nclasskit label " + where
             + " --csv labels.csv\nclasskit label " + where + " --undo"
}
