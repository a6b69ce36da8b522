import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

// Help on every journey screen: "再听一遍" says the screen's prompt again, 呼叫工作人员 calls staff (an alarm
// on the operators' console). `assist` is the AssistViewModel (kiosk/journey/assist_vm.py) or a stand-in
// with voiceAvailable, canCallStaff, callState, callText, repeatPrompt() and callStaff(); `s` the texts.
// The icons are drawn (a speaker, a raised hand): the kiosk's fonts have no emoji.
RowLayout {
    id: bar
    property var assist
    property var s
    spacing: 12
    readonly property int iconSize: Theme.elder ? 30 : 24

    BigButton {
        id: repeatButton
        objectName: "repeatButton"
        secondary: true
        visible: bar.assist.voiceAvailable
        text: bar.s.voiceRepeat
        implicitHeight: Theme.minTarget + 8
        font.pixelSize: Theme.smallSize
        leftPadding: bar.iconSize + 24
        Accessible.name: bar.s.voiceRepeat
        onClicked: bar.assist.repeatPrompt()
        Canvas {  // a speaker with two sound waves
            objectName: "speakerIcon"
            x: 14; anchors.verticalCenter: parent.verticalCenter
            width: bar.iconSize; height: bar.iconSize
            onPaint: {
                var c = getContext("2d"), w = width, h = height
                c.reset()
                c.fillStyle = Theme.primary; c.strokeStyle = Theme.primary; c.lineWidth = Math.max(2, w / 12)
                c.beginPath()
                c.moveTo(0, h * 0.35); c.lineTo(w * 0.22, h * 0.35); c.lineTo(w * 0.48, h * 0.12)
                c.lineTo(w * 0.48, h * 0.88); c.lineTo(w * 0.22, h * 0.65); c.lineTo(0, h * 0.65)
                c.closePath(); c.fill()
                for (var i = 1; i <= 2; i++) {
                    c.beginPath(); c.arc(w * 0.45, h * 0.5, w * (0.2 + 0.2 * i), -Math.PI / 4, Math.PI / 4); c.stroke()
                }
            }
        }
    }
    BigButton {
        id: callButton
        objectName: "callStaffButton"
        secondary: true
        visible: bar.assist.canCallStaff
        checkedLook: bar.assist.callState === "sending" || bar.assist.callState === "queued"
                     || bar.assist.callState === "sent"
        text: bar.s.callStaff
        implicitHeight: Theme.minTarget + 8
        font.pixelSize: Theme.smallSize
        leftPadding: bar.iconSize + 24
        onClicked: bar.assist.callStaff()
        onCheckedLookChanged: handIcon.requestPaint()
        Canvas {  // a person raising a hand
            id: handIcon
            objectName: "handIcon"
            x: 14; anchors.verticalCenter: parent.verticalCenter
            width: bar.iconSize; height: bar.iconSize
            onPaint: {
                var c = getContext("2d"), w = width, h = height
                c.reset()
                var ink = callButton.checkedLook ? "white" : Theme.primary
                c.fillStyle = ink; c.strokeStyle = ink; c.lineWidth = Math.max(2, w / 10); c.lineCap = "round"
                c.beginPath(); c.arc(w * 0.4, h * 0.22, h * 0.16, 0, 2 * Math.PI); c.fill()
                c.beginPath(); c.moveTo(w * 0.12, h); c.lineTo(w * 0.16, h * 0.52)
                c.quadraticCurveTo(w * 0.4, h * 0.4, w * 0.64, h * 0.52); c.lineTo(w * 0.68, h); c.closePath(); c.fill()
                c.beginPath(); c.moveTo(w * 0.62, h * 0.52); c.lineTo(w * 0.9, h * 0.08); c.stroke()
            }
        }
    }
}
