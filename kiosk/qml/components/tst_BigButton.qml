import QtQuick
import QtTest
import "tst_contrast.js" as Contrast

Item {
    id: root
    width: 900
    height: 600

    BigButton { id: button; text: "开始办理" }
    BigButton { id: secondary; y: 120; secondary: true; text: "返回" }
    BigButton { id: tiny; y: 240; text: "" }
    SignalSpy { id: clicks; target: button; signalName: "clicked" }

    TestCase {
        name: "BigButton"
        when: windowShown

        function cleanup() {
            Theme.elder = false
            button.enabled = true
            clicks.clear()
        }

        function test_touch_target_normal_mode() {
            for (const b of [button, secondary, tiny]) {
                verify(b.height >= 44, "height " + b.height)
                verify(b.width >= 44, "width " + b.width)
            }
        }

        function test_touch_target_elder_mode() {
            Theme.elder = true
            for (const b of [button, secondary, tiny]) {
                verify(b.height >= 60, "height " + b.height)
                verify(b.width >= 60, "width " + b.width)
            }
            compare(button.font.pixelSize, Theme.buttonFontSize)
            verify(button.font.pixelSize >= 30)
        }

        function test_a_tap_emits_clicked_once() {
            mouseClick(button)
            compare(clicks.count, 1)
        }

        function test_disabled_ignores_taps_and_looks_disabled() {
            button.enabled = false
            mouseClick(button)
            compare(clicks.count, 0)
            compare(button.background.opacity, 0.5)
        }

        function test_labels_are_readable() {
            verify(Contrast.ratio(button.contentItem.color, button.background.color) >= 4.5)
            verify(Contrast.ratio(secondary.contentItem.color, secondary.background.color) >= 4.5)
            verify(button.contentItem.text === "开始办理")
        }
    }
}
