import QtQuick
import QtTest

Item {
    id: root
    width: 800
    height: 700

    PlacementGuide { id: cardGuide; mode: "card"; caption: "把身份证平放在读卡区"; width: 360 }
    PlacementGuide { id: qrGuide; mode: "qr"; caption: "把二维码对准扫码口"; width: 360; x: 400 }

    TestCase {
        name: "PlacementGuide"
        when: windowShown

        function test_the_card_moves_down_onto_the_reader_and_back() {
            var card = findChild(cardGuide, "guideCard")
            var pad = findChild(cardGuide, "readerPad")
            verify(cardGuide.animating)
            var start = card.y
            tryVerify(function() { return card.resting }, 3000, "the card comes to rest on the reader")
            verify(card.y > start + 20)
            verify(card.y + card.height > pad.y, "it overlaps the pad when resting")
            tryVerify(function() { return !card.resting && card.y < pad.y - card.height }, 4000, "then lifts")
        }

        function test_the_phone_comes_to_the_scanner_and_keeps_a_distance() {
            var phone = findChild(qrGuide, "guidePhone")
            var scanner = findChild(qrGuide, "scannerWindow")
            tryVerify(function() { return phone.atScanner }, 3000)
            verify(phone.x + phone.width < scanner.x, "held in front of the window, not touching it")
            verify(phone.x > 40)
        }

        function test_only_its_mode_is_drawn_and_the_caption_is_shown() {
            verify(findChild(cardGuide, "guideCard").visible)
            verify(!findChild(cardGuide, "guidePhone").visible)
            verify(findChild(qrGuide, "guidePhone").visible)
            compare(findChild(cardGuide, "guideCaption").text, "把身份证平放在读卡区")
        }

        function test_stays_inside_its_own_box() {
            var stage = findChild(cardGuide, "guideStage")
            verify(stage.clip)
            verify(cardGuide.implicitHeight >= stage.height)
        }

        function test_stops_when_hidden() {
            cardGuide.visible = false
            verify(!cardGuide.animating)
            cardGuide.visible = true
            verify(cardGuide.animating)
        }
    }
}
