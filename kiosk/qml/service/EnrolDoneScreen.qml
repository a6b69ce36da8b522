import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import "../components"

// The end of an enrolment (first run or re-enrolment): the device id, the site, and "online at the central"
// or the exact reason it is not (host, port, TLS, the clock), with a retry. Finish goes to the welcome screen.
Item {
    id: root
    objectName: "enrolDoneScreen"
    required property var service
    readonly property var done: root.service.enrolPage.done
    readonly property var s: root.service.s

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: 48
        spacing: 20
        ScreenTitle { text: root.s.svcDoneTitle }
        GridLayout {
            columns: 2
            rowSpacing: 12
            columnSpacing: 24
            BodyText { text: root.s.svcDeviceId; font.bold: true }
            BodyText { objectName: "doneDeviceId"; text: root.done.deviceId || "" }
            BodyText { text: root.s.svcSite; font.bold: true }
            BodyText { objectName: "doneSite"; text: root.done.site || "" }
            BodyText { text: root.s.svcSiteName; font.bold: true; visible: (root.done.siteName || "") !== "" }
            BodyText { text: root.done.siteName || ""; visible: text !== "" }
        }
        Label {
            objectName: "doneStatus"
            text: root.done.status || ""
            color: root.done.online ? Theme.ok : Theme.text
            font.pixelSize: Theme.headingSize
            font.bold: true
            wrapMode: Text.WordWrap
            Layout.fillWidth: true
        }
        // Reserved height: the reason appearing never moves the buttons.
        Label {
            objectName: "doneReason"
            text: root.done.reason || ""
            color: Theme.error
            font.pixelSize: Theme.bodySize
            wrapMode: Text.WordWrap
            maximumLineCount: 3
            elide: Text.ElideRight
            Layout.fillWidth: true
            Layout.preferredHeight: Math.ceil(Theme.bodySize * 1.4) * 3
        }
        RowLayout {
            spacing: 16
            BigButton {
                objectName: "doneRetry"
                text: root.s.svcRetry
                secondary: root.done.online === true
                enabled: root.done.online !== true
                onClicked: root.service.enrolPage.retryOnline()
            }
            BigButton {
                objectName: "doneFinish"
                text: root.s.svcDoneFinish
                onClicked: root.service.enrolPage.finishDone()
            }
        }
        Item { Layout.fillHeight: true }
    }
}
