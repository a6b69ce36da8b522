import QtQuick

// What happened to the resident's call for staff, in words, until the session ends: calling (waiting for
// the central), queued (offline: go to the counter too), staff told (the central has it), or failed.
Rectangle {
    id: banner
    property string state_: ""
    property string text: ""
    objectName: "staffCallBanner"
    visible: text.length > 0
    radius: Theme.radius
    implicitHeight: label.implicitHeight + 24
    color: state_ === "sent" ? Theme.ok : state_ === "failed" || state_ === "queued" ? Theme.warn : Theme.primary
    Text {
        id: label
        objectName: "staffCallText"
        anchors.centerIn: parent
        width: parent.width - 32
        text: (banner.state_ === "sent" ? "✓ " : banner.state_ === "failed" || banner.state_ === "queued" ? "⚠ " : "") + banner.text
        color: "white"
        wrapMode: Text.WordWrap
        horizontalAlignment: Text.AlignHCenter
        font.pixelSize: Theme.bodySize
        font.bold: true
    }
}
