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

    readonly property var ranges: root.service.configPage.configRanges
    // The values being edited (saved all or nothing with 保存).
    property string language: "" + root.service.configPage.config.language_default
    property bool elder: root.service.configPage.config.elder_mode_default === true
    property int idle: root.service.configPage.config.idle_timeout_s
    property int heartbeat: root.service.configPage.config.heartbeat_interval_s
    property int voiceVolume: root.service.configPage.config.voice_volume
    property bool voiceMuted: root.service.configPage.config.voice_muted === true
    property int dataBudget: root.service.configPage.config.data_budget_mb
    Connections {
        target: root.service
        function onConfigChanged() {
            root.language = "" + root.service.configPage.config.language_default
            root.elder = root.service.configPage.config.elder_mode_default === true
            root.idle = root.service.configPage.config.idle_timeout_s
            root.heartbeat = root.service.configPage.config.heartbeat_interval_s
            root.voiceVolume = root.service.configPage.config.voice_volume
            root.voiceMuted = root.service.configPage.config.voice_muted === true
            root.dataBudget = root.service.configPage.config.data_budget_mb
        }
    }

    function values() {
        return {
            "site_display_name": siteField.text,
            "idle_timeout_s": root.idle,
            "language_default": root.language,
            "elder_mode_default": root.elder,
            "heartbeat_interval_s": root.heartbeat,
            "voice_volume": root.voiceVolume,
            "voice_muted": root.voiceMuted,
            "service_hotline": hotlineField.text,
            "data_budget_mb": root.dataBudget
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
                root.service.configPage.saveConfig(root.values())
            }
        }
        BigButton {
            objectName: "devSave"
            text: root.service.s.svcDevicesSave
            onClicked: root.service.configPage.saveDevices()
        }
    }
    // A stepper: − value +, with its allowed range written beside it; the buttons stop at the ends.
    component Stepper: RowLayout {
        id: stepper
        property string key
        property int value
        property int step: 10
        readonly property int lo: root.ranges[key].lo
        readonly property int hi: root.ranges[key].hi
        signal picked(int v)
        spacing: 8
        BigButton {
            objectName: "cfg_" + stepper.key + "_minus"
            text: "−"
            secondary: true
            implicitWidth: Theme.minTarget + 24
            enabled: stepper.value > stepper.lo
            onClicked: stepper.picked(Math.max(stepper.lo, stepper.value - stepper.step))
        }
        BodyText {
            objectName: "cfg_" + stepper.key
            text: "" + stepper.value
            horizontalAlignment: Text.AlignHCenter
            Layout.preferredWidth: 90
        }
        BigButton {
            objectName: "cfg_" + stepper.key + "_plus"
            text: "+"
            secondary: true
            implicitWidth: Theme.minTarget + 24
            enabled: stepper.value < stepper.hi
            onClicked: stepper.picked(Math.min(stepper.hi, stepper.value + stepper.step))
        }
        BodyText {
            text: root.service.s.svcRange.replace("{lo}", stepper.lo).replace("{hi}", stepper.hi)
            color: Theme.textMuted
        }
    }
    // The settings and the devices scroll together below Save (taller than the screen in elder mode or with the
    // keyboard open). Devices (drivers.json): one row of large buttons per role; saved apart from the settings,
    // validated against the driver registry, audited, and built when the kiosk restarts.
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
            GridLayout {
                columns: 2
                rowSpacing: 10
                columnSpacing: 16
                Layout.fillWidth: true
                BodyText { text: root.service.s.svcSiteName }
                KField { id: siteField; objectName: "cfg_site_display_name"; text: root.service.configPage.config.site_display_name; Layout.fillWidth: true }
                BodyText { text: root.service.s.svcIdle }
                Stepper { key: "idle_timeout_s"; value: root.idle; step: 10; onPicked: v => root.idle = v }
                BodyText { text: root.service.s.svcLangDefault }
                RowLayout {
                    spacing: 8
                    Repeater {
                        model: root.ranges.language_default.choices
                        BigButton {
                            required property string modelData
                            objectName: "cfg_language_" + modelData
                            text: modelData === "zh" ? root.service.s.svcLangZh : root.service.s.svcLangEn
                            secondary: true
                            checkedLook: root.language === modelData
                            onClicked: root.language = modelData
                        }
                    }
                }
                BodyText { text: root.service.s.svcElderDefault }
                RowLayout {
                    spacing: 8
                    BigButton {
                        objectName: "cfg_elder_on"
                        text: root.service.s.svcOn
                        secondary: true
                        checkedLook: root.elder
                        onClicked: root.elder = true
                    }
                    BigButton {
                        objectName: "cfg_elder_off"
                        text: root.service.s.svcOff
                        secondary: true
                        checkedLook: !root.elder
                        onClicked: root.elder = false
                    }
                }
                BodyText { text: root.service.s.svcHeartbeat }
                Stepper { key: "heartbeat_interval_s"; value: root.heartbeat; step: 5; onPicked: v => root.heartbeat = v }
                BodyText { text: root.service.s.svcDataBudget; Layout.fillWidth: true; wrapMode: Text.WordWrap }
                Stepper { key: "data_budget_mb"; value: root.dataBudget; step: 500; onPicked: v => root.dataBudget = v }
                BodyText { text: root.service.s.svcVoice }
                RowLayout {
                    spacing: 8
                    BigButton {
                        objectName: "cfg_voice_on"
                        text: root.service.s.svcOn
                        secondary: true
                        checkedLook: !root.voiceMuted
                        onClicked: root.voiceMuted = false
                    }
                    BigButton {
                        objectName: "cfg_voice_off"
                        text: root.service.s.svcOff
                        secondary: true
                        checkedLook: root.voiceMuted
                        onClicked: root.voiceMuted = true
                    }
                }
                BodyText { text: root.service.s.svcVoiceVolume }
                Stepper { key: "voice_volume"; value: root.voiceVolume; step: 10; onPicked: v => root.voiceVolume = v }
                BodyText { text: root.service.s.svcHotline }
                KField {
                    id: hotlineField
                    objectName: "cfg_service_hotline"
                    text: root.service.configPage.config.service_hotline
                    inputKind: "phone"
                    Layout.fillWidth: true
                }
                BodyText { text: root.service.s.svcDevicesRunning }
                BodyText {
                    objectName: "cfgHardware"
                    text: root.service.configPage.hardwareSummary.join("\n")
                    Layout.fillWidth: true
                }
            }
            BodyText { text: root.service.s.svcDevices; font.bold: true }
            BodyText {
                objectName: "devNote"
                visible: text !== ""
                text: root.service.configPage.devicesNote
                color: Theme.error
                Layout.fillWidth: true
            }
            Repeater {
                model: root.service.configPage.deviceRoles
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
                                onClicked: root.service.configPage.chooseDevice(roleRow.modelData.role, modelData.key)
                            }
                        }
                    }
                }
            }
        }
    }
    Component.onCompleted: root.service.configPage.refreshDevices()
}
