import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import "../components"

// The machine is not taking applications: paused above the store's high-water mark, or in maintenance.
Item {
    id: root
    required property var journey
    property string title: ""

    ColumnLayout {
        anchors.centerIn: parent
        width: Math.min(parent.width - 96, 1000)
        spacing: 32
        Label {
            objectName: "noticeTitle"
            text: root.title
            font.pixelSize: Theme.titleSize
            font.bold: true
            color: Theme.error
            Layout.alignment: Qt.AlignHCenter
        }
        Label {
            objectName: "noticeText"
            text: root.journey.notice
            font.pixelSize: Theme.bodySize + 4
            color: Theme.text
            wrapMode: Text.WordWrap
            horizontalAlignment: Text.AlignHCenter
            lineHeight: 1.4
            Layout.fillWidth: true
        }
        Label {
            text: root.journey.s.pausedNote
            font.pixelSize: Theme.bodySize
            color: Theme.textMuted
            wrapMode: Text.WordWrap
            Layout.alignment: Qt.AlignHCenter
        }
    }
}
