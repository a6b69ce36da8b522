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
        RowLayout {
            spacing: 32
            Layout.fillWidth: true
            Layout.fillHeight: true
            Rectangle {
                id: frame
                Layout.preferredWidth: 560
                Layout.preferredHeight: 420
                Layout.alignment: Qt.AlignTop
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
                // The oval guide: the face goes inside; the rest of the picture is dimmed.
                Canvas {
                    id: oval
                    objectName: "faceOval"
                    anchors.fill: parent
                    property color ring: root.vm.state === "passed" ? Theme.ok
                                         : (root.vm.state === "failed" || root.vm.state === "help") ? Theme.error
                                         : "#FFFFFF"
                    onRingChanged: requestPaint()
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
                        ctx.lineWidth = 8
                        ctx.strokeStyle = ring
                        ctx.beginPath()
                        ctx.ellipse(x, y, w, h)
                        ctx.stroke()
                    }
                }
            }
            ColumnLayout {
                spacing: 20
                Layout.fillWidth: true
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
                Label {
                    objectName: "facePromptText"
                    text: root.vm.promptText.length > 0 ? root.vm.promptText : root.journey.s.faceIntro
                    color: root.vm.state === "passed" ? Theme.ok : Theme.text
                    font.pixelSize: root.vm.state === "help" ? Theme.bodySize : Theme.headingSize
                    font.bold: true
                    wrapMode: Text.WordWrap
                    Layout.fillWidth: true
                }
                Label {
                    objectName: "faceFailuresText"
                    text: root.journey.s.faceFailures.arg(root.vm.failures)
                    visible: root.vm.failures > 0
                    color: Theme.textMuted
                    font.pixelSize: Theme.smallSize
                    Layout.fillWidth: true
                }
                Item { Layout.fillHeight: true }
            }
        }
        RowLayout {
            spacing: 24
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
