import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

// How much a field still takes: "23/100" while it is being typed in, and "已达到最多 100 个字" at the limit
// (a field never cuts text without a word).
Label {
    id: counter
    required property var field
    required property int limit
    required property var strings
    readonly property bool full: field.length >= limit
    visible: field.activeFocus || full
    text: full ? strings.limitReached.replace("{max}", limit)
               : strings.counter.replace("{n}", field.length).replace("{max}", limit)
    color: full ? Theme.warn : Theme.textMuted
    font.pixelSize: Theme.smallSize
    font.bold: full
    Layout.alignment: Qt.AlignRight
    Accessible.role: Accessible.StaticText
    Accessible.name: text
}
