import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import "../components"

Item {
    id: root
    objectName: "itemScreen"
    required property var journey
    required property var vm

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: Theme.margin
        spacing: 24
        Rectangle {
            Layout.fillWidth: true
            Layout.preferredHeight: itemColumn.implicitHeight + 56
            radius: Theme.radius
            color: Theme.surface
            border.color: Theme.border
            border.width: 2
            ColumnLayout {
                id: itemColumn
                anchors.fill: parent
                anchors.margins: 28
                spacing: 16
                Label {
                    objectName: "itemName"
                    text: root.journey.itemName
                    font.pixelSize: Theme.titleSize - 6
                    font.bold: true
                    color: Theme.primary
                    wrapMode: Text.WordWrap
                    Layout.fillWidth: true
                }
                BodyText {
                    text: root.journey.s.department + root.vm.itemDepartment
                    color: Theme.textMuted
                    Layout.fillWidth: true
                }
                BodyText {
                    objectName: "itemGuidance"
                    text: root.vm.itemGuidance
                    Layout.fillWidth: true
                }
                BodyText {
                    visible: root.vm.itemMaterials.length > 0
                    text: root.journey.s.materialsNeeded + root.journey.s.colon + root.vm.itemMaterials
                    Layout.fillWidth: true
                }
            }
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
                objectName: "chooseItemButton"
                text: root.journey.s.handle
                onClicked: root.vm.chooseItem()
            }
        }
    }
}
