import QtQuick
import QtTest
import "tst_contrast.js" as Contrast

// The MIIT elder-friendly spec and WCAG: contrast >= 4.5:1 for every text colour on the backgrounds it
// is used on; elder mode body >= 18, headings >= 30, targets >= 60; normal targets >= 44.
TestCase {
    name: "Theme"

    function cleanup() { Theme.elder = false }

    function test_text_contrast_data() {
        return [
            { tag: "text on background", fg: Theme.text, bg: Theme.background },
            { tag: "text on surface", fg: Theme.text, bg: Theme.surface },
            { tag: "muted on background", fg: Theme.textMuted, bg: Theme.background },
            { tag: "muted on surface", fg: Theme.textMuted, bg: Theme.surface },
            { tag: "primary label on surface", fg: Theme.primary, bg: Theme.surface },
            { tag: "primary label pressed", fg: Theme.primary, bg: Theme.selected },
            { tag: "white on primary", fg: "white", bg: Theme.primary },
            { tag: "white on primary pressed", fg: "white", bg: Theme.primaryPressed },
            { tag: "error on surface", fg: Theme.error, bg: Theme.surface },
            { tag: "error on background", fg: Theme.error, bg: Theme.background },
            { tag: "ok badge", fg: Theme.ok, bg: "#E6F4EA" },
            { tag: "warn badge", fg: Theme.warn, bg: "#FFF4E5" },
        ]
    }

    function test_text_contrast(data) {
        var r = Contrast.ratio(Qt.color(data.fg), Qt.color(data.bg))
        verify(r >= 4.5, data.tag + ": contrast " + r.toFixed(2) + " < 4.5")
    }

    function test_contrast_helper_can_fail() {
        verify(Contrast.ratio(Qt.color("#777777"), Qt.color("#888888")) < 1.5)
        fuzzyCompare(Contrast.ratio(Qt.color("black"), Qt.color("white")), 21, 0.01)
    }

    function test_normal_sizes() {
        Theme.elder = false
        verify(Theme.minTarget >= 44)
        verify(Theme.controlHeight >= 44)
        verify(Theme.bodySize >= 18)
        verify(Theme.lineHeight >= 1.3)
    }

    function test_elder_sizes() {
        Theme.elder = true
        verify(Theme.minTarget >= 60)
        verify(Theme.controlHeight >= 60)
        verify(Theme.tileHeight >= 60)
        verify(Theme.bodySize >= 18)
        verify(Theme.smallSize >= 18)
        verify(Theme.headingSize >= 30)
        verify(Theme.titleSize >= 30)
        verify(Theme.bodySize > 22, "elder body text must be larger than normal mode's")
    }
}
