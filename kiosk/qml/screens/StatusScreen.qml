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
        RowLayout {
            Layout.fillWidth: true
            spacing: 16
            BigButton {
                objectName: "statusByCardButton"
                secondary: true
                text: root.journey.s.statusByCard
                onClicked: root.journey.statusByCard()
            }
            BigButton {
                objectName: "statusByPhotoButton"
                secondary: true
                visible: root.journey.statusCardWaiting && root.journey.photoIdAvailable
                text: root.journey.s.statusByPhoto
                onClicked: root.journey.statusByPhoto()
            }
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
        ListView {
            id: statusList
            objectName: "statusList"
            visible: count > 0
            Layout.fillWidth: true
            Layout.preferredHeight: Math.min(contentHeight, 360)
            clip: true
            spacing: 8
            model: root.journey.statusList
            delegate: Rectangle {
                required property int index
                required property string serviceName
                required property string receiptNo
                required property string statusText
                required property string dateText
                objectName: "statusRow_" + index
                width: ListView.view.width
                height: rowColumn.implicitHeight + 20
                radius: Theme.radius
                color: Theme.surface
                border.color: Theme.border
                border.width: 1
                ColumnLayout {
                    id: rowColumn
                    anchors.fill: parent
                    anchors.margins: 10
                    spacing: 4
                    RowLayout {
                        Layout.fillWidth: true
                        BodyText { text: serviceName; font.bold: true; Layout.fillWidth: true }
                        BodyText { objectName: "statusRowText_" + index; text: statusText; font.bold: true }
                    }
                    RowLayout {
                        Layout.fillWidth: true
                        BodyText { text: receiptNo; color: Theme.textMuted; Layout.fillWidth: true }
                        BodyText { text: dateText; color: Theme.textMuted }
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
