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
        spacing: 20
        width: Math.min(parent.width - 96, 1100)
        Label {
            objectName: "doneTitle"
            text: root.journey.submittedOnline ? root.journey.s.doneOnline : root.journey.s.doneOffline
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
                source: root.journey.receiptQr
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
                    text: root.journey.receiptNumber
                    font.pixelSize: Theme.headingSize
                    font.bold: true
                    font.letterSpacing: 2
                    color: Theme.text
                }
                Label {
                    objectName: "printState"
                    visible: root.journey.printState.length > 0
                    text: root.journey.printState === "printed" ? root.journey.s.printed : root.journey.s.printFailed
                    font.pixelSize: Theme.bodySize
                    color: root.journey.printState === "printed" ? Theme.ok : Theme.error
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
            Layout.alignment: Qt.AlignHCenter
            Layout.preferredWidth: 360
            onClicked: root.journey.finish()
        }
    }
}
