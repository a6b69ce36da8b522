import QtQuick
import QtTest

Item {
    id: root
    width: 900
    height: 500

    SignaturePad {
        id: pad
        width: 800
        height: 360
        placeholder: "请在这里签名"
        property var begun: []
        property var extended: []
        property var size: []
        onStrokeBegun: (x, y) => begun.push([x, y])
        onStrokeExtended: (x, y) => extended.push([x, y])
        onResized: (w, h) => size = [w, h]
    }

    TestCase {
        name: "SignaturePad"
        when: windowShown

        function init() {
            pad.begun = []
            pad.extended = []
            pad.strokes = []
        }

        function test_a_finger_drawing_reports_its_path_in_the_pads_own_pixels() {
            var area = findChild(pad, "signatureArea")
            mousePress(area, 50, 60)
            mouseMove(area, 120, 80)
            mouseMove(area, 200, 90)
            mouseRelease(area, 200, 90)
            compare(pad.begun.length, 1)
            compare(pad.begun[0][0], 50)
            compare(pad.begun[0][1], 60)
            verify(pad.extended.length >= 2)
            compare(pad.extended[pad.extended.length - 1][0], 200)
        }

        function test_moving_without_a_press_draws_nothing() {
            mouseMove(findChild(pad, "signatureArea"), 300, 100)
            compare(pad.extended.length, 0)
        }

        function test_says_where_to_sign_until_something_is_drawn() {
            verify(findChild(pad, "signHere").visible)
            compare(findChild(pad, "signHere").text, "请在这里签名")
            pad.strokes = [[[10, 10], [60, 40]]]
            verify(!findChild(pad, "signHere").visible)
        }

        function test_reports_its_size_and_is_big_enough_for_a_name() {
            var area = findChild(pad, "signatureArea")
            compare(pad.size[0], area.width)
            compare(pad.size[1], area.height)
            verify(area.width >= 600 && area.height >= 250, "a big pad for an elderly hand")
        }

        function test_the_ink_is_drawn_from_the_strokes() {
            pad.strokes = [[[20, 20], [300, 200]], [[400, 100]]]
            var canvas = findChild(pad, "signatureCanvas")
            tryVerify(function() { return canvas.available })
            wait(50)
            var grab = grabImage(canvas)
            verify(Qt.colorEqual(grab.pixel(160, 110), "black") || grab.red(160, 110) < 100, "ink on the line")
            verify(grab.red(700, 50) > 200, "paper elsewhere")
        }
    }
}
