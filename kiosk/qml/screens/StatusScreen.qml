import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import "../components"

Item {
    id: root
    objectName: "statusScreen"
    required property var journey

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: Theme.margin
        spacing: 18
        ScreenTitle { text: root.journey.s.statusTitle; Layout.fillWidth: true }
        BodyText { text: root.journey.s.statusHint; Layout.fillWidth: true }
        RowLayout {
            Layout.fillWidth: true
            spacing: 16
            KField {
                id: receipt
                objectName: "receiptField"
                Layout.fillWidth: true
                inputKind: "idnumber"
                placeholderText: "KR-20260101-XXXX-000001-X"
                maximumLength: 32
            }
            BigButton {
                objectName: "lookupButton"
                text: root.journey.s.statusLookup
                onClicked: root.journey.lookupStatus(receipt.text)
            }
        }
        BigButton {
            objectName: "statusByCardButton"
            secondary: true
            text: root.journey.s.statusByCard
            onClicked: root.journey.statusByCard()
        }
        Rectangle {
            visible: root.journey.statusText.length > 0
            Layout.fillWidth: true
            Layout.preferredHeight: statusColumn.implicitHeight + 32
            radius: Theme.radius
            color: Theme.surface
            border.color: Theme.border
            border.width: 2
            ColumnLayout {
                id: statusColumn
                anchors.fill: parent
                anchors.margins: 16
                spacing: 8
                BodyText {
                    text: root.journey.statusReceipt
                    visible: text.length > 0
                    color: Theme.textMuted
                }
                BodyText {
                    objectName: "statusText"
                    text: root.journey.statusText
                    font.pixelSize: Theme.bodySize + 4
                    font.bold: true
                    Layout.fillWidth: true
                }
                BodyText {
                    objectName: "statusAge"
                    text: root.journey.statusAge
                    visible: text.length > 0
                    color: Theme.textMuted
                }
                BodyText {
                    visible: root.journey.statusFound && !root.journey.online
                    text: root.journey.s.statusOfflineNote
                    color: Theme.warn
                    Layout.fillWidth: true
                }
            }
        }
        Label {
            objectName: "errorText"
            text: root.journey.errorText
            visible: text.length > 0
            color: Theme.error
            font.pixelSize: Theme.bodySize
        }
        Item { Layout.fillHeight: true }
        RowLayout {
            Layout.fillWidth: true
            BigButton {
                objectName: "backButton"
                text: root.journey.s.back
                secondary: true
                onClicked: root.journey.back()
            }
            Item { Layout.fillWidth: true }
        }
    }
}
