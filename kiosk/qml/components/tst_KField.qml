import QtQuick
import QtTest

Item {
    width: 800
    height: 400

    KField { id: field; width: 400 }

    TestCase {
        name: "KField"
        when: windowShown

        function init() {
            field.inputKind = "text"
            field.extraHints = Qt.ImhNone
            field.invalid = false
            field.text = ""
            Theme.elder = false
        }

        function has(flag) { return (field.inputMethodHints & flag) === flag }

        function test_every_kind_is_sensitive_data() {
            for (const kind of ["text", "digits", "phone", "idnumber", "date", "unknown"]) {
                field.inputKind = kind
                verify(has(Qt.ImhSensitiveData), kind + ": the keyboard must not learn from it")
                verify(has(Qt.ImhNoPredictiveText), kind)
            }
        }

        function test_extra_hints_cannot_drop_the_sensitive_flag() {
            field.extraHints = Qt.ImhPreferLowercase
            verify(has(Qt.ImhSensitiveData))
            verify(has(Qt.ImhPreferLowercase))
        }

        function test_kind_masks_data() {
            return [
                { tag: "digits", kind: "digits", flag: Qt.ImhDigitsOnly },
                { tag: "phone", kind: "phone", flag: 0x100000 },
                { tag: "idnumber", kind: "idnumber", flag: Qt.ImhPreferNumbers | Qt.ImhPreferUppercase },
                { tag: "date", kind: "date", flag: Qt.ImhPreferNumbers },
            ]
        }

        function test_kind_masks(data) {
            field.inputKind = data.kind
            verify(has(data.flag), data.kind + " hints " + field.inputMethodHints.toString(16))
            field.inputKind = "text"
            verify(!has(data.flag), "plain text does not get the " + data.kind + " keyboard")
        }

        function test_invalid_shows_an_error_border() {
            var normal = field.background.border.color.toString()
            field.invalid = true
            compare(field.background.border.color, Theme.error)
            verify(!Qt.colorEqual(field.background.border.color, normal))
            verify(field.background.border.width >= 3)
        }

        function test_typing_enters_text() {
            field.forceActiveFocus()
            keyClick(Qt.Key_1)
            keyClick(Qt.Key_3)
            compare(field.text, "13")
        }

        function test_big_enough_to_touch() {
            verify(field.height >= 44)
            Theme.elder = true
            verify(field.height >= 60)
            verify(field.font.pixelSize >= 18)
        }
    }
}
