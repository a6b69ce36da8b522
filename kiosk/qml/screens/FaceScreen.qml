import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import "../components"

// 刷脸核验 (人证核验, kiosk/journey/face_vm.py): the face camera's mirrored preview inside an oval guide, one big
// instruction at a time (also spoken), and after a failure 再试一次; after three, or when the check cannot run,
// 呼叫工作人员 and 继续办理，到窗口核验 (never a dead end).
Item {
    id: root
    objectName: "faceScreen"
    required property var journey
    required property var vm
    required property var assist

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: Theme.margin
        spacing: 16
        ScreenTitle { text: root.journey.s.faceTitle; Layout.fillWidth: true }
        // The picture as large as the screen allows (an elder stands back and sees it from further away): beside
        // the words on a landscape panel, above them on a portrait one. ``body`` takes the height the title and
        // the buttons leave; nothing inside sizes it, so the sizes below bind to it without a loop.
        Item {
            id: body
            Layout.fillWidth: true
            Layout.fillHeight: true
            readonly property bool portrait: root.height > root.width
            readonly property real frameWidth: portrait ? Math.min(width, height * 0.6 * 4 / 3)
                                                        : Math.min(width * 0.55, height * 4 / 3)
            GridLayout {
                anchors.fill: parent
                columns: body.portrait ? 1 : 2
                columnSpacing: 32
                rowSpacing: 24
                Rectangle {
                    id: frame
                    Layout.preferredWidth: body.frameWidth
                    Layout.preferredHeight: body.frameWidth * 3 / 4
                    Layout.alignment: body.portrait ? Qt.AlignHCenter | Qt.AlignTop : Qt.AlignTop
                    color: "#202020"
                    radius: Theme.radius
                    Image {
                        objectName: "facePreview"
                        anchors.fill: parent
                        fillMode: Image.PreserveAspectCrop
                        asynchronous: true
                        cache: false
                        source: root.vm.previewFrame > 0 ? "image://camera/face?" + root.vm.previewFrame : ""
                    }
                    // The oval guide: the face goes inside; the rest of the picture is dimmed. While the resident is
                    // asked to turn, a big arrow beside the oval shows which way (the preview is a mirror: their left
                    // is the screen's left).
                    Canvas {
                        id: oval
                        objectName: "faceOval"
                        anchors.fill: parent
                        property color ring: root.vm.state === "passed" ? Theme.ok
                                             : (root.vm.state === "failed" || root.vm.state === "help") ? Theme.error
                                             : "#FFFFFF"
                        property string turn: root.vm.turn
                        onRingChanged: requestPaint()
                        onTurnChanged: requestPaint()
                        onWidthChanged: requestPaint()
                        onHeightChanged: requestPaint()
                        onPaint: {
                            var ctx = getContext("2d")
                            ctx.reset()
                            var w = width * 0.46, h = height * 0.8
                            var x = (width - w) / 2, y = (height - h) / 2
                            ctx.fillStyle = "rgba(0,0,0,0.45)"
                            ctx.beginPath()
                            ctx.rect(0, 0, width, height)
                            ctx.ellipse(x, y, w, h)
                            ctx.fill("evenodd")
                            ctx.lineWidth = Math.max(8, width / 80)
                            ctx.strokeStyle = ring
                            ctx.beginPath()
                            ctx.ellipse(x, y, w, h)
                            ctx.stroke()
                            if (turn === "left" || turn === "right") {
                                var dir = turn === "left" ? -1 : 1
                                var cx = width / 2 + dir * (w / 2 + (width - w) / 4), cy = height / 2
                                var len = (width - w) / 2 * 0.7, head = len * 0.5
                                ctx.fillStyle = "#FFD54F"
                                ctx.beginPath()
                                ctx.moveTo(cx + dir * len / 2, cy)
                                ctx.lineTo(cx + dir * (len / 2 - head), cy - head)
                                ctx.lineTo(cx + dir * (len / 2 - head), cy - head * 0.4)
                                ctx.lineTo(cx - dir * len / 2, cy - head * 0.4)
                                ctx.lineTo(cx - dir * len / 2, cy + head * 0.4)
                                ctx.lineTo(cx + dir * (len / 2 - head), cy + head * 0.4)
                                ctx.lineTo(cx + dir * (len / 2 - head), cy + head)
                                ctx.closePath()
                                ctx.fill()
                            }
                        }
                    }
                }
                ColumnLayout {
                    spacing: 20
                    Layout.fillWidth: true
                    Layout.fillHeight: true
                    Layout.alignment: Qt.AlignTop
                    Label {
                        objectName: "faceWhyText"
                        text: root.vm.whyText
                        visible: text.length > 0
                        color: Theme.error
                        font.pixelSize: Theme.headingSize
                        font.bold: true
                        wrapMode: Text.WordWrap
                        Layout.fillWidth: true
                    }
                    // The one instruction, in the largest type: the resident reads it from a step back.
                    Label {
                        objectName: "facePromptText"
                        text: root.vm.promptText.length > 0 ? root.vm.promptText : root.journey.s.faceIntro
                        color: root.vm.state === "passed" ? Theme.ok : Theme.text
                        font.pixelSize: root.vm.state === "help" ? Theme.bodySize
                                        : root.vm.state === "failed" ? Theme.headingSize : Theme.titleSize
                        font.bold: true
                        wrapMode: Text.WordWrap
                        Layout.fillWidth: true
                    }
                    Label {
                        objectName: "faceFailuresText"
                        text: root.journey.s.faceFailures.arg(root.vm.failures)
                        visible: root.vm.failures > 0
                        color: Theme.textMuted
                        font.pixelSize: Theme.bodySize
                        Layout.fillWidth: true
                    }
                    Item { Layout.fillHeight: true }
                }
            }
        }
        // One row; on a portrait panel the two ways on after three failures go on a row of their own (with 返回
        // they are wider than the panel in elder mode).
        GridLayout {
            columns: body.portrait && root.vm.offerHelp ? 2 : 6
            columnSpacing: 24
            rowSpacing: 16
            Layout.fillWidth: true
            BigButton {
                objectName: "backButton"
                text: root.journey.s.back
                secondary: true
                onClicked: root.journey.back()
            }
            Item { Layout.fillWidth: true }
            BigButton {
                objectName: "faceRetryButton"
                text: root.journey.s.faceRetry
                visible: root.vm.state === "failed"
                onClicked: root.vm.retry()
            }
            BigButton {
                objectName: "faceCallStaffButton"
                text: root.journey.s.faceCallStaff
                visible: root.vm.offerHelp
                secondary: true
                onClicked: root.assist.callStaff()
            }
            BigButton {
                objectName: "faceManualButton"
                text: root.journey.s.faceManual
                visible: root.vm.offerHelp
                onClicked: root.vm.continueManually()
            }
            Item { Layout.fillWidth: true; visible: !root.journey.advanceOnRight }
        }
    }
}
