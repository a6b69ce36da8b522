import QtQuick
import QtQuick.Controls

// A large touch target (>= 60 px high in elder mode, >= 44 px otherwise) with a high-contrast label.
Button {
    id: control
    property bool secondary: false
    property bool checkedLook: false
    implicitHeight: Theme.controlHeight
    implicitWidth: Math.max(Theme.elder ? 240 : 200, contentItem.implicitWidth + 56)
    font.pixelSize: Theme.buttonFontSize
    contentItem: Text {
        text: control.text
        font: control.font
        color: (control.secondary && !control.checkedLook) ? Theme.primary : "white"
        horizontalAlignment: Text.AlignHCenter
        verticalAlignment: Text.AlignVCenter
        wrapMode: Text.WordWrap
    }
    background: Rectangle {
        radius: Theme.radius
        color: control.checkedLook ? Theme.primary
             : control.secondary ? (control.down ? Theme.selected : Theme.surface)
             : (control.down ? Theme.primaryPressed : Theme.primary)
        border.color: Theme.primary
        border.width: 3
        opacity: control.enabled ? 1.0 : 0.5
    }
}
