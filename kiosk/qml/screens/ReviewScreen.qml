import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import "../components"

Item {
    id: root
    objectName: "reviewScreen"
    required property var journey

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: Theme.margin
        spacing: 16
        ScreenTitle { text: root.journey.itemName + " · " + root.journey.s.reviewTitle; Layout.fillWidth: true }
        ListView {
            id: list
            objectName: "reviewList"
            Layout.fillWidth: true
            Layout.fillHeight: true
            clip: true
            spacing: 6
            model: root.journey.review
            boundsBehavior: Flickable.StopAtBounds
            delegate: RowLayout {
                required property string label
                required property string value
                width: list.width
                spacing: 16
                Label {
                    text: label
                    font.pixelSize: Theme.bodySize
                    color: Theme.textMuted
                    Layout.preferredWidth: list.width * 0.3
                    wrapMode: Text.WordWrap
                }
                Label {
                    text: value
                    font.pixelSize: Theme.bodySize
                    font.bold: true
                    color: Theme.text
                    Layout.fillWidth: true
                    wrapMode: Text.WrapAnywhere
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
        Label {
            text: root.journey.online ? root.journey.s.privacyNote : root.journey.s.offline
            font.pixelSize: Theme.smallSize
            color: root.journey.online ? Theme.textMuted : Theme.warn
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
                objectName: "submitButton"
                text: root.journey.busy ? root.journey.s.saving : root.journey.s.submit
                enabled: !root.journey.busy
                onClicked: root.journey.submit()
            }
        }
    }
}
