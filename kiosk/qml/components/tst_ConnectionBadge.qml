import QtQuick
import QtTest
import "tst_contrast.js" as Contrast

Item {
    width: 600
    height: 200

    ConnectionBadge { id: badge; onlineText: "已联网"; offlineText: "离线：申请将在联网后自动提交" }

    TestCase {
        name: "ConnectionBadge"
        when: windowShown

        function label() { return findChild(badge, "connectionText") }

        function cleanup() { badge.online = false; Theme.elder = false }

        function test_offline_says_so_in_words() {
            badge.online = false
            compare(label().text, "离线：申请将在联网后自动提交")
            compare(label().color, Theme.warn)
        }

        function test_online_says_so_in_words() {
            badge.online = true
            compare(label().text, "已联网")
            compare(label().color, Theme.ok)
        }

        function test_never_colour_alone() {
            badge.online = false
            var offText = label().text, offColour = badge.color.toString()
            badge.online = true
            verify(label().text !== offText, "the state is spelled out, not only coloured")
            verify(!Qt.colorEqual(badge.color, offColour), "and coloured: " + offColour)
        }

        function test_readable_and_big_enough() {
            for (const on of [false, true]) {
                badge.online = on
                verify(Contrast.ratio(label().color, badge.color) >= 4.5, "state " + on)
                verify(badge.height >= Theme.minTarget)
                verify(badge.width >= label().implicitWidth)
            }
            Theme.elder = true
            verify(badge.height >= 60)
        }
    }
}
