import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import "../components"

// First run of an unprovisioned kiosk: set the service PIN, then provision with the central's
// enrolment QR (camera) or its token typed in. Done only when the central confirms.
Item {
    id: root
    objectName: "firstRunScreen"
    required property var service
    readonly property bool settingPin: root.service.pinPage.firstRunStep !== "provision"

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: 32
        spacing: 16
        ScreenTitle { text: root.service.s.svcFirstRun }
        BodyText { text: root.service.s.svcFirstRunNote; Layout.fillWidth: true }

        PinPad {
            visible: root.settingPin
            service: root.service
            title: root.service.pinPage.firstRunStep === "pinConfirm" ? root.service.s.svcPinAgain : root.service.s.svcPinNew
            Layout.alignment: Qt.AlignHCenter
        }

        ColumnLayout {
            objectName: "provisionPanel"
            visible: !root.settingPin
            spacing: 16
            Layout.fillWidth: true
            Label {
                objectName: "firstRunMessage"
                text: root.service.message
                color: root.service.messageOk ? Theme.ok : Theme.error
                font.pixelSize: Theme.bodySize
                wrapMode: Text.WordWrap
                maximumLineCount: 2
                elide: Text.ElideRight
                Layout.fillWidth: true
                Layout.preferredHeight: Math.ceil(Theme.bodySize * 1.4) * 2  // never moves the buttons
            }
            RowLayout {
                spacing: 12
                Layout.fillWidth: true
                KField {
                    id: tokenField
                    objectName: "tokenField"
                    placeholderText: root.service.s.svcToken
                    Layout.fillWidth: true
                }
                BigButton {
                    objectName: "provisionButton"
                    text: root.service.s.svcOk
                    enabled: !root.service.busy
                    onClicked: root.service.enrolPage.provisionToken(tokenField.text)
                }
            }
            BigButton {
                objectName: "scanTokenButton"
                text: root.service.s.svcScanToken
                secondary: true
                enabled: !root.service.busy
                onClicked: root.service.enrolPage.scanToken()
            }
            Image {
                objectName: "firstRunPreview"
                visible: root.service.hardwareUse.previewRole !== ""
                source: root.service.hardwareUse.previewFrame > 0
                        ? "image://camera/" + root.service.hardwareUse.previewRole + "?" + root.service.hardwareUse.previewFrame : ""
                cache: false
                fillMode: Image.PreserveAspectFit
                Layout.preferredWidth: 480
                Layout.preferredHeight: 360
            }
        }
    }
}
