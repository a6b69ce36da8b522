import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import "../components"

// Undelivered data leaves only as sealed envelopes onto USB; re-provisioning and factory reset refuse
// until it has.
ColumnLayout {
    id: root
    objectName: "dataPage"
    required property var service
    spacing: 14

    // Re-provisioning first: its field and buttons stay above the on-screen keyboard.
    RowLayout {
        spacing: 12
        Layout.fillWidth: true
        KField {
            id: tokenField
            objectName: "reprovisionToken"
            placeholderText: root.service.s.svcToken
            Layout.fillWidth: true
        }
        BigButton {
            objectName: "reprovisionButton"
            text: root.service.s.svcReprovision
            enabled: !root.service.busy
            onClicked: root.service.enrolPage.provisionToken(tokenField.text)
        }
        // Re-provisioning by scanning the central's QR (nobody types a 700-character token).
        BigButton {
            objectName: "reprovisionScanButton"
            text: root.service.s.svcScanToken
            enabled: !root.service.busy
            onClicked: root.service.enrolPage.scanToken()
        }
    }
    Image {
        objectName: "reprovisionPreview"
        visible: root.service.hardwareUse.previewRole !== ""
        source: root.service.hardwareUse.previewFrame > 0
                ? "image://camera/" + root.service.hardwareUse.previewRole + "?" + root.service.hardwareUse.previewFrame : ""
        cache: false
        fillMode: Image.PreserveAspectFit
        Layout.preferredWidth: 320
        Layout.preferredHeight: 240
    }
    BodyText { objectName: "undeliveredText"; text: root.service.dataPage.undeliveredText; Layout.fillWidth: true }
    RowLayout {
        spacing: 12
        Layout.fillWidth: true
        KField {
            id: folderField
            objectName: "dataExportFolder"
            placeholderText: root.service.s.svcExportFolder
            text: root.service.exportFolder
            Layout.fillWidth: true
        }
        BigButton {
            objectName: "exportDataButton"
            text: root.service.s.svcExportData
            enabled: !root.service.busy
            onClicked: root.service.dataPage.exportUndelivered(folderField.text)
        }
    }
    BigButton {
        objectName: "usbUpdateButton"
        text: root.service.s.svcUsbUpdate
        enabled: !root.service.busy
        onClicked: root.service.dataPage.applyUsbUpdate(folderField.text)
    }
    BigButton {
        objectName: "resetButton"
        text: root.service.s.svcReset
        enabled: !root.service.busy
        onClicked: confirm.visible = true
    }
    Rectangle {
        id: confirm
        objectName: "resetConfirm"
        visible: false
        Layout.fillWidth: true
        implicitHeight: confirmRow.implicitHeight + 32
        radius: Theme.radius
        color: Theme.surface
        border.color: Theme.error
        border.width: 3
        ColumnLayout {
            id: confirmRow
            anchors.fill: parent
            anchors.margins: 16
            BodyText { text: root.service.s.svcResetConfirm; color: Theme.error; Layout.fillWidth: true }
            RowLayout {
                spacing: 12
                BigButton {
                    objectName: "resetConfirmButton"
                    text: root.service.s.svcReset
                    onClicked: { confirm.visible = false; root.service.dataPage.factoryReset() }
                }
                BigButton {
                    objectName: "resetCancelButton"
                    secondary: true
                    text: root.service.s.svcCancel
                    onClicked: confirm.visible = false
                }
            }
        }
    }
    Item { Layout.fillHeight: true }
}
