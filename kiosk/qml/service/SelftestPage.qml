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
        // The rows scroll: with the face camera a kiosk has six drivers, and the printer's row (and its
        // 测试 button) fell below the window where no finger could reach it.
        Flickable {
          id: rowsFlick
          objectName: "selftestRows"
          Layout.fillWidth: true
          Layout.fillHeight: true
          clip: true
          contentHeight: rowsColumn.implicitHeight
          boundsBehavior: Flickable.StopAtBounds
          ScrollBar.vertical: ScrollBar { policy: rowsFlick.contentHeight > rowsFlick.height ? ScrollBar.AlwaysOn : ScrollBar.AsNeeded }
          ColumnLayout {
            id: rowsColumn
            width: rowsFlick.width
            spacing: 12
            BigButton {
                objectName: "runSelftestButton"
                text: root.service.s.svcRunSelftest
                enabled: !root.service.busy
                onClicked: root.service.selftestPage.runSelftest()
            }
            Repeater {
                model: root.service.selftestPage.drivers
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
                                text: modelData.label + "  (" + modelData.name + " · " + modelData.kind + ")"
                                font.pixelSize: Theme.bodySize
                                font.bold: true
                            }
                            Label {
                                objectName: "state_" + modelData.name
                                // Plain language with a remedy (kiosk/service_mode/explain.py), never a bare code.
                                text: (modelData.ok ? root.service.s.svcPass : root.service.s.svcFail)
                                      + (modelData.advice ? " · " + modelData.advice : "")
                                color: modelData.ok ? Theme.ok : Theme.error
                                font.pixelSize: Theme.bodySize
                                wrapMode: Text.WordWrap
                                Layout.fillWidth: true
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
                            onClicked: root.service.selftestPage.testDriver(modelData.name)
                        }
                    }
                }
            }
          }
        }
        Image {
            objectName: "selftestPreview"
            visible: root.service.hardwareUse.previewRole !== ""
            source: root.service.hardwareUse.previewFrame > 0
                    ? "image://camera/" + root.service.hardwareUse.previewRole + "?" + root.service.hardwareUse.previewFrame : ""
            cache: false
            fillMode: Image.PreserveAspectFit
            Layout.preferredWidth: 480
            Layout.preferredHeight: 360
            Layout.alignment: Qt.AlignTop
        }
    }
}
