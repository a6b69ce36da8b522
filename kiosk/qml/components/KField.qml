import QtQuick
import QtQuick.Controls

// A text field for the resident. The virtual keyboard shows Pinyin for text and a number pad for
// numbers. Every field is marked sensitive, and screens cannot take that away (they add hints through
// extraHints): for sensitive fields Qt Virtual Keyboard's Pinyin engine closes its user dictionary and
// learns nothing of what residents type (kiosk/keyboard.py; tests/test_keyboard_privacy.py).
TextField {
    id: field
    property string inputKind: "text"
    property bool invalid: false
    property int extraHints: Qt.ImhNone
    // What the input preview strip above the keyboard calls this field (the field's label).
    property string previewLabel: placeholderText
    // The text with what the keyboard is still composing (Pinyin letters before a candidate is chosen).
    readonly property string composedText: text + preeditText
    // Qt.ImhDialableCharacters is undefined in QML (Qt 6.11): its C++ value, 0x100000, is used instead.
    readonly property int dialable: 0x100000
    readonly property int kindHints: inputKind === "digits" ? Qt.ImhDigitsOnly
                                   : inputKind === "phone" ? dialable
                                   : inputKind === "idnumber" ? (Qt.ImhPreferNumbers | Qt.ImhPreferUppercase | Qt.ImhNoAutoUppercase)
                                   : inputKind === "date" ? Qt.ImhPreferNumbers
                                   : Qt.ImhNone
    implicitHeight: Theme.controlHeight
    font.pixelSize: Theme.bodySize + 2
    color: Theme.text
    placeholderTextColor: Theme.textMuted  // 7.9:1 on white (the style's default was 4.0:1)
    inputMethodHints: Qt.ImhSensitiveData | Qt.ImhNoPredictiveText | kindHints | extraHints
    background: Rectangle {
        radius: Theme.radius
        color: field.enabled ? Theme.surface : Theme.background
        border.color: field.invalid ? Theme.error : (field.activeFocus ? Theme.primary : Theme.border)
        border.width: field.activeFocus || field.invalid ? 3 : 2
    }
}
