import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import "../components"

Item {
    id: root
    objectName: "identifyScreen"
    required property var journey

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
                    visible: root.journey.hasIdCardReader
                    Layout.fillWidth: true
                }
                BodyText {
                    text: "② " + root.journey.s.identifyQr
                    visible: root.journey.hasScanner
                    Layout.fillWidth: true
                }
                BodyText {
                    text: "③ " + root.journey.s.identifyPhotoHint
                    visible: root.journey.photoIdAvailable
                    Layout.fillWidth: true
                }
                BodyText {
                    objectName: "identifyStatusText"
                    text: root.journey.identifyStatus
                    visible: text.length > 0
                    color: root.journey.identifyBusy ? Theme.text : Theme.error
                    font.bold: true
                    Layout.fillWidth: true
                }
                Item { Layout.fillHeight: true }
            }
            Rectangle {
                visible: root.journey.photoIdAvailable
                Layout.preferredWidth: 480
                Layout.preferredHeight: 360
                color: "#202020"
                Image {
                    objectName: "identifyPreview"
                    anchors.fill: parent
                    fillMode: Image.PreserveAspectFit
                    asynchronous: true
                    cache: false
                    source: root.journey.previewFrame > 0 ? "image://camera/document?" + root.journey.previewFrame : ""
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
                enabled: !root.journey.identifyBusy
                onClicked: root.journey.identifyByPhoto()
            }
            BigButton {
                objectName: "manualButton"
                text: root.journey.s.identifyManual
                secondary: true
                onClicked: root.journey.identifyManual()
            }
        }
    }
}
