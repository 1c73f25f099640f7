import QtCore
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import QtQuick.Dialogs
import ClassKit
import ClassKit.Backend

// The main window: navigation left, the active view centre, context right, jobs bottom-right.
ApplicationWindow {
    id: root
    objectName: "mainWindow"
    property string initialProject: ""
    property int currentView: 0
    readonly property var viewNames: ["Explorer", "Clusters", "Label", "Batch", "Metrics", "Settings"]
    function viewNamed(name) {  // a view of the stack by objectName, e.g. "view_label"
        const kids = viewStack.children
        for (let i = 0; i < kids.length; ++i)
            if (kids[i].objectName === name) return kids[i]
        return null
    }
    readonly property QtObject runner: jobRunner  // for Python (tests, shutdown)
    readonly property QtObject project: projectModel
    readonly property QtObject errorDialog: errorDialog
    readonly property Item explorer: explorerLoader.item  // the map module's ExplorerView, if loaded
    readonly property bool explorerAvailable: explorerComponent.status === Component.Ready
    readonly property Component explorerComponent:
        Qt.createComponent("ClassKit.Map", "ExplorerView", Component.PreferSynchronous, root)

    width: 1280
    height: 800
    visible: true
    title: projectModel.isOpen ? projectModel.name + " — ClassKit" : "ClassKit"
    color: Theme.window
    palette.window: Theme.window
    palette.windowText: Theme.text
    palette.base: Theme.panel
    palette.alternateBase: Theme.raised
    palette.text: Theme.text
    palette.button: Theme.raised
    palette.buttonText: Theme.text
    palette.highlight: Theme.accent
    palette.highlightedText: Theme.accentText
    palette.placeholderText: Theme.mutedText
    palette.mid: Theme.border
    palette.light: Theme.panel
    palette.dark: Theme.border

    JobRunner { id: jobRunner }
    ProjectModel {
        id: projectModel
        runner: jobRunner
        onErrorOccurred: (message, detail) => errorDialog.show("ClassKit", message, detail)
        onExportFinished: (folder, summary) => exportDoneDialog.show(folder, summary)
        onLabelsImported: summary => {
            importDoneDialog.show(summary)
            const lv = root.viewNamed("view_label")  // its queue shows the imported labels
            if (lv) lv.reloadQueue()
        }
        onChangedOutside: change => {  // the CLI changed the project: the views show it in place
            outsideNote.show(change.text)
            const m = explorerLoader.item ? explorerLoader.item.model : null
            if (m && (change.rounds || change.classes)) m.reload()  // predicted colours, class colours
            else if (m && change.labels > 0) m.refreshLabels()
            for (const name of ["view_label", "view_batch"]) {
                const v = root.viewNamed(name)
                if (v) v.refreshFromDisk(change)
            }
        }
        onArtifactsUpdated: {  // a new map or clustering: the Explorer shows it
            const explorer = explorerLoader.item
            if (explorer && explorer.model && typeof explorer.model.reload === "function")
                explorer.model.reload()
        }
    }
    Connections {
        target: jobRunner
        function onJobFailed(id, name, message, detail) {
            errorDialog.show(name + " failed", message, detail)
        }
    }
    Settings {  // app preferences (QSettings); project settings live in the project
        id: appSettings
        category: "appearance"
    }
    Connections {
        target: Theme
        function onDarkChanged() {
            appSettings.setValue("darkTheme", Theme.dark)
            appSettings.sync()
        }
    }
    Component.onCompleted: {
        const dark = appSettings.value("darkTheme", false)
        Theme.dark = dark === true || dark === "true"
        if (initialProject.length > 0)
            projectModel.openProject(initialProject)
    }

    menuBar: MenuBar {
        Menu {
            title: "&File"
            Action { text: "&New project…"; shortcut: StandardKey.New; onTriggered: newProjectDialog.open() }
            Action { text: "&Open project…"; shortcut: StandardKey.Open; onTriggered: openDialog.open() }
            Menu {
                id: recentMenu
                title: "Recent projects"
                enabled: projectModel.recentProjects.length > 0
                Instantiator {
                    model: projectModel.recentProjects
                    delegate: MenuItem {
                        required property string modelData
                        text: modelData
                        onTriggered: projectModel.openProject(modelData)
                    }
                    onObjectAdded: (index, object) => recentMenu.insertItem(index, object)
                    onObjectRemoved: (index, object) => recentMenu.removeItem(object)
                }
            }
            Action {
                text: "&Import labels from CSV…"
                enabled: projectModel.isOpen
                onTriggered: importLabelsDialog.open()
            }
            Action {
                text: "Export &predictions (CSV)…"
                enabled: projectModel.isOpen
                onTriggered: predictionsDialog.open()
            }
            Action {
                text: "&Export dataset…"
                shortcut: "Ctrl+E"
                enabled: projectModel.isOpen
                onTriggered: exportDialog.open()
            }
            Action { text: "&Close project"; enabled: projectModel.isOpen; onTriggered: projectModel.closeProject() }
            MenuSeparator {}
            Action { text: "&Quit"; shortcut: StandardKey.Quit; onTriggered: Qt.quit() }
        }
        Menu {
            id: pipelineMenu
            title: "&Pipeline"
            enabled: projectModel.isOpen
            Action { text: "&Ingest…"; onTriggered: ingestDialog.open() }
            Action { text: "&Thumbnails"; onTriggered: projectModel.buildThumbnails() }
            Menu {
                id: embedMenu
                title: "&Embed"
                Instantiator {
                    model: projectModel.models
                    delegate: MenuItem {
                        required property string modelData
                        required property int index
                        text: modelData + (index === 0 ? " (default)" : "")
                        onTriggered: projectModel.embed(modelData)
                    }
                    onObjectAdded: (index, object) => embedMenu.insertItem(index, object)
                    onObjectRemoved: (index, object) => embedMenu.removeItem(object)
                }
            }
            Action { text: "Build &index"; enabled: projectModel.hasEmbeddings; onTriggered: projectModel.buildIndex() }
            Action { text: "Compute &map"; enabled: projectModel.hasEmbeddings; onTriggered: projectModel.computeMap() }
            Action { text: "&Cluster"; enabled: projectModel.hasEmbeddings; onTriggered: projectModel.cluster() }
            MenuSeparator {}
            Action { text: "&Refresh status"; onTriggered: projectModel.refresh() }
        }
        Menu {
            id: viewMenu
            title: "&View"
            Instantiator {
                model: root.viewNames
                delegate: MenuItem {
                    required property string modelData
                    required property int index
                    action: Action {
                        text: modelData
                        shortcut: "Ctrl+" + (index + 1)
                        onTriggered: root.currentView = index
                    }
                }
                onObjectAdded: (index, object) => viewMenu.insertItem(index, object)
                onObjectRemoved: (index, object) => viewMenu.removeItem(object)
            }
            MenuSeparator {}
            Action {
                text: "&Dark theme"
                shortcut: "Ctrl+Shift+D"
                checkable: true
                checked: Theme.dark
                onTriggered: Theme.dark = checked
            }
        }
    }

    RowLayout {
        anchors.fill: parent
        spacing: 0

        NavBar {
            objectName: "navBar"
            Layout.fillHeight: true
            names: root.viewNames
            currentIndex: root.currentView
            onActivated: index => root.currentView = index
        }

        StackLayout {
            id: viewStack
            objectName: "viewStack"
            Layout.fillWidth: true
            Layout.fillHeight: true
            currentIndex: root.currentView

            Item {  // Explorer: the map module's view, the welcome page without a project
                objectName: "view_explorer"
                WelcomeView {
                    anchors.fill: parent
                    visible: !projectModel.isOpen
                    project: projectModel
                    onNewProjectRequested: newProjectDialog.open()
                    onOpenProjectRequested: openDialog.open()
                }
                Loader {
                    id: explorerLoader
                    anchors.fill: parent
                    active: projectModel.isOpen && root.explorerAvailable
                    sourceComponent: root.explorerAvailable ? root.explorerComponent : null
                }
                Binding {
                    target: explorerLoader.item
                    property: "projectPath"
                    value: projectModel.path
                    when: explorerLoader.item !== null
                }
                EmptyState {
                    anchors.fill: parent
                    visible: projectModel.isOpen && !root.explorerAvailable
                    title: "The map is not available in this build"
                    body: "The Explorer module (ClassKit.Map) could not be loaded; the log says why. "
                          + "The rest of the app works, and the command line gives the map's data."
                    command: "classkit map " + projectModel.path
                }
            }
            ClustersView {
                project: projectModel
                onLabelCluster: id => {  // the Label view, with this cluster's queue
                    root.currentView = root.viewNames.indexOf("Label")  // first: showing it may load a batch
                    const lv = root.viewNamed("view_label")
                    if (lv) lv.startQueue("cluster", id)
                }
                onLabelImage: (cluster, imageId) => {  // the Label view: this cluster's queue, on that image
                    root.currentView = root.viewNames.indexOf("Label")
                    const lv = root.viewNamed("view_label")
                    if (lv) lv.startQueueAt("cluster", cluster, imageId)
                }
                onShowCluster: id => {  // the Explorer, filtered to this cluster
                    const explorer = explorerLoader.item
                    if (explorer && explorer.model) explorer.model.clusterFilter = id
                    root.currentView = root.viewNames.indexOf("Explorer")
                }
            }
            LabelView { project: projectModel }
            BatchView {
                project: projectModel
                onStartLabeling: {  // the Label view, on this batch
                    root.currentView = root.viewNames.indexOf("Label")
                    const lv = root.viewNamed("view_label")
                    if (lv) lv.startQueue("batch", "")
                }
            }
            MetricsView {
                project: projectModel
                onReviewSuspects: {  // the Label view, on the current model's label-error suspects
                    root.currentView = root.viewNames.indexOf("Label")
                    const lv = root.viewNamed("view_label")
                    if (lv) lv.showSuspects()
                }
            }
            SettingsView { project: projectModel }
        }

        ContextPanel {  // the Explorer brings its own panel (image details, neighbours, basket)
            objectName: "contextPanel"
            visible: !(root.currentView === 0 && explorerLoader.item !== null)
            Layout.fillHeight: true
            project: projectModel
        }
    }

    JobOverlay {
        id: jobOverlay
        objectName: "jobOverlay"
        runner: jobRunner
        anchors.right: parent.right
        anchors.bottom: parent.bottom
        anchors.margins: Theme.spacing * 2
        anchors.rightMargin: Theme.panelWidth + Theme.spacing * 2  // clear of the right panel
        z: 10
    }

    Rectangle {  // a passing notice: changes made outside the app were loaded
        id: outsideNote
        objectName: "outsideNote"
        property alias text: outsideText.text
        function show(message) { text = message; visible = message !== ""; hideTimer.restart() }
        visible: false
        anchors.right: parent.right
        anchors.bottom: jobOverlay.top  // above any job cards, clear of the right panel
        anchors.margins: Theme.spacing * 2
        anchors.rightMargin: Theme.panelWidth + Theme.spacing * 2
        width: outsideText.implicitWidth + 2 * Theme.spacing
        height: outsideText.implicitHeight + Theme.spacing
        radius: 4
        color: Theme.raised
        border.color: Theme.border
        z: 10
        Label { id: outsideText; anchors.centerIn: parent; color: Theme.text }
        Timer { id: hideTimer; interval: 6000; onTriggered: outsideNote.visible = false }
    }

    ErrorDialog { id: errorDialog; objectName: "errorDialog" }
    NewProjectDialog {
        id: newProjectDialog
        onAccepted: projectModel.createProject(folder, projectName, classes)
    }
    IngestDialog {
        id: ingestDialog
        kinds: projectModel.sourceKinds
        onAccepted: projectModel.ingest([source], kind)
    }
    ExportDialog {
        id: exportDialog
        objectName: "exportDialog"
        formats: projectModel.exportFormats
        onAccepted: projectModel.exportDataset(format, out, options)
    }
    Dialog {  // where the export went, with a button to open it
        id: exportDoneDialog
        objectName: "exportDoneDialog"
        property string folder
        property alias summary: exportSummary.text
        function show(path, text) { folder = path; summary = text; open() }
        title: "Export finished"
        modal: true
        anchors.centerIn: Overlay.overlay
        width: Math.min(root.width - 80, 640)
        standardButtons: Dialog.Close
        ColumnLayout {
            anchors.fill: parent
            Label { id: exportSummary; objectName: "exportSummary"; Layout.fillWidth: true; wrapMode: Text.Wrap }
            Button { text: "Open folder"; onClicked: projectModel.openFolder(exportDoneDialog.folder) }
        }
    }
    FileDialog {  // where the predictions CSV goes (classkit predict --out)
        id: predictionsDialog
        objectName: "predictionsDialog"
        title: "Export predictions of the images not labeled yet"
        fileMode: FileDialog.SaveFile
        defaultSuffix: "csv"
        nameFilters: ["CSV files (*.csv)", "All files (*)"]
        onAccepted: projectModel.exportPredictions(selectedFile.toString(), false)
    }
    FileDialog {  // columns path (or id) and label; a review sheet from classkit suspects --out too
        id: importLabelsDialog
        title: "Import labels from a CSV file"
        nameFilters: ["CSV files (*.csv *.tsv *.txt)", "All files (*)"]
        onAccepted: projectModel.importLabels(selectedFile.toString())
    }
    Dialog {  // what the label import did
        id: importDoneDialog
        objectName: "importDoneDialog"
        property alias summary: importSummary.text
        function show(text) { summary = text; open() }
        title: "Labels imported"
        modal: true
        anchors.centerIn: Overlay.overlay
        width: Math.min(root.width - 80, 640)
        standardButtons: Dialog.Close
        Label { id: importSummary; objectName: "importSummary"; width: parent.width; wrapMode: Text.Wrap }
    }
    FolderDialog {
        id: openDialog
        title: "Open a ClassKit project"
        onAccepted: projectModel.openProject(selectedFolder.toString())
    }
}
