import QtQuick
import ClassKit

// Clusters: an honest empty state until the clusters view exists.
EmptyState {
    property var project  // a ProjectModel
    objectName: "view_clusters"
    title: project.hasClusters ? "Clusters are computed" : "No clusters yet"
    body: project.hasClusters
          ? "List the clusters with their size, density and label purity from the command line. "
            + "Browsing clusters in the app is not in this version yet."
          : "Group similar images into visual modes: run Pipeline ▸ Cluster (after Embed), "
            + "or use the command line."
    command: "classkit cluster " + (project.isOpen ? project.path : "PROJECT") + " --show 30"
}
