import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import "../components"

// One row per driver: pass/fail, the driver's last error, and its own check (camera preview and scan,
// ID-card read showing the masked number, printer test page).
Item {
    id: root
    objectName: "selftestPage"
    required property var service

    RowLayout {
        anchors.fill: parent
        spacing: 24
        ColumnLayout {
            Layout.fillWidth: true
            Layout.fillHeight: true
            spacing: 12
            BigButton {
                objectName: "runSelftestButton"
                text: root.service.s.svcRunSelftest
                enabled: !root.service.busy
                onClicked: root.service.runSelftest()
            }
            Repeater {
                model: root.service.drivers
                delegate: Rectangle {
                    required property var modelData
                    objectName: "driver_" + modelData.name
                    Layout.fillWidth: true
                    implicitHeight: row.implicitHeight + 24
                    radius: Theme.radius
                    color: Theme.surface
                    border.color: modelData.ok ? Theme.ok : Theme.error
                    border.width: 3
                    RowLayout {
                        id: row
                        anchors.fill: parent
                        anchors.margins: 12
                        spacing: 12
                        ColumnLayout {
                            Layout.fillWidth: true
                            Label {
                                text: modelData.name + " (" + modelData.kind + ")"
                                font.pixelSize: Theme.bodySize
                                font.bold: true
                            }
                            Label {
                                objectName: "state_" + modelData.name
                                text: (modelData.ok ? root.service.s.svcPass : root.service.s.svcFail)
                                      + (modelData.lastError ? " · " + modelData.lastError : "")
                                color: modelData.ok ? Theme.ok : Theme.error
                                font.pixelSize: Theme.bodySize
                            }
                            Label {
                                objectName: "result_" + modelData.name
                                text: modelData.result
                                visible: text.length > 0
                                font.pixelSize: Theme.bodySize
                                wrapMode: Text.WordWrap
                                Layout.fillWidth: true
                            }
                        }
                        BigButton {
                            objectName: "test_" + modelData.name
                            visible: modelData.testable
                            secondary: true
                            text: modelData.name === "camera.scanner" ? root.service.s.svcScanTest
                                                                      : root.service.s.svcTest
                            onClicked: root.service.testDriver(modelData.name)
                        }
                    }
                }
            }
            Item { Layout.fillHeight: true }
        }
        Image {
            objectName: "selftestPreview"
            visible: root.service.previewRole !== ""
            source: root.service.previewFrame > 0
                    ? "image://camera/" + root.service.previewRole + "?" + root.service.previewFrame : ""
            cache: false
            fillMode: Image.PreserveAspectFit
            Layout.preferredWidth: 480
            Layout.preferredHeight: 360
            Layout.alignment: Qt.AlignTop
        }
    }
}
