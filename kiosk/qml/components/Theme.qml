pragma Singleton
import QtQuick

// Sizes follow the MIIT elder-friendly (适老化) spec: in elder mode headings >= 30, body >= 18 (we use
// more), main controls >= 60 px; normal mode keeps every target >= 44 px (WCAG 2.5.5).
// Colours keep a contrast of at least 4.5:1 against their background; colour is never the only signal.
QtObject {
    property bool elder: false

    readonly property color background: "#F5F7FA"
    readonly property color surface: "#FFFFFF"
    readonly property color primary: "#0B4EA2"
    readonly property color primaryPressed: "#083B7A"
    readonly property color border: "#8A94A3"
    readonly property color text: "#1A1A1A"
    readonly property color textMuted: "#4A4F57"
    readonly property color error: "#B3261E"
    readonly property color ok: "#1B6E20"
    readonly property color warn: "#7A4100"
    readonly property color selected: "#DCE8F8"

    readonly property int bodySize: elder ? 28 : 22
    readonly property int smallSize: elder ? 24 : 18
    readonly property int headingSize: elder ? 40 : 30
    readonly property int titleSize: elder ? 52 : 42
    readonly property int buttonFontSize: elder ? 32 : 24
    readonly property int controlHeight: elder ? 96 : 68
    readonly property int minTarget: elder ? 60 : 44
    readonly property int tileHeight: elder ? 150 : 116
    readonly property real lineHeight: 1.35
    readonly property int radius: 12
    readonly property int margin: elder ? 32 : 40
}
