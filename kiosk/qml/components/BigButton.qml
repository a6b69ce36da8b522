import QtQuick
import QtQuick.Controls

// A large touch target (>= 60 px high) with a high-contrast label.
Button {
    id: control
    property bool secondary: false
    implicitHeight: Theme.controlHeight
    implicitWidth: Math.max(280, contentItem.implicitWidth + 64)
    font.pixelSize: Theme.headingSize
    contentItem: Text {
        text: control.text
        font: control.font
        color: control.secondary ? Theme.primary : "white"
        horizontalAlignment: Text.AlignHCenter
        verticalAlignment: Text.AlignVCenter
    }
    background: Rectangle {
        radius: Theme.radius
        color: control.secondary ? Theme.surface
                                 : (control.down ? Theme.primaryPressed : Theme.primary)
        border.color: Theme.primary
        border.width: 3
        opacity: control.enabled ? 1.0 : 0.5
    }
}
