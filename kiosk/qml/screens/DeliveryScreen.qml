import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import "../components"

Item {
    id: root
    objectName: "deliveryScreen"
    required property var journey

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: Theme.margin
        spacing: 20
        ScreenTitle { text: root.journey.s.deliveryTitle; Layout.fillWidth: true }
        RowLayout {
            spacing: 24
            BigButton {
                objectName: "deliveryOnsite"
                visible: root.journey.deliveryOptions.indexOf("onsite") >= 0
                secondary: true
                checkedLook: root.journey.deliveryMethod === "onsite"
                text: (root.journey.deliveryMethod === "onsite" ? "✔ " : "") + root.journey.s.deliveryOnsite
                onClicked: root.journey.setDelivery("onsite")
            }
            BigButton {
                objectName: "deliveryPost"
                visible: root.journey.deliveryOptions.indexOf("post") >= 0
                secondary: true
                checkedLook: root.journey.deliveryMethod === "post"
                text: (root.journey.deliveryMethod === "post" ? "✔ " : "") + root.journey.s.deliveryPost
                onClicked: root.journey.setDelivery("post")
            }
        }
        ColumnLayout {
            visible: root.journey.deliveryMethod === "post"
            Layout.fillWidth: true
            spacing: 8
            Label { text: root.journey.s.deliveryAddress; font.pixelSize: Theme.bodySize; color: Theme.text }
            KField {
                objectName: "addressField"
                Layout.fillWidth: true
                placeholderText: root.journey.s.tapToType
                maximumLength: 100
                Component.onCompleted: text = root.journey.deliveryAddress
                onTextChanged: root.journey.setDeliveryAddress(text)
            }
            Label { text: root.journey.s.deliveryPhone; font.pixelSize: Theme.bodySize; color: Theme.text }
            KField {
                objectName: "phoneField"
                Layout.fillWidth: true
                inputKind: "phone"
                placeholderText: root.journey.s.tapToType
                maximumLength: 11
                Component.onCompleted: text = root.journey.deliveryPhone
                onTextChanged: root.journey.setDeliveryPhone(text)
            }
        }
        Label {
            objectName: "errorText"
            text: root.journey.errorText
            visible: text.length > 0
            color: Theme.error
            font.pixelSize: Theme.bodySize
            Layout.fillWidth: true
            wrapMode: Text.WordWrap
        }
        Item { Layout.fillHeight: true }
        RowLayout {
            spacing: 32
            Layout.fillWidth: true
            BigButton {
                objectName: "backButton"
                text: root.journey.s.back
                secondary: true
                onClicked: root.journey.back()
            }
            Item { Layout.fillWidth: true }
            BigButton {
                objectName: "deliveryNextButton"
                text: root.journey.s.next
                onClicked: root.journey.deliveryNext()
            }
        }
    }
}
