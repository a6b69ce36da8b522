import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import "../components"

// A numeric PIN pad with large keys; the digits never show, only one dot per digit.
ColumnLayout {
    id: root
    objectName: "servicePinPad"
    required property var service
    property string title: ""
    spacing: 16
    width: 520

    ScreenTitle { text: root.title; Layout.alignment: Qt.AlignHCenter }
    Label {
        objectName: "pinDots"
        text: "●".repeat(root.service.pinPage.pinLength) + "○".repeat(Math.max(0, 6 - root.service.pinPage.pinLength))
        font.pixelSize: 40
        color: Theme.text
        Layout.alignment: Qt.AlignHCenter
    }
    Label {
        objectName: "pinMessage"
        text: root.service.message
        color: root.service.messageOk ? Theme.textMuted : Theme.error
        font.pixelSize: Theme.bodySize
        wrapMode: Text.WordWrap
        horizontalAlignment: Text.AlignHCenter
        Layout.fillWidth: true
    }
    GridLayout {
        columns: 3
        rowSpacing: 12
        columnSpacing: 12
        Layout.alignment: Qt.AlignHCenter
        Repeater {
            model: ["1", "2", "3", "4", "5", "6", "7", "8", "9"]
            delegate: BigButton {
                required property string modelData
                objectName: "pinKey" + modelData
                text: modelData
                secondary: true
                implicitWidth: 150
                implicitHeight: 96
                font.pixelSize: 40
                onClicked: root.service.pinPage.pinDigit(modelData)
            }
        }
        BigButton {
            objectName: "pinBack"
            text: root.service.s.svcDelete
            secondary: true
            implicitWidth: 150
            implicitHeight: 96
            onClicked: root.service.pinPage.pinBackspace()
        }
        BigButton {
            objectName: "pinKey0"
            text: "0"
            secondary: true
            implicitWidth: 150
            implicitHeight: 96
            font.pixelSize: 40
            onClicked: root.service.pinPage.pinDigit("0")
        }
        BigButton {
            objectName: "pinOk"
            text: root.service.s.svcOk
            enabled: !root.service.busy
            implicitWidth: 150
            implicitHeight: 96
            onClicked: root.service.pinPage.pinSubmit()
        }
    }
    BigButton {
        objectName: "pinCancel"
        text: root.service.s.svcCancel
        secondary: true
        Layout.alignment: Qt.AlignHCenter
        onClicked: root.service.pinPage.pinCancel()
    }
}
