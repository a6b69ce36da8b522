import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import QtQuick.VirtualKeyboard
import QtQuick.VirtualKeyboard.Settings
import Kiosk
import "components"
import "screens"
import "service"

ApplicationWindow {
    id: window
    objectName: "mainWindow"
    width: 1280
    height: 1024
    visible: true
    title: "街道便民服务自助终端"
    color: Theme.background
    // What the virtual keyboard really uses (tests read it back).
    readonly property string keyboardUserDataPath: VirtualKeyboardSettings.userDataPath

    JourneyViewModel {
        id: journeyVm
        objectName: "journey"
    }

    // The technician's service mode (kiosk/qml/service/): hidden corner gesture, PIN pad, first run.
    ServiceModeViewModel {
        id: serviceVm
        objectName: "serviceMode"
        journey: journeyVm
    }

    Binding { target: Theme; property: "elder"; value: journeyVm.elderMode }
    // The virtual keyboard: Pinyin for Chinese, per-session user data folder (wiped with the session).
    Binding { target: VirtualKeyboardSettings; property: "userDataPath"; value: journeyVm.keyboardDataDir }
    Component.onCompleted: {
        VirtualKeyboardSettings.activeLocales = ["zh_CN", "en_US"]
        VirtualKeyboardSettings.locale = "zh_CN"
    }

    header: Rectangle {
        height: Theme.elder ? 108 : 88
        color: Theme.primary
        RowLayout {
            anchors.fill: parent
            anchors.leftMargin: 24
            anchors.rightMargin: 24
            spacing: 16
            Label {
                text: journeyVm.s.appTitle
                color: "white"
                font.pixelSize: Theme.elder ? 32 : 26
                font.bold: true
                elide: Text.ElideRight
                Layout.fillWidth: true
            }
            ConnectionBadge {
                objectName: "connectionBadge"
                online: journeyVm.online
                onlineText: journeyVm.s.online
                offlineText: journeyVm.s.offline
                Layout.maximumWidth: 520
            }
            BigButton {
                objectName: "elderButton"
                secondary: true
                text: journeyVm.elderMode ? journeyVm.s.elderOff : journeyVm.s.elderOn
                implicitHeight: Theme.minTarget + 8
                font.pixelSize: Theme.smallSize
                onClicked: journeyVm.toggleElderMode()
            }
            BigButton {
                objectName: "languageButton"
                secondary: true
                text: journeyVm.s.language
                implicitHeight: Theme.minTarget + 8
                font.pixelSize: Theme.smallSize
                onClicked: journeyVm.toggleLanguage()
            }
        }
    }

    Item {
        id: content
        anchors.left: parent.left
        anchors.right: parent.right
        anchors.top: parent.top
        anchors.bottom: inputPanel.active ? inputPanel.top : parent.bottom

        Loader {
            id: screenLoader
            objectName: "screenLoader"
            anchors.fill: parent
            sourceComponent: {
                switch (journeyVm.screen) {
                case "home": return homeScreen
                case "item": return itemScreen
                case "identify": return identifyScreen
                case "form": return formScreen
                case "materials": return materialsScreen
                case "delivery": return deliveryScreen
                case "review": return reviewScreen
                case "done": return doneScreen
                case "rating": return ratingScreen
                case "complaint": return complaintScreen
                case "status": return statusScreen
                case "thanks": return thanksScreen
                case "paused": return pausedScreen
                case "maintenance": return maintenanceScreen
                default: return attractScreen
                }
            }
        }
    }

    IdleOverlay {
        anchors.fill: parent
        z: 50
        journey: journeyVm
        visible: journeyVm.idleWarning
    }

    // Hidden service entry: five taps in the top-right corner within 3 s (idle screens only).
    MouseArea {
        objectName: "serviceCorner"
        anchors.top: parent.top
        anchors.right: parent.right
        width: 110
        height: 110
        z: 40
        enabled: serviceVm.mode === "closed"
                 && ["attract", "paused", "maintenance"].indexOf(journeyVm.screen) >= 0
        onClicked: serviceVm.cornerTap()
    }

    Loader {
        objectName: "serviceLoader"
        anchors.left: parent.left
        anchors.right: parent.right
        anchors.top: parent.top
        anchors.bottom: inputPanel.active ? inputPanel.top : parent.bottom
        z: 60
        active: serviceVm.mode !== "closed"
        sourceComponent: ServiceOverlay { service: serviceVm }
    }

    InputPanel {
        id: inputPanel
        objectName: "inputPanel"
        z: 99
        x: 0
        y: active ? window.contentItem.height - height : window.contentItem.height
        width: window.contentItem.width
    }

    Component { id: attractScreen; AttractScreen { journey: journeyVm } }
    Component { id: homeScreen; HomeScreen { journey: journeyVm } }
    Component { id: itemScreen; ItemScreen { journey: journeyVm } }
    Component { id: identifyScreen; IdentifyScreen { journey: journeyVm } }
    Component { id: formScreen; FormScreen { journey: journeyVm } }
    Component { id: materialsScreen; MaterialsScreen { journey: journeyVm } }
    Component { id: deliveryScreen; DeliveryScreen { journey: journeyVm } }
    Component { id: reviewScreen; ReviewScreen { journey: journeyVm } }
    Component { id: doneScreen; DoneScreen { journey: journeyVm } }
    Component { id: ratingScreen; RatingScreen { journey: journeyVm } }
    Component { id: complaintScreen; ComplaintScreen { journey: journeyVm } }
    Component { id: statusScreen; StatusScreen { journey: journeyVm } }
    Component { id: thanksScreen; ThanksScreen { journey: journeyVm } }
    Component {
        id: pausedScreen
        NoticeScreen { objectName: "pausedScreen"; journey: journeyVm; title: journeyVm.s.paused }
    }
    Component {
        id: maintenanceScreen
        NoticeScreen { objectName: "maintenanceScreen"; journey: journeyVm; title: journeyVm.s.maintenance }
    }
}
