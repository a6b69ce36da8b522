import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import "../components"

Item {
    id: root
    objectName: "formScreen"
    required property var journey

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: Theme.margin
        spacing: 16
        ScreenTitle { text: root.journey.itemName + " · " + root.journey.s.fillForm; Layout.fillWidth: true }
        Rectangle {
            visible: root.journey.identified
            Layout.fillWidth: true
            Layout.preferredHeight: identityColumn.implicitHeight + 24
            radius: Theme.radius
            color: "#E6F4EA"
            ColumnLayout {
                id: identityColumn
                anchors.fill: parent
                anchors.margins: 12
                BodyText {
                    objectName: "identityBanner"
                    text: "✔ " + root.journey.s.identifyDone
                          + (root.journey.identityName ? "  " + root.journey.s.name + "：" + root.journey.identityName : "")
                          + (root.journey.identityIdMasked ? "  " + root.journey.s.idNumber + "：" + root.journey.identityIdMasked : "")
                    color: Theme.ok
                    Layout.fillWidth: true
                }
                BodyText {
                    objectName: "hintsText"
                    visible: root.journey.hints.length > 0
                    text: root.journey.s.hints + root.journey.hints.join("；")
                    font.pixelSize: Theme.smallSize
                    Layout.fillWidth: true
                }
            }
        }
        Flickable {
            id: flick
            Layout.fillWidth: true
            Layout.fillHeight: true
            clip: true
            contentHeight: fieldsColumn.implicitHeight
            boundsBehavior: Flickable.StopAtBounds
            ColumnLayout {
                id: fieldsColumn
                width: flick.width
                spacing: 12
                Repeater {
                    model: root.journey.formFields
                    delegate: ColumnLayout {
                        id: row
                        required property int index
                        required property string fieldId
                        required property string objName
                        required property string label
                        required property string inputKind
                        required property bool isRequired
                        required property string value
                        required property string error
                        required property bool locked
                        required property string shown
                        required property var options
                        Layout.fillWidth: true
                        spacing: 6
                        Label {
                            text: row.label + (row.isRequired ? root.journey.s.required : root.journey.s.optional)
                            font.pixelSize: Theme.bodySize
                            color: Theme.text
                        }
                        KField {
                            objectName: row.objName
                            visible: row.options.length === 0
                            Layout.fillWidth: true
                            inputKind: row.inputKind
                            readOnly: row.locked
                            enabled: !row.locked
                            invalid: row.error.length > 0
                            placeholderText: root.journey.s.tapToType
                            maximumLength: 100
                            Component.onCompleted: text = row.locked ? row.shown : row.value
                            onTextChanged: if (!row.locked) root.journey.setFieldValue(row.index, text)
                        }
                        Flow {
                            visible: row.options.length > 0
                            Layout.fillWidth: true
                            spacing: 12
                            Repeater {
                                model: row.options
                                delegate: BigButton {
                                    required property var modelData
                                    objectName: row.objName + "_option_" + modelData.value
                                    property bool chosen: false
                                    secondary: true
                                    checkedLook: chosen
                                    text: (chosen ? "✔ " : "") + modelData.label
                                    Component.onCompleted: chosen = (row.value === modelData.value)
                                    onClicked: { root.journey.setFieldValue(row.index, modelData.value); root.selected(row.index, modelData.value) }
                                    Connections {
                                        target: root
                                        function onSelected(r, v) { if (r === row.index) chosen = (v === modelData.value) }
                                    }
                                }
                            }
                        }
                        Label {
                            objectName: "error_" + row.fieldId
                            visible: row.error.length > 0
                            text: row.error
                            color: Theme.error
                            font.pixelSize: Theme.smallSize
                        }
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
            wrapMode: Text.WordWrap
            Layout.fillWidth: true
        }
        Label {
            text: root.journey.s.privacyNote
            font.pixelSize: Theme.smallSize
            color: Theme.textMuted
            wrapMode: Text.WordWrap
            Layout.fillWidth: true
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
                objectName: "formNextButton"
                text: root.journey.s.next
                onClicked: root.journey.formNext()
            }
        }
    }
    signal selected(int row, string value)
}
