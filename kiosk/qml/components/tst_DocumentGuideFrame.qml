import QtQuick
import QtTest

Item {
    id: root
    width: 800
    height: 600

    DocumentGuideFrame { id: frame; anchors.fill: parent; hint: "把材料平放在框内，文字朝上" }

    TestCase {
        name: "DocumentGuideFrame"
        when: windowShown

        function init() { frame.advice = ""; frame.adviceOk = true; Theme.elder = false }

        function test_the_frame_sits_inside_the_preview() {
            var t = findChild(frame, "guideTarget")
            verify(t.x > 0 && t.y > 0)
            verify(t.x + t.width < frame.width && t.y + t.height < frame.height)
        }

        function test_the_hint_shows_until_there_is_advice() {
            verify(findChild(frame, "guideHint").visible)
            verify(!findChild(frame, "qualityAdvice").visible)
            frame.advice = "照片模糊：请放稳材料，手离开后再拍"
            frame.adviceOk = false
            verify(!findChild(frame, "guideHint").visible)
            verify(findChild(frame, "qualityAdvice").visible)
            compare(findChild(frame, "qualityAdviceText").text, "⚠ 照片模糊：请放稳材料，手离开后再拍")
        }

        function test_usable_photos_are_marked_by_a_sign_not_only_a_colour() {
            frame.advice = "照片清晰，可以使用"
            frame.adviceOk = true
            compare(findChild(frame, "qualityAdviceText").text, "✓ 照片清晰，可以使用")
        }

        function test_the_shutter_flashes_and_fades() {
            var flash = findChild(frame, "shutterFlash")
            compare(flash.opacity, 0)
            frame.flash()
            tryVerify(function() { return flash.opacity > 0.5 }, 500)
            tryVerify(function() { return flash.opacity === 0 }, 1000)
        }
    }
}
