import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import "../components"

// Everything of the technician's service mode above the resident's screens: the PIN pad, the first-run
// screen, and the service pages. Opaque: nothing of the resident's side shows or takes a touch.
Rectangle {
    id: root
    objectName: "serviceOverlay"
    required property var service
    color: Theme.background

    MouseArea { anchors.fill: parent }  // swallow touches meant for the screens below

    PinPad {
        anchors.centerIn: parent
        visible: root.service.mode === "pin"
        service: root.service
        title: root.service.s.svcPinTitle
    }

    FirstRunScreen {
        anchors.fill: parent
        visible: root.service.mode === "firstrun"
        service: root.service
    }

    EnrolDoneScreen {
        anchors.fill: parent
        visible: root.service.mode === "done"
        service: root.service
    }

    ColumnLayout {
        objectName: "serviceScreen"
        anchors.fill: parent
        anchors.margins: 24
        spacing: 16
        visible: root.service.mode === "service"

        RowLayout {
            Layout.fillWidth: true
            spacing: 12
            ScreenTitle { text: root.service.s.svcTitle; Layout.fillWidth: true }
            BigButton {
                objectName: "serviceLanguage"
                secondary: true
                text: root.service.s.language
                onClicked: root.service.toggleLanguage()
            }
            BigButton {
                objectName: "serviceExit"
                text: root.service.s.svcExit
                onClicked: root.service.close()
            }
        }
        Flow {
            Layout.fillWidth: true
            spacing: 12
            Repeater {
                model: [["device", "svcDevice"], ["selftest", "svcSelftest"], ["network", "svcNetwork"],
                        ["config", "svcConfig"], ["logs", "svcLogs"], ["data", "svcData"]]
                delegate: BigButton {
                    required property var modelData
                    objectName: "svcPage_" + modelData[0]
                    secondary: root.service.page !== modelData[0]
                    text: root.service.s[modelData[1]]
                    onClicked: root.service.openPage(modelData[0])
                }
            }
        }
        // Always there, two lines high: a status line never moves the buttons under the technician's finger.
        Label {
            objectName: "serviceMessage"
            text: root.service.message
            color: root.service.messageOk ? Theme.ok : Theme.error
            font.pixelSize: Theme.bodySize
            wrapMode: Text.WordWrap
            maximumLineCount: 2
            elide: Text.ElideRight
            verticalAlignment: Text.AlignVCenter
            Layout.fillWidth: true
            Layout.preferredHeight: Math.ceil(Theme.bodySize * 1.4) * 2
            Layout.maximumHeight: Layout.preferredHeight
        }
        Loader {
            Layout.fillWidth: true
            Layout.fillHeight: true
            sourceComponent: {
                switch (root.service.page) {
                case "device": return devicePage
                case "selftest": return selftestPage
                case "network": return networkPage
                case "config": return configPage
                case "logs": return logsPage
                case "data": return dataPage
                default: return homePage
                }
            }
        }
        Label {
            text: root.service.s.svcTimeout.replace("{n}", root.service.sessionTimeoutS)
            color: Theme.textMuted
            font.pixelSize: Theme.smallSize
        }
    }

    Component { id: homePage; Item { objectName: "serviceHome" } }
    Component { id: devicePage; DevicePage { service: root.service } }
    Component { id: selftestPage; SelftestPage { service: root.service } }
    Component { id: networkPage; NetworkPage { service: root.service } }
    Component { id: configPage; ConfigPage { service: root.service } }
    Component { id: logsPage; LogsPage { service: root.service } }
    Component { id: dataPage; DataPage { service: root.service } }
}
