import QtQuick
import QtQuick.Controls

// Never colour alone: the state is also spelled out.
Rectangle {
    property bool online: false
    property string onlineText: ""
    property string offlineText: ""
    implicitWidth: label.implicitWidth + 40
    implicitHeight: Math.max(Theme.minTarget, label.implicitHeight + 16)
    radius: height / 2
    color: online ? "#E6F4EA" : "#FFF4E5"
    Label {
        id: label
        objectName: "connectionText"
        anchors.centerIn: parent
        text: online ? parent.onlineText : parent.offlineText
        color: online ? Theme.ok : Theme.warn
        font.pixelSize: Theme.smallSize
    }
}
