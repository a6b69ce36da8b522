import QtQuick
import QtQuick.Controls

// A text field for the resident. The virtual keyboard shows Pinyin for text and a number pad for
// numbers. Every field is marked sensitive: the Pinyin engine then keeps no user dictionary of what
// residents type (Qt Virtual Keyboard's pinyin plugin disables it for Qt.ImhSensitiveData).
TextField {
    id: field
    property string inputKind: "text"
    property bool invalid: false
    implicitHeight: Theme.controlHeight
    font.pixelSize: Theme.bodySize + 2
    color: Theme.text
    inputMethodHints: Qt.ImhSensitiveData | Qt.ImhNoPredictiveText
                      | (inputKind === "digits" ? Qt.ImhDigitsOnly
                         : inputKind === "phone" ? Qt.ImhDialableCharacters
                         : inputKind === "idnumber" ? (Qt.ImhPreferNumbers | Qt.ImhPreferUppercase | Qt.ImhNoAutoUppercase)
                         : inputKind === "date" ? Qt.ImhPreferNumbers
                         : Qt.ImhNone)
    background: Rectangle {
        radius: Theme.radius
        color: field.enabled ? Theme.surface : Theme.background
        border.color: field.invalid ? Theme.error : (field.activeFocus ? Theme.primary : Theme.border)
        border.width: field.activeFocus || field.invalid ? 3 : 2
    }
}
