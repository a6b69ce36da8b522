import QtQuick
import QtQuick.Controls
import QtQuick.Window
import QtQuick.VirtualKeyboard
import QtQuick.VirtualKeyboard.Settings

// The resident's keyboard: Qt Virtual Keyboard under an input preview strip that repeats, in large type,
// what is being typed into which field. Sized so that the screen above it keeps room for the focused field
// and 返回/下一步: at most ~40 % of the height in standard mode, ~50 % in elder mode, where the keys are
// taller and the Pinyin candidate bar is at least 60 px. When it opens, or the focus moves, the scrolling
// form that holds the focused field is scrolled so the whole field shows above the keyboard.
// Every new resident starts from the same keyboard: Chinese (Pinyin), no shift, no caps lock, letters page.
Item {
    id: root
    objectName: "keyboardArea"
    property real availableHeight: 600
    property var journey: null  // a new resident (back to the attract screen) gets a reset keyboard
    property bool elder: Theme.elder
    readonly property bool active: panel.active
    readonly property Item focusField: {
        var item = Window.activeFocusItem
        return item && item.cursorPosition !== undefined && item.text !== undefined ? item : null
    }
    // The share of the window the keyboard and its strip may take.
    readonly property real maxShare: elder ? 0.5 : 0.36
    readonly property real designWidth: 2560
    readonly property real designHeight: elder ? 1000 : 800  // taller keys in elder mode
    readonly property int stripHeight: elder ? 84 : 64
    readonly property int minKeysHeight: elder ? 320 : 240  // four rows of keys >= 60 px (elder) / >= 44 px
    readonly property int barHeight: elder ? 64 : 48  // the Pinyin candidate bar (Qt's default was ~42 px)
    readonly property int candidateBarHeight: panel.candidateBarHeight
    height: active ? stripHeight + panel.height : 0

    Rectangle {  // fills the sides when the keys are narrower than the window
        anchors.fill: parent
        visible: root.active
        color: "#2B2C2E"
    }

    Rectangle {
        id: strip
        objectName: "inputPreview"
        anchors.left: parent.left
        anchors.right: parent.right
        anchors.top: parent.top
        height: root.stripHeight
        visible: root.active
        color: Theme.surface
        border.color: Theme.primary
        border.width: 2
        Row {
            anchors.fill: parent
            anchors.leftMargin: 20
            anchors.rightMargin: 20
            spacing: 16
            Label {
                id: previewLabel
                objectName: "inputPreviewLabel"
                anchors.verticalCenter: parent.verticalCenter
                width: Math.min(implicitWidth, parent.width * 0.35)
                text: root.focusField ? (root.focusField.previewLabel || root.focusField.placeholderText || "") : ""
                font.pixelSize: Theme.smallSize
                color: Theme.textMuted
                elide: Text.ElideNone
                wrapMode: Text.Wrap
                maximumLineCount: 2
                visible: text.length > 0
            }
            Label {
                objectName: "inputPreviewText"
                anchors.verticalCenter: parent.verticalCenter
                width: parent.width - (previewLabel.visible ? previewLabel.width + parent.spacing : 0)
                // The end of a long text stays in view: that is where the resident types.
                horizontalAlignment: contentWidth > width ? Text.AlignRight : Text.AlignLeft
                clip: true
                text: root.focusField ? root.focusField.text + (root.focusField.preeditText || "") : ""
                font.pixelSize: root.elder ? 40 : 32
                font.bold: true
                color: Theme.text
            }
        }
    }

    InputPanel {
        id: panel
        objectName: "inputPanel"
        readonly property real candidateBarHeight: keyboard.style ? keyboard.style.selectionListHeight : 0
        anchors.top: strip.bottom
        anchors.horizontalCenter: parent.horizontalCenter
        // The keys' height is what is left of the share after the strip and the candidate bar.
        width: Math.min(root.width,
                        Math.max(root.minKeysHeight,
                                 root.availableHeight * root.maxShare - root.stripHeight - root.barHeight)
                        * root.designWidth / root.designHeight)
    }
    // The style's numbers are plain properties: taller keys in elder mode, a taller candidate bar always.
    Binding {
        target: panel.keyboard.style
        property: "keyboardDesignHeight"
        value: root.designHeight
        when: panel.keyboard.style !== null
    }
    Binding {
        target: panel.keyboard.style
        property: "selectionListHeight"
        value: root.barHeight
        when: panel.keyboard.style !== null
    }

    // == scroll the focused field into view ==================================================
    function flickableOf(item) {
        for (var p = item ? item.parent : null; p; p = p.parent) {
            if (p.contentY !== undefined && p.contentHeight !== undefined && p.flicking !== undefined)
                return p
        }
        return null
    }
    function ensureVisible() {
        var field = root.focusField
        var flick = flickableOf(field)
        if (!field || !flick || !root.active)
            return
        var margin = 12
        var pos = field.mapToItem(flick.contentItem, 0, 0)
        var top = pos.y - margin
        var bottom = pos.y + field.height + margin
        var y = flick.contentY
        if (bottom > y + flick.height)
            y = bottom - flick.height
        if (top < y)
            y = top
        y = Math.max(0, Math.min(y, Math.max(0, flick.contentHeight - flick.height)))
        if (Math.abs(y - flick.contentY) > 0.5)
            flick.contentY = y
    }
    Timer {  // after the layouts have settled under the new keyboard (two passes: the form may re-layout)
        id: settle
        objectName: "keyboardFollow"  // kiosk.automation waits for it before it aims a tap
        interval: 60
        repeat: true
        property int passes: 0
        onTriggered: { root.ensureVisible(); if (++passes >= 4) stop() }
    }
    function follow() { settle.passes = 0; settle.restart() }
    onActiveChanged: follow()
    onFocusFieldChanged: follow()
    onHeightChanged: follow()

    // == the same keyboard for every resident ================================================
    function reset() {
        panel.keyboard.symbolMode = false
        VirtualKeyboardSettings.locale = "en_US"  // a real change, so the Pinyin input mode starts over
        VirtualKeyboardSettings.locale = "zh_CN"
        var shift = InputContext.priv.shiftHandler
        if (shift) {
            shift.capsLockActive = false
            shift.shiftActive = false
        }
        Qt.inputMethod.hide()
    }
    Connections {
        target: root.journey
        ignoreUnknownSignals: true
        function onScreenChanged() { if (root.journey.screen === "attract") root.reset() }
    }
    Component.onCompleted: reset()
}
