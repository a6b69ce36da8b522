import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

// The receipt-number pad: exactly the characters a receipt number holds (sync/protocol/ids.py:
// KR-{date 8 digits}-{machine 4 of 0-9 A-Z}-{sequence 6 digits}-{check 0-9 or X}): the ten digits on top,
// the letters A–Z in alphabetical order below (no keyboard layouts, no Pinyin, no symbols page), 删除 and
// 查询. "KR-" and the dashes are filled in by the field; the resident types the 19 characters after KR.
// Its keys never take the focus from the field they type into.
Rectangle {
    id: pad
    objectName: "receiptPad"
    required property var strings
    signal typed(string ch)
    signal erased()
    signal finished()
    readonly property var keys: ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0",
                                 "A", "B", "C", "D", "E", "F", "G", "H", "I", "J",
                                 "K", "L", "M", "N", "O", "P", "Q", "R", "S", "T",
                                 "U", "V", "W", "X", "Y", "Z", "⌫"]
    implicitHeight: padColumn.implicitHeight + 24
    implicitWidth: grid.implicitWidth + 24
    radius: Theme.radius
    color: Theme.background
    border.color: Theme.border
    border.width: 2

    ColumnLayout {
        id: padColumn
        anchors.fill: parent
        anchors.margins: 12
        spacing: 8
        Label {
            text: pad.strings.receiptPadHint
            font.pixelSize: Theme.smallSize
            color: Theme.textMuted
            Layout.fillWidth: true
            wrapMode: Text.WordWrap
        }
        GridLayout {
            id: grid
            columns: 10
            rowSpacing: 8
            columnSpacing: 8
            Layout.alignment: Qt.AlignHCenter
            Repeater {
                model: pad.keys
                delegate: BigButton {
                    required property string modelData
                    objectName: modelData === "⌫" ? "receiptPadDelete" : "receiptPadKey_" + modelData
                    text: modelData === "⌫" ? pad.strings.idPadDelete : modelData
                    secondary: modelData === "⌫"
                    focusPolicy: Qt.NoFocus
                    implicitWidth: Theme.elder ? 84 : 68
                    implicitHeight: Theme.elder ? 80 : 60
                    font.pixelSize: Theme.headingSize
                    Layout.columnSpan: modelData === "⌫" ? 4 : 1
                    Layout.fillWidth: modelData === "⌫"
                    onClicked: modelData === "⌫" ? pad.erased() : pad.typed(modelData)
                }
            }
        }
        BigButton {
            objectName: "receiptPadDone"
            text: pad.strings.statusLookup
            focusPolicy: Qt.NoFocus
            Layout.alignment: Qt.AlignHCenter
            Layout.preferredWidth: grid.implicitWidth
            onClicked: pad.finished()
        }
    }
}
