import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import "../components"

Item {
    id: root
    objectName: "doneScreen"
    required property var journey

    ColumnLayout {
        anchors.centerIn: parent
        spacing: 32
        width: Math.min(parent.width - 96, 1000)
        Label {
            objectName: "doneTitle"
            text: root.journey.submittedOnline ? "申请已受理，正在提交" : "已保存，联网后自动提交"
            font.pixelSize: Theme.titleSize
            font.bold: true
            color: Theme.ok
            Layout.alignment: Qt.AlignHCenter
        }
        Label {
            text: "受理编号"
            font.pixelSize: Theme.bodySize
            color: Theme.textMuted
            Layout.alignment: Qt.AlignHCenter
        }
        Label {
            objectName: "receiptNumber"
            text: root.journey.receiptNumber
            font.pixelSize: Theme.titleSize - 4
            font.bold: true
            font.letterSpacing: 2
            color: Theme.text
            Layout.alignment: Qt.AlignHCenter
        }
        Label {
            text: "请记下受理编号，可凭此编号查询办理进度。"
            font.pixelSize: Theme.bodySize
            color: Theme.text
            wrapMode: Text.WordWrap
            horizontalAlignment: Text.AlignHCenter
            Layout.fillWidth: true
        }
        BigButton {
            objectName: "finishButton"
            text: "完成"
            Layout.alignment: Qt.AlignHCenter
            Layout.preferredWidth: 360
            onClicked: root.journey.finish()
        }
    }
}
