import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import "../components"

// Choose a service: search, one row of categories, and the items as pages of large tiles with icons
// (6-8 per page in elder mode) that always fit whole, with 上一页/下一页 and "第 n / m 页" when there are more.
// While the keyboard is open (searching) the title and 返回 make room (in elder mode the categories too), so
// the results are never under the keyboard.
Item {
    id: root
    objectName: "homeScreen"
    required property var journey
    required property var vm
    readonly property bool typing: Qt.inputMethod.visible

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: Theme.margin
        spacing: 20
        RowLayout {
            visible: !root.typing
            Layout.fillWidth: true
            spacing: 20
            ScreenTitle { text: root.journey.s.chooseService; Layout.fillWidth: true }
            BigButton {
                objectName: "statusButton"
                secondary: true
                text: root.journey.s.status
                onClicked: root.vm.openStatus()
            }
            BigButton {
                objectName: "complaintButton"
                secondary: true
                text: root.journey.s.complaint
                onClicked: root.vm.openComplaint()
            }
        }
        KField {
            id: search
            objectName: "searchField"
            Layout.fillWidth: true
            placeholderText: root.journey.s.searchHint
            previewLabel: root.journey.s.searchLabel
            extraHints: Qt.ImhPreferLowercase
            Component.onCompleted: text = root.vm.query
            // What the Pinyin keyboard is still composing counts: j-z-z typed on it finds 居住证 before any
            // candidate is chosen (its spelling shows as "j'z'z").
            onComposedTextChanged: root.vm.setQuery(composedText.replace(/'/g, ""))
        }
        RowLayout {
            id: categoryRow
            visible: !root.typing || !Theme.elder  // in elder mode the results need the room
            Layout.fillWidth: true
            spacing: 8
            readonly property bool overflows: categories.contentWidth > categories.width + 1
            BigButton {
                objectName: "categoriesBack"
                visible: categoryRow.overflows
                secondary: true
                text: "‹"
                implicitWidth: Theme.minTarget + 12
                implicitHeight: Theme.minTarget + 12
                enabled: !categories.atXBeginning
                onClicked: categories.contentX = Math.max(0, categories.contentX - categories.width * 0.8)
            }
            ListView {
                id: categories
                objectName: "categoryList"
                Layout.fillWidth: true
                Layout.preferredHeight: Theme.minTarget + 12
                orientation: ListView.Horizontal
                spacing: 12
                clip: true
                boundsBehavior: Flickable.StopAtBounds
                model: [{ "code": "", "name": root.journey.s.allCategories }].concat(root.vm.categories)
                delegate: BigButton {
                    required property var modelData
                    objectName: modelData.code ? "category_" + modelData.code : "category_all"
                    secondary: modelData.code ? root.vm.category !== modelData.code
                                              : (root.vm.category !== "" || root.vm.query !== "")
                    text: modelData.name
                    implicitWidth: Math.max(Theme.elder ? 160 : 120, contentItem.implicitWidth + 48)
                    implicitHeight: Theme.minTarget + 12
                    onClicked: root.vm.setCategory(modelData.code)
                }
            }
            BigButton {
                objectName: "categoriesNext"
                visible: categoryRow.overflows
                secondary: true
                text: "›"
                implicitWidth: Theme.minTarget + 12
                implicitHeight: Theme.minTarget + 12
                enabled: !categories.atXEnd
                onClicked: categories.contentX = Math.min(categories.contentWidth - categories.width,
                                                          categories.contentX + categories.width * 0.8)
            }
        }
        GridView {
            id: grid
            objectName: "itemGrid"
            Layout.fillWidth: true
            Layout.fillHeight: true
            clip: true
            interactive: false  // pages, not a scroll with a cut-off row
            readonly property int columns: Theme.elder ? (width >= 1150 ? 3 : 2) : (width >= 1500 ? 4 : 3)
            // Whole rows only; elder mode shows 6-8 tiles a page (no more than 8).
            readonly property int rows: Math.max(1, Math.min(Math.floor(height / Theme.tileHeight),
                                                             Theme.elder ? Math.floor(8 / columns) : 4))
            readonly property int perPage: columns * rows
            readonly property int pages: Math.max(1, Math.ceil(count / perPage))
            property int page: 0
            cellWidth: Math.floor(width / columns)
            cellHeight: Math.floor(height / rows)
            contentY: page * rows * cellHeight
            model: root.vm.catalogItems
            onCountChanged: page = 0
            onPerPageChanged: page = 0
            delegate: Item {
                id: cell
                required property string code
                required property string name
                required property string category
                required property string icon
                width: grid.cellWidth
                height: grid.cellHeight
                Button {
                    id: tile
                    objectName: "itemTile_" + cell.code
                    anchors.fill: parent
                    anchors.margins: 8
                    padding: Theme.elder ? 16 : 12
                    onClicked: root.vm.openItem(cell.code)
                    background: Rectangle {
                        radius: Theme.radius
                        color: tile.down ? Theme.selected : Theme.surface
                        border.color: Theme.primary
                        border.width: 2
                    }
                    contentItem: RowLayout {
                        spacing: Theme.elder ? 16 : 12
                        TileIcon {
                            icon: cell.icon
                            label: cell.category
                            Layout.alignment: Qt.AlignVCenter
                        }
                        ColumnLayout {
                            Layout.fillWidth: true
                            Layout.alignment: Qt.AlignVCenter
                            spacing: 4
                            Label {
                                Layout.fillWidth: true
                                text: cell.name
                                font.pixelSize: Theme.bodySize + 2
                                font.bold: true
                                color: Theme.primary
                                wrapMode: Text.Wrap
                            }
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
            wrapMode: Text.Wrap
            Layout.fillWidth: true
        }
        RowLayout {
            Layout.fillWidth: true
            spacing: 20
            BigButton {
                objectName: "backButton"
                visible: !root.typing
                text: root.journey.s.back
                secondary: true
                onClicked: root.journey.back()
            }
            Item { Layout.fillWidth: true }
            BigButton {
                objectName: "pagePrevButton"
                visible: grid.pages > 1
                secondary: true
                enabled: grid.page > 0
                text: "‹ " + root.journey.s.pagePrev
                onClicked: grid.page = Math.max(0, grid.page - 1)
            }
            Label {
                objectName: "pageText"
                visible: grid.pages > 1
                text: root.journey.s.pageOf.replace("{n}", grid.page + 1).replace("{m}", grid.pages)
                font.pixelSize: Theme.bodySize
                color: Theme.text
            }
            BigButton {
                objectName: "pageNextButton"
                visible: grid.pages > 1
                enabled: grid.page < grid.pages - 1
                text: root.journey.s.pageNext + " ›"
                onClicked: grid.page = Math.min(grid.pages - 1, grid.page + 1)
            }
        }
    }
}
