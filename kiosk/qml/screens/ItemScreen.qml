import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import "../components"

Item {
    id: root
    objectName: "itemScreen"
    required property var journey

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: 48
        spacing: 28
        Label {
            text: "请选择办理事项"
            font.pixelSize: Theme.headingSize
            font.bold: true
            color: Theme.text
        }
        Rectangle {
            Layout.fillWidth: true
            Layout.preferredHeight: itemColumn.implicitHeight + 56
            radius: Theme.radius
            color: Theme.surface
            border.color: "#C8D1DC"
            border.width: 2
            ColumnLayout {
                id: itemColumn
                anchors.fill: parent
                anchors.margins: 28
                spacing: 16
                Label {
                    objectName: "itemName"
                    text: root.journey.itemName
                    font.pixelSize: Theme.titleSize - 8
                    font.bold: true
                    color: Theme.primary
                }
                Label {
                    text: "办理部门：" + root.journey.itemDepartment
                    font.pixelSize: Theme.bodySize
                    color: Theme.textMuted
                }
                Label {
                    text: root.journey.itemGuidance
                    font.pixelSize: Theme.bodySize
                    color: Theme.text
                    wrapMode: Text.WordWrap
                    lineHeight: 1.4
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
                text: "返回"
                secondary: true
                onClicked: root.journey.back()
            }
            Item { Layout.fillWidth: true }
            BigButton {
                objectName: "chooseItemButton"
                text: "办理此事项"
                onClicked: root.journey.chooseItem()
            }
        }
    }
}
