pragma Singleton
import QtQuick

// Sizes follow the MIIT elder-friendly spec: headings >= 30, body >= 18, main controls >= 60 px.
// Colours keep a contrast of at least 4.5:1 against their background.
QtObject {
    readonly property color background: "#F5F7FA"
    readonly property color surface: "#FFFFFF"
    readonly property color primary: "#0B4EA2"
    readonly property color primaryPressed: "#083B7A"
    readonly property color text: "#1A1A1A"
    readonly property color textMuted: "#4A4F57"
    readonly property color error: "#B3261E"
    readonly property color ok: "#1B6E20"
    readonly property int headingSize: 34
    readonly property int titleSize: 48
    readonly property int bodySize: 24
    readonly property int controlHeight: 88
    readonly property int radius: 12
}
