import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import "../components"

Item {
    id: root
    objectName: "doneScreen"
    required property var journey
    required property var vm

    ColumnLayout {
        anchors.centerIn: parent
        spacing: 20
        width: Math.min(parent.width - 96, 1100)
        Label {
            objectName: "doneTitle"
            // What is true now: saved and being sent, saved for later (offline), or received by the platform
            // (the central acknowledged it). Never 已受理: the department accepts it later.
            text: root.vm.deliveryText
            font.pixelSize: Theme.titleSize
            font.bold: true
            color: Theme.ok
            wrapMode: Text.WordWrap
            horizontalAlignment: Text.AlignHCenter
            Layout.fillWidth: true
        }
        RowLayout {
            Layout.alignment: Qt.AlignHCenter
            spacing: 40
            Image {
                objectName: "receiptQr"
                source: root.vm.receiptQr
                asynchronous: true
                Layout.preferredWidth: 220
                Layout.preferredHeight: 220
                fillMode: Image.PreserveAspectFit
                smooth: false
            }
            ColumnLayout {
                spacing: 12
                Label {
                    text: root.journey.s.receiptLabel
                    font.pixelSize: Theme.bodySize
                    color: Theme.textMuted
                }
                Label {
                    objectName: "receiptNumber"
                    text: root.vm.receiptNumber
                    font.pixelSize: Theme.headingSize
                    font.bold: true
                    font.letterSpacing: 2
                    color: Theme.text
                }
                Label {
                    objectName: "printState"
                    visible: root.vm.printState.length > 0
                    text: root.vm.printState === "printed" ? root.journey.s.printed : root.journey.s.printFailed
                    font.pixelSize: Theme.bodySize
                    color: root.vm.printState === "printed" ? Theme.ok : Theme.error
                }
            }
        }
        BodyText {
            text: root.journey.s.receiptNote
            horizontalAlignment: Text.AlignHCenter
            Layout.fillWidth: true
        }
        BigButton {
            objectName: "finishButton"
            text: root.journey.s.finish
            // Not where 提交申请 was (journey.advanceOnRight alternates the forward button's spot).
            Layout.alignment: root.journey.advanceOnRight ? Qt.AlignRight : Qt.AlignHCenter
            Layout.preferredWidth: 360
            onClicked: root.vm.finish()
        }
    }
}
