import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import "../components"

Item {
    id: root
    objectName: "thanksScreen"
    required property var journey

    ColumnLayout {
        anchors.centerIn: parent
        width: Math.min(parent.width - 96, 1000)
        spacing: 40
        Label {
            objectName: "thanksText"
            text: root.journey.thanksText
            font.pixelSize: Theme.titleSize
            font.bold: true
            color: Theme.ok
            wrapMode: Text.WordWrap
            horizontalAlignment: Text.AlignHCenter
            Layout.fillWidth: true
        }
        BigButton {
            objectName: "thanksHomeButton"
            text: root.journey.s.finish
            Layout.alignment: Qt.AlignHCenter
            Layout.preferredWidth: 360
            onClicked: root.journey.endSession()
        }
    }
}
