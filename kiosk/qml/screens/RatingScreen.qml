import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import "../components"

// 好差评: the five national levels; 不满意 and 非常不满意 ask for a reason.
Item {
    id: root
    objectName: "ratingScreen"
    required property var journey
    required property var vm
    property var chosenReasons: []

    function toggleReason(key) {
        var list = root.chosenReasons.slice()
        var i = list.indexOf(key)
        if (i >= 0) list.splice(i, 1); else list.push(key)
        root.chosenReasons = list
    }

    readonly property bool typing: Qt.inputMethod.visible

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: Theme.margin
        spacing: 20
        ScreenTitle { visible: !root.typing; text: root.journey.s.rateTitle; Layout.fillWidth: true }
        // The five levels in one column (none left alone on a second row), then the reasons for a 差评;
        // all of it scrolls, so the reason field can come above the keyboard.
        Flickable {
            id: flick
            objectName: "ratingFlick"
            Layout.fillWidth: true
            Layout.fillHeight: true
            clip: true
            contentHeight: ratingColumn.implicitHeight
            boundsBehavior: Flickable.StopAtBounds
            ColumnLayout {
                id: ratingColumn
                width: flick.width
                spacing: 20
                ColumnLayout {
                    objectName: "ratingLevels"
                    Layout.fillWidth: true
                    spacing: 12
                    Repeater {
                        model: root.vm.ratingLevels
                        delegate: BigButton {
                            required property var modelData
                            objectName: "rate_" + modelData.level
                            secondary: true
                            checkedLook: root.vm.ratingLevel === modelData.level
                            text: (root.vm.ratingLevel === modelData.level ? "✔ " : "") + modelData.text
                            Layout.fillWidth: true
                            Layout.maximumWidth: 720
                            onClicked: root.vm.rate(modelData.level)
                        }
                    }
                }
                ColumnLayout {
                    id: reasons
                    visible: root.vm.ratingNeedsReason
                    Layout.fillWidth: true
                    spacing: 12
                    // A 差评 shows its questions below the levels: bring them into view.
                    onVisibleChanged: if (visible) Qt.callLater(function() {
                        flick.contentY = Math.max(0, Math.min(reasons.y, flick.contentHeight - flick.height))
                    })
                    BodyText { text: root.journey.s.rateReasonTitle; font.bold: true; Layout.fillWidth: true }
                    Flow {
                        Layout.fillWidth: true
                        spacing: 12
                        Repeater {
                            model: root.vm.ratingReasons
                            delegate: BigButton {
                                required property var modelData
                                objectName: "reason_" + modelData.key
                                secondary: true
                                checkedLook: root.chosenReasons.indexOf(modelData.key) >= 0
                                text: (checkedLook ? "✔ " : "") + modelData.text
                                implicitHeight: Theme.minTarget + 8
                                onClicked: root.toggleReason(modelData.key)
                            }
                        }
                    }
                    KField {
                        id: reasonText
                        objectName: "reasonText"
                        Layout.fillWidth: true
                        placeholderText: root.journey.s.reasonOther
                        previewLabel: root.journey.s.rateReasonTitle
                        maximumLength: root.vm.textLimit
                    }
                    LengthCounter {
                        objectName: "reasonCounter"
                        field: reasonText
                        limit: root.vm.textLimit
                        strings: root.journey.s
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
            wrapMode: Text.Wrap
            Layout.fillWidth: true
        }
        RowLayout {
            Layout.fillWidth: true
            spacing: 32
            BigButton {
                objectName: "skipRatingButton"
                text: root.journey.s.rateSkip
                secondary: true
                onClicked: root.vm.skipRating()
            }
            Item { Layout.fillWidth: true }
            BigButton {
                objectName: "submitRatingButton"
                visible: root.vm.ratingNeedsReason
                text: root.journey.s.rateSubmit
                onClicked: root.vm.submitRating(root.chosenReasons, reasonText.text)
            }
        }
    }
}
