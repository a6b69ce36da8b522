import QtQuick
import QtQuick.Controls

// A big white signing pad: the finger's path goes to the view-model (begin/extend), which keeps the strokes
// as vectors; the pad draws what the view-model holds (``strokes``), so 重签 and a new size redraw from it.
Rectangle {
    id: pad
    property var strokes: []
    property string placeholder: ""
    signal strokeBegun(real x, real y)
    signal strokeExtended(real x, real y)
    signal resized(real w, real h)

    color: "white"
    radius: Theme.radius
    border.color: Theme.primary
    border.width: 3
    Accessible.role: Accessible.Canvas
    Accessible.name: placeholder

    onStrokesChanged: canvas.requestPaint()
    onWidthChanged: pad.resized(area.width, area.height)
    onHeightChanged: pad.resized(area.width, area.height)
    Component.onCompleted: pad.resized(area.width, area.height)

    // The line to sign on, and 请在这里签名 until the first stroke.
    Rectangle {
        x: 40; width: parent.width - 80; height: 2
        y: parent.height * 0.72
        color: Theme.border
    }
    Label {
        objectName: "signHere"
        anchors.centerIn: parent
        visible: pad.strokes.length === 0
        text: pad.placeholder
        color: Theme.textMuted
        font.pixelSize: Theme.headingSize
    }
    Canvas {
        id: canvas
        objectName: "signatureCanvas"
        anchors.fill: area
        onPaint: {
            var ctx = getContext("2d")
            ctx.reset()
            ctx.lineWidth = 5
            ctx.lineCap = "round"
            ctx.lineJoin = "round"
            ctx.strokeStyle = "#000000"
            for (var i = 0; i < pad.strokes.length; ++i) {
                var s = pad.strokes[i]
                ctx.beginPath()
                ctx.moveTo(s[0][0], s[0][1])
                if (s.length === 1)
                    ctx.lineTo(s[0][0] + 0.5, s[0][1])
                for (var j = 1; j < s.length; ++j)
                    ctx.lineTo(s[j][0], s[j][1])
                ctx.stroke()
            }
        }
    }
    // Mouse events here are synthesised from touch as well, so one finger signs.
    MouseArea {
        id: area
        objectName: "signatureArea"
        anchors.fill: parent
        anchors.margins: 4
        preventStealing: true
        onPressed: (mouse) => pad.strokeBegun(mouse.x, mouse.y)
        onPositionChanged: (mouse) => { if (pressed) pad.strokeExtended(mouse.x, mouse.y) }
    }
}
