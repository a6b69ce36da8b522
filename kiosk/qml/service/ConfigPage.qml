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
    BigButton {
        objectName: "cfgSave"
        text: root.service.s.svcSave
        onClicked: {
            Qt.inputMethod.hide()
            root.service.saveConfig(root.values())
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
        BodyText { text: root.service.s.svcCameras + " / " + root.service.s.svcPrinter }
        BodyText {
            objectName: "cfgHardware"
            text: root.service.hardwareSummary.join("\n") + "\n" + root.service.s.svcDriversFile
            Layout.fillWidth: true
        }
    }
    Item { Layout.fillHeight: true }
}
