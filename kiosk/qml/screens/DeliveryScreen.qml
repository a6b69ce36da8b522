import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import "../components"

Item {
    id: root
    objectName: "deliveryScreen"
    required property var journey
    required property var vm
    readonly property bool typing: Qt.inputMethod.visible

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: Theme.margin
        spacing: 20
        ScreenTitle { visible: !root.typing; text: root.journey.s.deliveryTitle; Layout.fillWidth: true }
        // The choices and the address scroll, so the field being typed into comes above the keyboard
        // while the error and 返回/下一步 stay in view.
        Flickable {
            id: flick
            objectName: "deliveryFlick"
            Layout.fillWidth: true
            Layout.fillHeight: true
            clip: true
            contentHeight: deliveryColumn.implicitHeight
            boundsBehavior: Flickable.StopAtBounds
            ColumnLayout {
                id: deliveryColumn
                width: flick.width
                spacing: 20
                RowLayout {
                    spacing: 24
                    BigButton {
                        objectName: "deliveryOnsite"
                        visible: root.vm.deliveryOptions.indexOf("onsite") >= 0
                        secondary: true
                        checkedLook: root.vm.deliveryMethod === "onsite"
                        text: (root.vm.deliveryMethod === "onsite" ? "✔ " : "") + root.journey.s.deliveryOnsite
                        onClicked: root.vm.setDelivery("onsite")
                    }
                    BigButton {
                        objectName: "deliveryPost"
                        visible: root.vm.deliveryOptions.indexOf("post") >= 0
                        secondary: true
                        checkedLook: root.vm.deliveryMethod === "post"
                        text: (root.vm.deliveryMethod === "post" ? "✔ " : "") + root.journey.s.deliveryPost
                        onClicked: root.vm.setDelivery("post")
                    }
                }
                ColumnLayout {
                    visible: root.vm.deliveryMethod === "post"
                    Layout.fillWidth: true
                    spacing: 8
                    Label {
                        text: root.journey.s.deliveryAddress
                        font.pixelSize: Theme.bodySize
                        color: Theme.text
                        wrapMode: Text.Wrap
                        Layout.fillWidth: true
                    }
                    KField {
                        id: addressField
                        objectName: "addressField"
                        Layout.fillWidth: true
                        placeholderText: root.journey.s.tapToType
                        previewLabel: root.journey.s.deliveryAddress
                        maximumLength: root.vm.addressLimit
                        Component.onCompleted: text = root.vm.deliveryAddress
                        onTextChanged: root.vm.setDeliveryAddress(text)
                    }
                    LengthCounter {
                        objectName: "addressCounter"
                        field: addressField
                        limit: root.vm.addressLimit
                        strings: root.journey.s
                    }
                    Label {
                        text: root.journey.s.deliveryPhone
                        font.pixelSize: Theme.bodySize
                        color: Theme.text
                        wrapMode: Text.Wrap
                        Layout.fillWidth: true
                    }
                    KField {
                        objectName: "phoneField"
                        Layout.fillWidth: true
                        inputKind: "phone"
                        placeholderText: root.journey.s.tapToType
                        previewLabel: root.journey.s.deliveryPhone
                        maximumLength: 11
                        Component.onCompleted: text = root.vm.deliveryPhone
                        onTextChanged: root.vm.setDeliveryPhone(text)
                    }
                }
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
                onClicked: root.vm.deliveryNext()
            }
            // In the middle on even steps, at the right on odd ones (journey.advanceOnRight).
            Item { Layout.fillWidth: true; visible: !root.journey.advanceOnRight }
        }
    }
}
