import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import Kiosk
import "components"
import "screens"

ApplicationWindow {
    id: window
    objectName: "mainWindow"
    width: 1280
    height: 800
    visible: true
    title: "街道便民服务自助终端"
    color: Theme.background

    JourneyViewModel {
        id: journeyVm
        objectName: "journey"
    }

    header: Rectangle {
        height: 88
        color: Theme.primary
        RowLayout {
            anchors.fill: parent
            anchors.leftMargin: 32
            anchors.rightMargin: 32
            Label {
                text: "街道便民服务中心 · 一网通办自助终端"
                color: "white"
                font.pixelSize: Theme.headingSize
                font.bold: true
                Layout.fillWidth: true
            }
            ConnectionBadge {
                objectName: "connectionBadge"
                online: journeyVm.online
            }
        }
    }

    Loader {
        id: screenLoader
        objectName: "screenLoader"
        anchors.fill: parent
        sourceComponent: {
            switch (journeyVm.screen) {
            case "item": return itemScreen
            case "form": return formScreen
            case "done": return doneScreen
            case "paused": return pausedScreen
            case "maintenance": return maintenanceScreen
            default: return attractScreen
            }
        }
    }

    Component { id: attractScreen; AttractScreen { journey: journeyVm } }
    Component { id: itemScreen; ItemScreen { journey: journeyVm } }
    Component { id: formScreen; FormScreen { journey: journeyVm } }
    Component { id: doneScreen; DoneScreen { journey: journeyVm } }
    Component { id: pausedScreen; NoticeScreen { objectName: "pausedScreen"; journey: journeyVm; title: "暂停受理" } }
    Component {
        id: maintenanceScreen
        NoticeScreen { objectName: "maintenanceScreen"; journey: journeyVm; title: "设备维护中" }
    }
}
