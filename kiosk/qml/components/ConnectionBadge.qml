import QtQuick
import QtQuick.Controls

// Never colour alone: the state is also spelled out.
Rectangle {
    property bool online: false
    implicitWidth: label.implicitWidth + 40
    implicitHeight: 52
    radius: 26
    color: online ? "#E6F4EA" : "#FFF4E5"
    Label {
        id: label
        anchors.centerIn: parent
        text: online ? "● 已联网" : "○ 离线 · 申请会保存，联网后自动提交"
        color: online ? Theme.ok : "#7A4100"
        font.pixelSize: 22
    }
}
