import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import "../components"

Item {
    id: root
    objectName: "reviewScreen"
    required property var journey
    required property var vm

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
            model: root.vm.review
            boundsBehavior: Flickable.StopAtBounds
            delegate: RowLayout {
                required property string label
                required property string value
                required property bool masked
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
                    // A typed ID number is shown in full and spaced 6-8-4 so it can be checked digit by digit.
                    font.letterSpacing: masked ? 0 : 1
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
        // 告知承诺: submission needs this box ticked. The submit button sits in the middle, never where the
        // previous screen's 下一步 was, so a double tap on 下一步 cannot submit.
        Rectangle {
            objectName: "commitmentBox"
            Layout.fillWidth: true
            Layout.preferredHeight: Math.max(Theme.controlHeight, commitmentRow.implicitHeight + 16)
            radius: Theme.radius
            color: root.vm.committed ? Theme.selected : Theme.surface
            border.color: Theme.primary
            border.width: 2
            Accessible.role: Accessible.CheckBox
            Accessible.name: root.vm.commitmentText
            Accessible.checked: root.vm.committed
            RowLayout {
                id: commitmentRow
                anchors.fill: parent
                anchors.margins: 8
                spacing: 16
                Rectangle {
                    Layout.preferredWidth: Theme.minTarget - 8
                    Layout.preferredHeight: Theme.minTarget - 8
                    radius: 6
                    border.color: Theme.primary
                    border.width: 3
                    color: root.vm.committed ? Theme.primary : Theme.surface
                    Label {
                        anchors.centerIn: parent
                        text: "✔"
                        visible: root.vm.committed
                        color: "white"
                        font.pixelSize: Theme.bodySize
                    }
                }
                ColumnLayout {
                    Layout.fillWidth: true
                    spacing: 2
                    Label {
                        objectName: "commitmentText"
                        text: root.vm.commitmentText  // the item's own 告知承诺, else the general one
                        font.pixelSize: Theme.bodySize
                        font.bold: true
                        color: Theme.text
                        wrapMode: Text.WordWrap
                        Layout.fillWidth: true
                    }
                    Label {
                        text: root.journey.s.commitmentNote
                        font.pixelSize: Theme.smallSize
                        color: Theme.textMuted
                        wrapMode: Text.WordWrap
                        Layout.fillWidth: true
                    }
                }
            }
            MouseArea {
                anchors.fill: parent
                onClicked: root.vm.setCommitted(!root.vm.committed)
            }
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
                text: root.journey.busy ? root.journey.s.saving
                      : root.vm.needsSignature ? root.journey.s.reviewToSign : root.journey.s.submit
                enabled: !root.journey.busy && root.vm.committed
                onClicked: root.vm.submit()
            }
            // In the middle on even steps, at the right on odd ones (journey.advanceOnRight).
            Item { Layout.fillWidth: true; visible: !root.journey.advanceOnRight }
        }
    }
}
