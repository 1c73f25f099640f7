pragma Singleton
import QtQuick

// Colours and sizes for every view; light and dark.
QtObject {
    property bool dark: false
    function toggle() { dark = !dark }

    readonly property color window: dark ? "#1e1f22" : "#f4f5f7"
    readonly property color panel: dark ? "#26282c" : "#ffffff"
    readonly property color raised: dark ? "#2f3237" : "#eceef2"
    readonly property color border: dark ? "#3b3f45" : "#d5d8de"
    readonly property color text: dark ? "#e6e7e9" : "#1d1f23"
    readonly property color mutedText: dark ? "#9da3ad" : "#5f6670"
    readonly property color accent: dark ? "#6f9ccf" : "#3d6a99"
    readonly property color accentText: "#ffffff"
    readonly property color error: "#e15759"
    readonly property color success: "#59a14f"

    readonly property int spacing: 8
    readonly property int radius: 6
    readonly property int navWidth: 168
    readonly property int panelWidth: 280
    readonly property int titleSize: 18
}
