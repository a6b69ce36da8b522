import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import "../components"

Item {
    id: root
    objectName: "attractScreen"
    required property var journey

    // Any touch on the attract screen starts a session.
    MouseArea {
        anchors.fill: parent
        onClicked: root.journey.start()
    }

    ColumnLayout {
        anchors.centerIn: parent
        width: Math.min(parent.width - 96, 1100)
        spacing: 40
        Label {
            text: root.journey.s.welcome
            font.pixelSize: Theme.titleSize + 8
            font.bold: true
            color: Theme.text
            Layout.alignment: Qt.AlignHCenter
        }
        Label {
            text: root.journey.s.welcomeSub
            font.pixelSize: Theme.bodySize + 4
            color: Theme.textMuted
            wrapMode: Text.WordWrap
            horizontalAlignment: Text.AlignHCenter
            Layout.fillWidth: true
        }
        BigButton {
            objectName: "startButton"
            text: root.journey.s.start
            Layout.alignment: Qt.AlignHCenter
            Layout.preferredWidth: 460
            Layout.preferredHeight: Theme.controlHeight + 16
            onClicked: root.journey.start()
        }
    }
}
