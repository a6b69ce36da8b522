import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

// "放弃本次办理？": asked before 返回 / 首页 throws a filled application away. 继续办理 is the big,
// first choice and sits where neither 返回 nor 下一步 was, so a repeated tap on 返回 cannot answer it.
Rectangle {
    id: root
    required property var journey
    objectName: "leaveDialog"
    color: "#CC000000"
    MouseArea { anchors.fill: parent }  // nothing behind the question reacts
    onVisibleChanged: if (visible) Qt.inputMethod.hide()  // the keyboard never covers the two answers
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
                objectName: "leaveTitle"
                text: root.journey.s.leaveTitle
                font.pixelSize: Theme.titleSize
                font.bold: true
                color: Theme.text
                wrapMode: Text.WordWrap
                horizontalAlignment: Text.AlignHCenter
                Layout.fillWidth: true
            }
            Label {
                text: root.journey.s.leaveText
                font.pixelSize: Theme.bodySize
                color: Theme.text
                wrapMode: Text.WordWrap
                horizontalAlignment: Text.AlignHCenter
                Layout.fillWidth: true
            }
            BigButton {
                objectName: "leaveNoButton"
                text: root.journey.s.leaveNo
                Layout.alignment: Qt.AlignHCenter
                Layout.preferredWidth: 420
                onClicked: root.journey.keepApplication()
            }
            BigButton {
                objectName: "leaveYesButton"
                secondary: true
                text: root.journey.s.leaveYes
                Layout.alignment: Qt.AlignHCenter
                Layout.preferredWidth: 420
                onClicked: root.journey.abandonApplication()
            }
        }
    }
}
