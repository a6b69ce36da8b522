import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import "../components"

Item {
    id: root
    objectName: "statusScreen"
    required property var journey
    required property var vm
    // Typing (the keyboard, or the receipt pad): the title and the QR picture make room, so the whole pad
    // and its 查询 stay on screen at 1920x1080 in elder mode (its last row was below the fold).
    readonly property bool typing: Qt.inputMethod.visible || receipt.activeFocus

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: Theme.margin
        spacing: 18
        ScreenTitle { visible: !root.typing; text: root.journey.s.statusTitle; Layout.fillWidth: true }
        // What is typed into scrolls, so the field comes above the keyboard while the error and the
        // buttons below stay in view.
        Flickable {
            id: flick
            objectName: "statusFlick"
            Layout.fillWidth: true
            Layout.fillHeight: true
            clip: true
            contentHeight: flickColumn.implicitHeight
            boundsBehavior: Flickable.StopAtBounds
            ColumnLayout {
                id: flickColumn
                width: flick.width
                spacing: 18
                RowLayout {
                    visible: !root.typing
                    Layout.fillWidth: true
                    spacing: 16
                    // The receipt's QR code is the way in: where to hold it, shown as it is done.
                    PlacementGuide {
                        objectName: "receiptQrGuide"
                        mode: "qr"
                        visible: root.vm.hasScanner
                        caption: root.journey.s.statusScanReceipt
                        Layout.preferredWidth: Theme.elder ? 280 : 240
                        Layout.preferredHeight: implicitHeight
                    }
                    BodyText { text: root.journey.s.statusHint; Layout.fillWidth: true }
                }
                RowLayout {
                    Layout.fillWidth: true
                    spacing: 16
                    KField {
                        id: receipt
                        objectName: "receiptField"
                        Layout.fillWidth: true
                        // The fallback to scanning, typed on the receipt pad below (0-9 and A-Z only), never the
                        // virtual keyboard: read-only to input methods. "KR-" and the dashes are put in for the
                        // resident as the number is typed.
                        inputKind: "receipt"
                        readOnly: true
                        invalid: root.journey.errorText.length > 0
                        // An instruction, not a sample number an old eye takes for one already filled in.
                        placeholderText: root.journey.s.receiptPlaceholder
                        previewLabel: root.journey.s.statusTitle
                        maximumLength: 32
                        // The 19 characters after KR, whatever was put in (typed, or set whole).
                        function raw(t) {
                            const r = t.toUpperCase().replace(/[^0-9A-Z]/g, "")
                            return (r.startsWith("KR") ? r.slice(2) : r).slice(0, 19)
                        }
                        function grouped(r) {
                            if (r.length === 0)
                                return ""
                            return "KR-" + [r.slice(0, 8), r.slice(8, 12), r.slice(12, 18), r.slice(18, 19)]
                                    .filter(p => p.length > 0).join("-")
                        }
                    }
                    BigButton {
                        objectName: "lookupButton"
                        text: root.journey.s.statusLookup
                        onClicked: root.vm.lookupStatus(receipt.text)
                    }
                }
                // Right under the number it is about (at the bottom of a portrait screen, 900 px away, it
                // went unseen).
                Label {
                    objectName: "errorText"
                    text: root.journey.errorText
                    visible: text.length > 0
                    color: Theme.error
                    font.pixelSize: Theme.bodySize
                    wrapMode: Text.Wrap
                    Layout.fillWidth: true
                }
                ReceiptPad {
                    visible: receipt.activeFocus
                    strings: root.journey.s
                    Layout.alignment: Qt.AlignHCenter
                    onTyped: ch => receipt.text = receipt.grouped(receipt.raw(receipt.text) + ch)  // 19 at most
                    onErased: receipt.text = receipt.grouped(receipt.raw(receipt.text).slice(0, -1))
                    onFinished: { receipt.focus = false; root.vm.lookupStatus(receipt.text) }
                }
                RowLayout {
                    Layout.fillWidth: true
                    spacing: 16
                    BigButton {
                        objectName: "statusByCardButton"
                        secondary: true
                        text: root.journey.s.statusByCard
                        onClicked: root.vm.statusByCard()
                    }
                    BigButton {
                        objectName: "statusByPhotoButton"
                        secondary: true
                        visible: root.vm.statusCardWaiting && root.vm.photoIdAvailable
                        text: root.journey.s.statusByPhoto
                        onClicked: root.vm.statusByPhoto()
                    }
                }
                Rectangle {
                    visible: root.vm.statusText.length > 0
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
                            text: root.vm.statusReceipt
                            visible: text.length > 0
                            color: Theme.textMuted
                        }
                        BodyText {
                            objectName: "statusText"
                            text: root.vm.statusText
                            font.pixelSize: Theme.bodySize + 4
                            font.bold: true
                            Layout.fillWidth: true
                        }
                        BodyText {
                            objectName: "statusDetail"
                            text: root.vm.statusDetail
                            visible: text.length > 0
                            wrapMode: Text.Wrap
                            Layout.fillWidth: true
                        }
                        BodyText {
                            objectName: "statusAge"
                            text: root.vm.statusAge
                            visible: text.length > 0
                            color: Theme.textMuted
                        }
                        BodyText {
                            visible: root.vm.statusFound && !root.journey.online
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
                    model: root.vm.statusList
                    delegate: Rectangle {
                        required property int index
                        required property string serviceName
                        required property string receiptNo
                        required property string statusText
                        required property string dateText
                        required property string detailText
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
                            BodyText {
                                objectName: "statusRowDetail_" + index
                                text: detailText
                                visible: text.length > 0
                                wrapMode: Text.Wrap
                                Layout.fillWidth: true
                            }
                            RowLayout {
                                Layout.fillWidth: true
                                BodyText { text: receiptNo; color: Theme.textMuted; Layout.fillWidth: true }
                                BodyText { text: dateText; color: Theme.textMuted }
                            }
                        }
                    }
                }
            }
        }
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
