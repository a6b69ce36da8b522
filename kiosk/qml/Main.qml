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
    readonly property int serviceCornerSize: 100  // the hidden service corner, top right (see serviceCorner)

    JourneyViewModel {
        id: journeyVm
        objectName: "journey"
    }

    // One small view-model per screen (kiosk/journey/*_vm.py); all share the journey-session service.
    HomeViewModel { id: homeVm; objectName: "homeVm" }
    ItemViewModel { id: itemVm; objectName: "itemVm" }
    IdentifyViewModel { id: identifyVm; objectName: "identifyVm" }
    FormViewModel { id: formVm; objectName: "formVm" }
    MaterialsViewModel { id: materialsVm; objectName: "materialsVm" }
    DeliveryViewModel { id: deliveryVm; objectName: "deliveryVm" }
    ReviewViewModel { id: reviewVm; objectName: "reviewVm" }
    SignatureViewModel { id: signVm; objectName: "signVm" }
    FaceViewModel { id: faceVm; objectName: "faceVm" }
    DoneViewModel { id: doneVm; objectName: "doneVm" }
    RatingViewModel { id: ratingVm; objectName: "ratingVm" }
    ComplaintViewModel { id: complaintVm; objectName: "complaintVm" }
    StatusViewModel { id: statusVm; objectName: "statusVm" }
    // 再听一遍 (say the screen's prompt again) and 呼叫工作人员 on every journey screen (kiosk/journey/assist_vm.py).
    AssistViewModel { id: assistVm; objectName: "assistVm" }

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
        height: Math.max(Theme.elder ? 108 : 88, headerGrid.implicitHeight + 20)
        color: Theme.primary
        // The title and the controls side by side when they fit, else the title above the controls, which
        // wrap: the title is never cut ("Street Ser···" in English, elder mode, offline).
        GridLayout {
            id: headerGrid
            anchors.left: parent.left
            anchors.right: parent.right
            anchors.verticalCenter: parent.verticalCenter
            anchors.leftMargin: 24
            anchors.rightMargin: window.serviceCornerSize  // the service corner stays free of buttons
            columnSpacing: 16
            rowSpacing: 8
            columns: appTitle.implicitWidth + headerControls.naturalWidth + columnSpacing <= width ? 2 : 1
            Label {
                id: appTitle
                objectName: "appTitle"
                text: journeyVm.s.appTitle
                color: "white"
                font.pixelSize: Theme.elder ? 32 : 26
                font.bold: true
                wrapMode: Text.Wrap
                Layout.fillWidth: true
            }
            Flow {
            id: headerControls
            spacing: 16
            readonly property real naturalWidth: {
                var w = 0, n = 0
                for (var i = 0; i < children.length; ++i)
                    if (children[i].visible) { w += children[i].implicitWidth; ++n }
                return w + Math.max(0, n - 1) * spacing
            }
            Layout.fillWidth: headerGrid.columns === 1
            Layout.preferredWidth: headerGrid.columns === 1 ? -1 : naturalWidth
            Layout.alignment: Qt.AlignVCenter
            ConnectionBadge {
                objectName: "connectionBadge"
                online: journeyVm.online
                onlineText: journeyVm.s.online
                offlineText: journeyVm.s.offline
                Layout.maximumWidth: 520
            }
            AssistButtons {
                objectName: "assistButtons"
                assist: assistVm
                s: journeyVm.s
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
    }

    Item {
        id: content
        anchors.left: parent.left
        anchors.right: parent.right
        anchors.top: parent.top
        anchors.bottom: inputPanel.active ? inputPanel.top : parent.bottom

        StepIndicator {
            id: stepIndicator
            objectName: "stepIndicator"
            anchors.left: parent.left
            anchors.right: parent.right
            anchors.top: parent.top
            visible: journeyVm.stepIndex >= 0 && !inputPanel.active  // the keyboard needs the room
            height: visible ? implicitHeight : 0
            labels: journeyVm.stepLabels
            current: journeyVm.stepIndex
            stepText: journeyVm.s.stepOf
        }
        IdleSoonBanner {
            id: idleSoon
            anchors.left: parent.left
            anchors.right: parent.right
            anchors.top: stepIndicator.visible ? stepIndicator.bottom : parent.top
            height: visible ? implicitHeight : 0
            seconds: journeyVm.idleSoonSeconds
            text: journeyVm.s.idleSoon
        }

        Loader {
            id: screenLoader
            objectName: "screenLoader"
            anchors.left: parent.left
            anchors.right: parent.right
            anchors.bottom: parent.bottom
            anchors.top: idleSoon.bottom
            sourceComponent: {
                switch (journeyVm.screen) {
                case "home": return homeScreen
                case "item": return itemScreen
                case "identify": return identifyScreen
                case "face": return faceScreen
                case "form": return formScreen
                case "materials": return materialsScreen
                case "delivery": return deliveryScreen
                case "review": return reviewScreen
                case "sign": return signScreen
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

    // What happened to a call for staff, over the top of the screen until the session ends.
    StaffCallBanner {
        parent: content
        anchors.horizontalCenter: parent.horizontalCenter
        anchors.top: parent.top
        anchors.topMargin: 8
        width: Math.min(parent.width - 48, 900)
        z: 30
        state_: assistVm.callState
        text: assistVm.callText
    }

    // "放弃本次办理？": leaving a filled application (返回 past the form, 首页) asks first.
    LeaveDialog {
        anchors.fill: parent
        z: 45
        journey: journeyVm
        visible: journeyVm.confirmLeave
    }

    IdleOverlay {
        anchors.fill: parent
        z: 50
        journey: journeyVm
        visible: journeyVm.idleWarning
    }

    // Hidden service entry: five taps in the top-right corner of the screen within 3 s (idle screens only).
    // In the window's overlay layer, so the corner is the screen's own corner (over the header), and the
    // header keeps its buttons out of it (tests tap it by coordinates, as a finger does).
    MouseArea {
        objectName: "serviceCorner"
        parent: Overlay.overlay
        x: parent.width - width
        y: 0
        width: window.serviceCornerSize
        height: window.serviceCornerSize
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

    // Qt Virtual Keyboard with the input preview strip; sized per mode, scrolls the focused field into view.
    KioskKeyboard {
        id: inputPanel
        z: 99
        x: 0
        y: active ? window.contentItem.height - height : window.contentItem.height
        width: window.contentItem.width
        availableHeight: window.contentItem.height
        journey: journeyVm
    }

    Component { id: attractScreen; AttractScreen { journey: journeyVm } }
    Component { id: homeScreen; HomeScreen { journey: journeyVm; vm: homeVm } }
    Component { id: itemScreen; ItemScreen { journey: journeyVm; vm: itemVm } }
    Component { id: identifyScreen; IdentifyScreen { journey: journeyVm; vm: identifyVm } }
    Component { id: formScreen; FormScreen { journey: journeyVm; vm: formVm } }
    Component { id: materialsScreen; MaterialsScreen { journey: journeyVm; vm: materialsVm } }
    Component { id: deliveryScreen; DeliveryScreen { journey: journeyVm; vm: deliveryVm } }
    Component { id: reviewScreen; ReviewScreen { journey: journeyVm; vm: reviewVm } }
    Component { id: signScreen; SignScreen { journey: journeyVm; vm: signVm } }
    Component { id: faceScreen; FaceScreen { journey: journeyVm; vm: faceVm; assist: assistVm } }
    Component { id: doneScreen; DoneScreen { journey: journeyVm; vm: doneVm } }
    Component { id: ratingScreen; RatingScreen { journey: journeyVm; vm: ratingVm } }
    Component { id: complaintScreen; ComplaintScreen { journey: journeyVm; vm: complaintVm } }
    Component { id: statusScreen; StatusScreen { journey: journeyVm; vm: statusVm } }
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
