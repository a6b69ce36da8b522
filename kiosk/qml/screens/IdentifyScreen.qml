import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import "../components"

Item {
    id: root
    objectName: "identifyScreen"
    required property var journey
    required property var vm

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: Theme.margin
        spacing: 24
        ScreenTitle { text: root.journey.itemName + " · " + root.journey.s.identifyTitle; Layout.fillWidth: true }
        RowLayout {
            Layout.fillWidth: true
            Layout.fillHeight: true
            spacing: 24
            ColumnLayout {
                Layout.fillWidth: true
                Layout.fillHeight: true
                spacing: 20
                BodyText {
                    text: "① " + root.journey.s.identifyCard
                    font.pixelSize: Theme.bodySize + 4
                    font.bold: true
                    visible: root.vm.hasIdCardReader
                    Layout.fillWidth: true
                }
                BodyText {
                    text: "② " + root.journey.s.identifyQr
                    visible: root.vm.hasScanner
                    Layout.fillWidth: true
                }
                BodyText {
                    text: "③ " + root.journey.s.identifyPhotoHint
                    visible: root.vm.photoIdAvailable
                    Layout.fillWidth: true
                }
                RowLayout {  // animated pictures: where the card goes, where to hold a QR code
                    objectName: "placementGuides"
                    spacing: 24
                    Layout.fillWidth: true
                    PlacementGuide {
                        objectName: "cardGuide"
                        mode: "card"
                        visible: root.vm.hasIdCardReader
                        caption: root.journey.s.guideCard
                        readerLabel: root.journey.s.guideReaderPad
                        Layout.preferredWidth: Theme.elder ? 320 : 280
                        Layout.preferredHeight: implicitHeight
                    }
                    PlacementGuide {
                        objectName: "qrGuide"
                        mode: "qr"
                        visible: root.vm.hasScanner
                        caption: root.journey.s.guideQr
                        Layout.preferredWidth: Theme.elder ? 320 : 280
                        Layout.preferredHeight: implicitHeight
                    }
                }
                BodyText {
                    objectName: "identifyStatusText"
                    text: root.vm.identifyStatus
                    visible: text.length > 0
                    color: root.vm.identifyBusy ? Theme.text : Theme.error
                    font.bold: true
                    Layout.fillWidth: true
                }
                Item { Layout.fillHeight: true }
            }
            Rectangle {
                visible: root.vm.photoIdAvailable
                Layout.preferredWidth: 480
                Layout.preferredHeight: 360
                color: "#202020"
                Image {
                    objectName: "identifyPreview"
                    anchors.fill: parent
                    fillMode: Image.PreserveAspectFit
                    asynchronous: true
                    cache: false
                    source: root.vm.previewFrame > 0 ? "image://camera/document?" + root.vm.previewFrame : ""
                }
            }
        }
        RowLayout {
            spacing: 24
            Layout.fillWidth: true
            BigButton {
                objectName: "backButton"
                text: root.journey.s.back
                secondary: true
                onClicked: root.journey.back()
            }
            Item { Layout.fillWidth: true }
            BigButton {
                objectName: "photoButton"
                text: root.journey.s.identifyPhoto
                secondary: true
                enabled: !root.vm.identifyBusy
                onClicked: root.vm.identifyByPhoto()
            }
            BigButton {
                objectName: "manualButton"
                text: root.journey.s.identifyManual
                secondary: true
                onClicked: root.vm.identifyManual()
            }
            // In the middle on even steps, at the right on odd ones (journey.advanceOnRight).
            Item { Layout.fillWidth: true; visible: !root.journey.advanceOnRight }
        }
    }
}
