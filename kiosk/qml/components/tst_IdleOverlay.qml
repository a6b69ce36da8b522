import QtQuick
import QtTest

// The overlay reads and calls only these members of the journey view-model; this stand-in has them.
Item {
    id: root
    width: 1280
    height: 1024

    QtObject {
        id: journey
        property var s: ({ idleTitle: "还在办理吗？", idleContinue: "继续办理" })
        property string idleText: "20 秒后将清除本次办理的信息"
        property int touches: 0
        function touch() { touches += 1 }
    }

    IdleOverlay { id: overlay; anchors.fill: parent; journey: journey }

    TestCase {
        name: "IdleOverlay"
        when: windowShown

        function init() { journey.touches = 0; Theme.elder = false }

        function test_shows_the_countdown_text() {
            compare(findChild(overlay, "idleCountdown").text, "20 秒后将清除本次办理的信息")
            compare(findChild(overlay, "idleContinueButton").text, "继续办理")
        }

        function test_one_tap_on_continue_keeps_the_session() {
            mouseClick(findChild(overlay, "idleContinueButton"))
            compare(journey.touches, 1)
        }

        function test_a_tap_anywhere_keeps_the_session() {
            mouseClick(overlay, 10, 10)
            compare(journey.touches, 1)
        }

        function test_continue_is_a_big_target() {
            var button = findChild(overlay, "idleContinueButton")
            verify(button.height >= 44 && button.width >= 44)
            Theme.elder = true
            verify(button.height >= 60)
        }
    }
}
