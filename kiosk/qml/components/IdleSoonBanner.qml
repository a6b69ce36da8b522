import QtQuick
import QtQuick.Controls

// Before the idle overlay: "还剩 12 秒无操作，将询问您是否继续办理" in a bar at the top of the screen, so the
// overlay never comes as a surprise. It takes its own row (the screen moves down), covering nothing.
Rectangle {
    id: root
    objectName: "idleSoonBanner"
    property int seconds: 0
    property string text: ""
    visible: seconds > 0
    implicitHeight: label.implicitHeight + 20
    color: "#FFF4E5"
    border.color: Theme.warn
    border.width: 2
    Label {
        id: label
        objectName: "idleSoonText"
        anchors.left: parent.left
        anchors.right: parent.right
        anchors.verticalCenter: parent.verticalCenter
        anchors.leftMargin: 24
        anchors.rightMargin: 24
        text: root.text.replace("{n}", root.seconds)
        color: Theme.warn
        font.pixelSize: Theme.bodySize
        font.bold: true
        wrapMode: Text.Wrap
        horizontalAlignment: Text.AlignHCenter
    }
}
