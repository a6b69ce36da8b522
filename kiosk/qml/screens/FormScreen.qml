import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import "../components"

Item {
    id: root
    objectName: "formScreen"
    required property var journey

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: 48
        spacing: 28
        Label {
            text: root.journey.itemName + " · 填写信息"
            font.pixelSize: Theme.headingSize
            font.bold: true
            color: Theme.text
        }
        Label {
            text: root.journey.fieldLabel + "（必填）"
            font.pixelSize: Theme.bodySize + 4
            color: Theme.text
        }
        TextField {
            id: nameField
            objectName: "nameField"
            Layout.fillWidth: true
            Layout.preferredHeight: Theme.controlHeight
            font.pixelSize: Theme.headingSize
            placeholderText: "请点击此处输入"
            maximumLength: 50
            focus: true
            onAccepted: root.journey.submit(text)
        }
        Label {
            objectName: "errorText"
            text: root.journey.errorText
            visible: text.length > 0
            color: Theme.error
            font.pixelSize: Theme.bodySize
        }
        Label {
            text: "您的信息将加密保存，仅提交给政务服务平台。"
            font.pixelSize: Theme.bodySize - 4
            color: Theme.textMuted
        }
        Item { Layout.fillHeight: true }
        RowLayout {
            spacing: 32
            Layout.fillWidth: true
            BigButton {
                objectName: "backButton"
                text: "返回"
                secondary: true
                onClicked: root.journey.back()
            }
            Item { Layout.fillWidth: true }
            BigButton {
                objectName: "submitButton"
                text: root.journey.busy ? "正在保存…" : "提交申请"
                enabled: !root.journey.busy
                onClicked: root.journey.submit(nameField.text)
            }
        }
    }
}
