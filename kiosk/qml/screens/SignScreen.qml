import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import "../components"

// 签名确认: the item's 告知承诺 once more, a big signing pad, 重签, and 确认签名并提交 (kiosk/journey/signature_vm.py).
Item {
    id: root
    objectName: "signScreen"
    required property var journey
    required property var vm

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: Theme.margin
        spacing: 14
        ScreenTitle { text: root.journey.itemName + " · " + root.journey.s.signTitle; Layout.fillWidth: true }
        Rectangle {
            Layout.fillWidth: true
            Layout.preferredHeight: promise.implicitHeight + 24
            radius: Theme.radius
            color: Theme.selected
            border.color: Theme.primary
            border.width: 2
            Label {
                id: promise
                objectName: "signCommitmentText"
                anchors.fill: parent
                anchors.margins: 12
                text: root.vm.commitmentText  // it says 本人承诺 itself
                font.pixelSize: Theme.bodySize
                color: Theme.text
                wrapMode: Text.WordWrap
            }
        }
        Label {
            text: root.journey.s.signHint
            font.pixelSize: Theme.bodySize
            font.bold: true
            color: Theme.text
            Layout.fillWidth: true
            wrapMode: Text.WordWrap
        }
        SignaturePad {
            id: pad
            objectName: "signaturePad"
            Layout.fillWidth: true
            Layout.fillHeight: true
            Layout.minimumHeight: 260
            strokes: root.vm.strokes
            placeholder: root.journey.s.signHere
            onStrokeBegun: (x, y) => root.vm.beginStroke(x, y)
            onStrokeExtended: (x, y) => root.vm.extendStroke(x, y)
            onResized: (w, h) => root.vm.setPadSize(w, h)
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
        RowLayout {
            spacing: 32
            Layout.fillWidth: true
            BigButton {
                objectName: "backButton"
                text: root.journey.s.back
                secondary: true
                enabled: !root.journey.busy
                onClicked: root.journey.back()
            }
            BigButton {
                objectName: "signClearButton"
                text: root.journey.s.signClear
                secondary: true
                enabled: root.vm.hasInk && !root.journey.busy
                onClicked: root.vm.clear()
            }
            Item { Layout.fillWidth: true }
            // Where the review's button was (the same step), so never where the done screen's next one is; it
            // is disabled until something is drawn, so a double tap on 下一步：签名 cannot submit.
            BigButton {
                objectName: "signConfirmButton"
                text: root.journey.busy ? root.journey.s.saving : root.journey.s.signConfirm
                enabled: root.vm.hasInk && !root.journey.busy
                onClicked: root.vm.confirm()
            }
            Item { Layout.fillWidth: true; visible: !root.journey.advanceOnRight }
        }
    }
}
