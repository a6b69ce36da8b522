import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import "../components"

// 好差评: the five national levels; 不满意 and 非常不满意 ask for a reason.
Item {
    id: root
    objectName: "ratingScreen"
    required property var journey
    property var chosenReasons: []

    function toggleReason(key) {
        var list = root.chosenReasons.slice()
        var i = list.indexOf(key)
        if (i >= 0) list.splice(i, 1); else list.push(key)
        root.chosenReasons = list
    }

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: Theme.margin
        spacing: 20
        ScreenTitle { text: root.journey.s.rateTitle; Layout.fillWidth: true }
        Flow {
            Layout.fillWidth: true
            spacing: 16
            Repeater {
                model: root.journey.ratingLevels
                delegate: BigButton {
                    required property var modelData
                    objectName: "rate_" + modelData.level
                    secondary: true
                    checkedLook: root.journey.ratingLevel === modelData.level
                    text: (root.journey.ratingLevel === modelData.level ? "✔ " : "") + modelData.text
                    onClicked: root.journey.rate(modelData.level)
                }
            }
        }
        ColumnLayout {
            visible: root.journey.ratingNeedsReason
            Layout.fillWidth: true
            spacing: 12
            BodyText { text: root.journey.s.rateReasonTitle; font.bold: true; Layout.fillWidth: true }
            Flow {
                Layout.fillWidth: true
                spacing: 12
                Repeater {
                    model: root.journey.ratingReasons
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
                maximumLength: 200
            }
        }
        Label {
            objectName: "errorText"
            text: root.journey.errorText
            visible: text.length > 0
            color: Theme.error
            font.pixelSize: Theme.bodySize
        }
        Item { Layout.fillHeight: true }
        RowLayout {
            Layout.fillWidth: true
            spacing: 32
            BigButton {
                objectName: "skipRatingButton"
                text: root.journey.s.rateSkip
                secondary: true
                onClicked: root.journey.skipRating()
            }
            Item { Layout.fillWidth: true }
            BigButton {
                objectName: "submitRatingButton"
                visible: root.journey.ratingNeedsReason
                text: root.journey.s.rateSubmit
                onClicked: root.journey.submitRating(root.chosenReasons, reasonText.text)
            }
        }
    }
}
