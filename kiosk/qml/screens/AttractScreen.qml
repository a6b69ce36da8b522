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
        spacing: 40
        Label {
            text: "欢迎使用自助服务"
            font.pixelSize: Theme.titleSize
            font.bold: true
            color: Theme.text
            Layout.alignment: Qt.AlignHCenter
        }
        Label {
            text: "身份证、电子证照扫一扫，少填少跑，一次办好"
            font.pixelSize: Theme.bodySize + 4
            color: Theme.textMuted
            Layout.alignment: Qt.AlignHCenter
        }
        BigButton {
            objectName: "startButton"
            text: "点击开始办理"
            Layout.alignment: Qt.AlignHCenter
            Layout.preferredWidth: 420
            onClicked: root.journey.start()
        }
    }
}
