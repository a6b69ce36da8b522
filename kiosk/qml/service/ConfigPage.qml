import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import "../components"

// The kiosk's settings; saved all or nothing through sync/kiosk_config.py and audited at the central.
ColumnLayout {
    id: root
    objectName: "configPage"
    required property var service
    spacing: 10

    function values() {
        return {
            "site_display_name": siteField.text,
            "idle_timeout_s": idleField.text,
            "language_default": langField.text,
            "elder_mode_default": elderSwitch.checked,
            "heartbeat_interval_s": heartbeatField.text
        }
    }

    // Save sits on top: it stays reachable while the on-screen keyboard covers the lower half.
    RowLayout {
        spacing: 16
        BigButton {
            objectName: "cfgSave"
            text: root.service.s.svcSave
            onClicked: {
                Qt.inputMethod.hide()
                root.service.saveConfig(root.values())
            }
        }
        BigButton {
            objectName: "devSave"
            text: root.service.s.svcDevicesSave
            onClicked: root.service.saveDevices()
        }
    }
    GridLayout {
        columns: 2
        rowSpacing: 10
        columnSpacing: 16
        Layout.fillWidth: true
        BodyText { text: root.service.s.svcSiteName }
        KField { id: siteField; objectName: "cfg_site_display_name"; text: root.service.config.site_display_name; Layout.fillWidth: true }
        BodyText { text: root.service.s.svcIdle }
        KField { id: idleField; objectName: "cfg_idle_timeout_s"; inputKind: "digits"; text: "" + root.service.config.idle_timeout_s; Layout.fillWidth: true }
        BodyText { text: root.service.s.svcLangDefault }
        KField { id: langField; objectName: "cfg_language_default"; text: root.service.config.language_default; Layout.fillWidth: true }
        BodyText { text: root.service.s.svcElderDefault }
        Switch {
            id: elderSwitch
            objectName: "cfg_elder_mode_default"
            checked: root.service.config.elder_mode_default
            implicitHeight: Theme.minTarget
        }
        BodyText { text: root.service.s.svcHeartbeat }
        KField { id: heartbeatField; objectName: "cfg_heartbeat_interval_s"; inputKind: "digits"; text: "" + root.service.config.heartbeat_interval_s; Layout.fillWidth: true }
        BodyText { text: root.service.s.svcDevicesRunning }
        BodyText {
            objectName: "cfgHardware"
            text: root.service.hardwareSummary.join("\n")
            Layout.fillWidth: true
        }
    }
    // Devices (drivers.json): one row of large buttons per role; saved apart from the settings above,
    // validated against the driver registry, audited, and built when the kiosk restarts.
    BodyText { text: root.service.s.svcDevices; font.bold: true }
    BodyText {
        objectName: "devNote"
        visible: text !== ""
        text: root.service.devicesNote
        color: Theme.error
        Layout.fillWidth: true
    }
    Flickable {
        objectName: "devList"
        Layout.fillWidth: true
        Layout.fillHeight: true
        clip: true
        contentHeight: devColumn.implicitHeight
        ColumnLayout {
            id: devColumn
            width: parent.width
            spacing: 6
            Repeater {
                model: root.service.deviceRoles
                RowLayout {
                    id: roleRow
                    required property var modelData
                    Layout.fillWidth: true
                    spacing: 12
                    BodyText { text: roleRow.modelData.label; Layout.preferredWidth: 200; Layout.alignment: Qt.AlignTop }
                    Flow {
                        Layout.fillWidth: true
                        spacing: 8
                        Repeater {
                            model: roleRow.modelData.choices
                            BigButton {
                                required property var modelData
                                required property int index
                                objectName: "dev_" + roleRow.modelData.role + "_" + index
                                text: modelData.label
                                secondary: true
                                checkedLook: modelData.key === roleRow.modelData.selected
                                onClicked: root.service.chooseDevice(roleRow.modelData.role, modelData.key)
                            }
                        }
                    }
                }
            }
        }
    }
    Component.onCompleted: root.service.refreshDevices()
}
