import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import "../components"

Item {
    id: root
    objectName: "homeScreen"
    required property var journey

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: Theme.margin
        spacing: 20
        RowLayout {
            Layout.fillWidth: true
            spacing: 20
            ScreenTitle { text: root.journey.s.chooseService; Layout.fillWidth: true }
            BigButton {
                objectName: "statusButton"
                secondary: true
                text: root.journey.s.status
                onClicked: root.journey.openStatus()
            }
            BigButton {
                objectName: "complaintButton"
                secondary: true
                text: root.journey.s.complaint
                onClicked: root.journey.openComplaint()
            }
        }
        KField {
            id: search
            objectName: "searchField"
            Layout.fillWidth: true
            placeholderText: root.journey.s.searchHint
            extraHints: Qt.ImhPreferLowercase
            text: root.journey.query
            onTextChanged: root.journey.setQuery(text)
        }
        Flow {
            Layout.fillWidth: true
            spacing: 12
            BigButton {
                objectName: "category_all"
                secondary: root.journey.category !== "" || root.journey.query !== ""
                text: root.journey.s.allCategories
                implicitHeight: Theme.minTarget + 12
                onClicked: root.journey.setCategory("")
            }
            Repeater {
                model: root.journey.categories
                delegate: BigButton {
                    required property var modelData
                    objectName: "category_" + modelData.code
                    secondary: root.journey.category !== modelData.code
                    text: modelData.name
                    implicitHeight: Theme.minTarget + 12
                    onClicked: root.journey.setCategory(modelData.code)
                }
            }
        }
        GridView {
            id: grid
            objectName: "itemGrid"
            Layout.fillWidth: true
            Layout.fillHeight: true
            clip: true
            cellWidth: width / (Theme.elder ? 2 : 3)
            cellHeight: Theme.tileHeight + 16
            model: root.journey.catalogItems
            boundsBehavior: Flickable.StopAtBounds
            delegate: Item {
                required property string code
                required property string name
                required property string category
                width: grid.cellWidth
                height: grid.cellHeight
                Button {
                    objectName: "itemTile_" + code
                    anchors.fill: parent
                    anchors.margins: 8
                    onClicked: root.journey.openItem(code)
                    background: Rectangle {
                        radius: Theme.radius
                        color: parent.down ? Theme.selected : Theme.surface
                        border.color: Theme.primary
                        border.width: 2
                    }
                    contentItem: Column {
                        spacing: 6
                        Label {
                            width: parent.width
                            text: name
                            font.pixelSize: Theme.bodySize + 2
                            font.bold: true
                            color: Theme.primary
                            wrapMode: Text.WordWrap
                            maximumLineCount: 2
                            elide: Text.ElideRight
                        }
                        Label {
                            width: parent.width
                            text: category
                            visible: category.length > 0
                            font.pixelSize: Theme.smallSize
                            color: Theme.textMuted
                        }
                    }
                }
            }
        }
        Label {
            objectName: "noResults"
            visible: grid.count === 0
            text: root.journey.s.noResults
            font.pixelSize: Theme.bodySize
            color: Theme.textMuted
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
