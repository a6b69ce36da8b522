import QtQuick

// Laid over the document camera's preview (issue 14, finding 6): corner marks of the frame the document
// goes in, a hint, the shutter's flash when a photo is taken (`flash()`), and the quality check's advice
// in plain words (`advice`; `adviceOk` when the photo is usable). Colour is never the only signal: the
// advice starts with ✓ or ⚠.
Item {
    id: frame
    property string hint: ""
    property string advice: ""
    property bool adviceOk: true
    property real inset: 0.08  // the frame's margin, as a share of the preview
    readonly property real markLength: Math.min(width, height) * 0.12
    readonly property real markWidth: Theme.elder ? 8 : 6

    function flash() { shutterAnim.restart() }

    Item {
        id: target
        objectName: "guideTarget"
        x: frame.width * frame.inset
        y: frame.height * frame.inset
        width: frame.width * (1 - 2 * frame.inset)
        height: frame.height * (1 - 2 * frame.inset)

        Repeater {  // four corners, two bars each
            model: [[0, 0], [1, 0], [0, 1], [1, 1]]
            Item {
                required property var modelData
                x: modelData[0] ? target.width - frame.markLength : 0
                y: modelData[1] ? target.height - frame.markLength : 0
                width: frame.markLength
                height: frame.markLength
                Rectangle {
                    width: parent.width; height: frame.markWidth
                    y: parent.modelData[1] ? parent.height - height : 0
                    color: "white"; border.color: Theme.primary; border.width: 1
                }
                Rectangle {
                    width: frame.markWidth; height: parent.height
                    x: parent.modelData[0] ? parent.width - width : 0
                    color: "white"; border.color: Theme.primary; border.width: 1
                }
            }
        }
    }

    Rectangle {
        id: hintBox
        objectName: "guideHint"
        visible: frame.hint.length > 0 && frame.advice.length === 0
        anchors.horizontalCenter: parent.horizontalCenter
        anchors.top: parent.top
        anchors.topMargin: 8
        width: Math.min(parent.width - 16, hintText.implicitWidth + 32)
        height: hintText.implicitHeight + 16
        radius: 8
        color: "#CC0B1A2E"
        Text {
            id: hintText
            anchors.centerIn: parent
            width: Math.min(implicitWidth, frame.width - 48)
            text: frame.hint
            color: "white"
            wrapMode: Text.WordWrap
            font.pixelSize: Theme.smallSize
        }
    }

    Rectangle {
        id: adviceBox
        objectName: "qualityAdvice"
        visible: frame.advice.length > 0
        anchors.horizontalCenter: parent.horizontalCenter
        anchors.bottom: parent.bottom
        anchors.bottomMargin: 8
        width: parent.width - 16
        height: adviceText.implicitHeight + 16
        radius: 8
        color: frame.adviceOk ? Theme.ok : Theme.warn
        Text {
            id: adviceText
            objectName: "qualityAdviceText"
            anchors.centerIn: parent
            width: parent.width - 24
            text: (frame.adviceOk ? "✓ " : "⚠ ") + frame.advice
            color: "white"
            wrapMode: Text.WordWrap
            horizontalAlignment: Text.AlignHCenter
            font.pixelSize: Theme.bodySize
            font.bold: true
        }
    }

    Rectangle {  // the shutter: a short white flash over the preview
        id: shutter
        objectName: "shutterFlash"
        anchors.fill: parent
        color: "white"
        opacity: 0
        SequentialAnimation {
            id: shutterAnim
            NumberAnimation { target: shutter; property: "opacity"; to: 0.85; duration: 60 }
            NumberAnimation { target: shutter; property: "opacity"; to: 0; duration: 320 }
        }
    }
}
