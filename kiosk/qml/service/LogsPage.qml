import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import "../components"

// The last lines of the kiosk's log (no personal data by construction) and their export to USB.
ColumnLayout {
    id: root
    objectName: "logsPage"
    required property var service
    spacing: 12

    ScrollView {
        Layout.fillWidth: true
        Layout.fillHeight: true
        TextArea {
            id: logArea
            objectName: "logText"
            text: root.service.logsPage.logText
            // Opens at the newest line (the end), where a technician looks first.
            onTextChanged: logArea.cursorPosition = logArea.length
            Component.onCompleted: logArea.cursorPosition = logArea.length
            readOnly: true
            wrapMode: TextEdit.WrapAnywhere
            font.family: "monospace"
            font.pixelSize: 16
        }
    }
    RowLayout {
        spacing: 12
        Layout.fillWidth: true
        KField {
            id: folderField
            objectName: "logExportFolder"
            placeholderText: root.service.s.svcExportFolder
            text: root.service.exportFolder
            Layout.fillWidth: true
        }
        BigButton {
            objectName: "exportLogsButton"
            text: root.service.s.svcExportLogs
            onClicked: root.service.logsPage.exportLogs(folderField.text)
        }
        BigButton {
            objectName: "logsRefresh"
            secondary: true
            text: root.service.s.svcRefresh
            onClicked: root.service.logsPage.refreshLogs()
        }
    }
}
