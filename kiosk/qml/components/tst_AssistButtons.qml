import QtQuick
import QtTest

Item {
    id: root
    width: 1000
    height: 300

    QtObject {
        id: assist
        property bool voiceAvailable: true
        property bool canCallStaff: true
        property string callState: ""
        property string callText: ""
        property int repeats: 0
        property int calls: 0
        function repeatPrompt() { repeats += 1 }
        function callStaff() { calls += 1; callState = "sending" }
    }
    AssistButtons { id: bar; assist: assist; s: ({ voiceRepeat: "再听一遍", callStaff: "呼叫工作人员" }) }
    StaffCallBanner { id: banner; y: 150; width: 600; state_: assist.callState; text: assist.callText }

    TestCase {
        name: "AssistButtons"
        when: windowShown

        function init() {
            assist.repeats = 0; assist.calls = 0; assist.callState = ""; assist.callText = ""
            assist.voiceAvailable = true; assist.canCallStaff = true; Theme.elder = false
        }

        function test_repeat_says_the_prompt_again() {
            mouseClick(findChild(bar, "repeatButton"))
            compare(assist.repeats, 1)
        }

        function test_call_staff_calls_and_shows_what_happened() {
            var button = findChild(bar, "callStaffButton")
            compare(button.text, "呼叫工作人员")
            mouseClick(button)
            compare(assist.calls, 1)
            verify(button.checkedLook)
            verify(!banner.visible)
            assist.callText = "正在呼叫工作人员，请稍候"
            verify(banner.visible)
            assist.callState = "sent"
            assist.callText = "工作人员已收到呼叫，马上过来，请稍候"
            compare(findChild(banner, "staffCallText").text, "✓ 工作人员已收到呼叫，马上过来，请稍候")
        }

        function test_buttons_hide_when_unavailable() {
            assist.voiceAvailable = false
            verify(!findChild(bar, "repeatButton").visible)
            assist.canCallStaff = false
            verify(!findChild(bar, "callStaffButton").visible)
        }

        function test_targets_are_big_enough() {
            var b = findChild(bar, "callStaffButton")
            verify(b.height >= 44)
            Theme.elder = true
            verify(b.height >= 60)
        }
    }
}
