import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

// The ID-number pad: 0–9 and X and nothing else (no Pinyin, no letters page, no symbols), large keys in
// the order of a phone pad, 删除 and 输好了 (beside the keys, so the whole pad and the field above it fit the
// form at 1280x1024 in elder mode). Its keys never take the focus from the field they type into.
Rectangle {
    id: pad
    objectName: "idPad"
    required property var strings
    signal typed(string ch)
    signal erased()
    signal finished()
    implicitHeight: padColumn.implicitHeight + 24  // the hint, the keys and 输好了 (it overlapped the next label)
    implicitWidth: keysRow.implicitWidth + 24
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
            id: hint
            text: pad.strings.idPadHint
            font.pixelSize: Theme.smallSize
            color: Theme.textMuted
            Layout.fillWidth: true
            wrapMode: Text.WordWrap
        }
        RowLayout {
          id: keysRow
          spacing: 8
          Layout.alignment: Qt.AlignHCenter
          GridLayout {
            id: grid
            columns: 3
            rowSpacing: 8
            columnSpacing: 8
            Repeater {
                model: ["1", "2", "3", "4", "5", "6", "7", "8", "9", "X", "0", "⌫"]
                delegate: BigButton {
                    required property string modelData
                    objectName: modelData === "⌫" ? "idPadDelete" : "idPadKey_" + modelData
                    text: modelData === "⌫" ? pad.strings.idPadDelete : modelData
                    secondary: modelData === "⌫"
                    focusPolicy: Qt.NoFocus
                    implicitWidth: Theme.elder ? 200 : 150
                    implicitHeight: Theme.elder ? 88 : 64
                    font.pixelSize: Theme.headingSize
                    onClicked: modelData === "⌫" ? pad.erased() : pad.typed(modelData)
                }
            }
        }
          BigButton {
            objectName: "idPadDone"
            text: pad.strings.idPadDone
            focusPolicy: Qt.NoFocus
            Layout.fillHeight: true
            Layout.preferredWidth: Theme.elder ? 200 : 150
            onClicked: pad.finished()
          }
        }
    }
}
