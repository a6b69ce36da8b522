import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import "../components"

Item {
    id: root
    objectName: "formScreen"
    required property var journey
    required property var vm
    // While the keyboard is open only the fields, the error and 返回/下一步 stay: the field being typed
    // into always has room above the keyboard (kiosk/qml/components/KioskKeyboard.qml scrolls to it).
    // The ID pad counts as typing too: the title and banner make room so the pad and its field fit.
    readonly property bool typing: Qt.inputMethod.visible || openPad !== null
    property var openPad: null  // the ID pad shown now (one field has the focus at a time) and its field
    property var openField: null
    Timer {  // once laid out without the title: the whole pad in view, the field above it if there is room
        id: padScroll
        interval: 60
        repeat: true
        property int passes: 0
        onTriggered: {
            const pad = root.openPad
            if (pad !== null) {
                // In view, by priority: the whole pad, then its field above it, then the length counter below.
                const padTop = pad.mapToItem(flick.contentItem, 0, 0).y
                const padBottom = padTop + pad.height + 8
                const fieldTop = root.openField !== null ? root.openField.mapToItem(flick.contentItem, 0, 0).y - 8
                                                         : padTop
                // The first of these spans that fits, moved into view as little as needed.
                for (const [top, bottom] of [[fieldTop, padBottom + 40], [fieldTop, padBottom], [padTop - 8, padBottom]]) {
                    if (bottom - top > flick.height)
                        continue
                    let y = flick.contentY
                    if (bottom > y + flick.height)
                        y = bottom - flick.height
                    if (top < y)
                        y = top
                    flick.contentY = Math.max(0, Math.min(y, flick.contentHeight - flick.height))
                    break
                }
            }
            if (++passes >= 4)
                stop()
        }
    }

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: Theme.margin
        spacing: 16
        ScreenTitle {
            visible: !root.typing
            text: root.journey.itemName + " · " + root.journey.s.fillForm
            Layout.fillWidth: true
        }
        Rectangle {
            visible: root.vm.identified && !root.typing
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
                          + (root.vm.identityName ? "  " + root.journey.s.name + root.journey.s.colon + root.vm.identityName : "")
                          + (root.vm.identityIdMasked ? "  " + root.journey.s.idNumber + root.journey.s.colon + root.vm.identityIdMasked : "")
                    color: Theme.ok
                    Layout.fillWidth: true
                }
                BodyText {
                    objectName: "hintsText"
                    visible: root.vm.hints.length > 0
                    text: root.journey.s.hints + root.vm.hints.join(root.journey.s.listSep)
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
                    model: root.vm.formFields
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
                        required property int limit
                        readonly property bool idPadField: row.inputKind === "idnumber" && !row.locked
                        Layout.fillWidth: true
                        spacing: 6
                        Label {
                            text: row.label + (row.isRequired ? root.journey.s.required : root.journey.s.optional)
                            font.pixelSize: Theme.bodySize
                            color: Theme.text
                            wrapMode: Text.Wrap
                            Layout.fillWidth: true
                        }
                        KField {
                            id: field
                            objectName: row.objName
                            visible: row.options.length === 0
                            Layout.fillWidth: true
                            inputKind: row.inputKind
                            // An ID number is typed on the 0–9 + X pad below, never the virtual keyboard:
                            // a read-only field takes no input method, so Pinyin cannot turn X into 下.
                            readOnly: row.locked || row.idPadField
                            enabled: !row.locked
                            invalid: row.error.length > 0
                            placeholderText: root.journey.s.tapToType
                            previewLabel: row.label
                            // (an ID number may arrive with spaces or full-width digits: the form normalises it to 18)
                            maximumLength: row.idPadField ? 2 * row.limit : row.limit
                            Component.onCompleted: text = row.locked ? row.shown : row.value
                            onTextChanged: {
                                if (row.locked)
                                    return
                                root.vm.setFieldValue(row.index, text)
                                const kept = root.vm.fieldValue(row.index)  // what the field accepts
                                if (kept !== text)
                                    text = kept
                            }
                        }
                        IdPad {
                            objectName: "idPad_" + row.fieldId
                            visible: row.idPadField && field.activeFocus
                            strings: root.journey.s
                            Layout.alignment: Qt.AlignHCenter
                            onTyped: ch => field.text = field.text + ch  // (the field is read-only to input methods)
                            onErased: field.text = field.text.slice(0, -1)
                            onFinished: field.focus = false
                            onVisibleChanged: {
                                if (visible) {
                                    root.openField = field
                                    root.openPad = this
                                    padScroll.passes = 0
                                    padScroll.restart()
                                } else if (root.openPad === this) {
                                    root.openPad = null
                                    root.openField = null
                                }
                            }
                        }
                        Label {
                            // Length limits are shown, never a silent cut: 23/100, and a word at the limit.
                            objectName: "counter_" + row.fieldId
                            visible: row.options.length === 0 && !row.locked && field.activeFocus
                            text: field.length >= row.limit
                                  ? root.journey.s.limitReached.replace("{max}", row.limit)
                                  : root.journey.s.counter.replace("{n}", field.length).replace("{max}", row.limit)
                            color: field.length >= row.limit ? Theme.warn : Theme.textMuted
                            font.pixelSize: Theme.smallSize
                            Layout.alignment: Qt.AlignRight
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
                                    onClicked: { root.vm.setFieldValue(row.index, modelData.value); root.selected(row.index, modelData.value) }
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
                            wrapMode: Text.Wrap
                            Layout.fillWidth: true
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
            visible: !root.typing
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
                onClicked: root.vm.formNext()
            }
            // In the middle on even steps, at the right on odd ones (journey.advanceOnRight).
            Item { Layout.fillWidth: true; visible: !root.journey.advanceOnRight }
        }
    }
    signal selected(int row, string value)
}
