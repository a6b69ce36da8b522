import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

// WCAG 2.2.1: warn before the time-out, at least 20 s, one tap to continue.
Rectangle {
    id: root
    required property var journey
    objectName: "idleOverlay"
    readonly property bool kioskModal: true  // what is under it is inactive (kiosk/layout_checks.py)
    color: "#CC000000"
    // 继续办理 must never sit under the keyboard: the overlay closes it (the field keeps what was typed).
    onVisibleChanged: if (visible) Qt.inputMethod.hide()
    MouseArea { anchors.fill: parent; onClicked: root.journey.touch() }
    Rectangle {
        anchors.centerIn: parent
        width: Math.min(parent.width - 80, 900)
        height: box.implicitHeight + 80
        radius: Theme.radius
        color: Theme.surface
        ColumnLayout {
            id: box
            anchors.centerIn: parent
            width: parent.width - 80
            spacing: 28
            Label {
                text: root.journey.s.idleTitle
                font.pixelSize: Theme.titleSize
                font.bold: true
                color: Theme.text
                Layout.alignment: Qt.AlignHCenter
            }
            Label {
                objectName: "idleCountdown"
                text: root.journey.idleText
                font.pixelSize: Theme.bodySize + 4
                color: Theme.text
                wrapMode: Text.WordWrap
                horizontalAlignment: Text.AlignHCenter
                Layout.fillWidth: true
            }
            BigButton {
                objectName: "idleContinueButton"
                text: root.journey.s.idleContinue
                Layout.alignment: Qt.AlignHCenter
                Layout.preferredWidth: 420
                onClicked: root.journey.touch()
            }
        }
    }
}
