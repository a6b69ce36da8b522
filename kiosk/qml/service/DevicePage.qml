import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import "../components"

// Who this kiosk is and where it is on the network: for the technician and the hotline. No secrets.
ColumnLayout {
    id: root
    objectName: "devicePage"
    required property var service
    readonly property var info: root.service.devicePage.deviceInfo
    readonly property var s: root.service.s
    spacing: 12

    GridLayout {
        columns: 2
        rowSpacing: 10
        columnSpacing: 24
        Layout.fillWidth: true
        BodyText { text: root.s.svcDeviceId; font.bold: true }
        BodyText { objectName: "devDeviceId"; text: root.info.deviceId || root.s.svcNotProvisioned }
        BodyText { text: root.s.svcSite; font.bold: true }
        BodyText { objectName: "devSite"; text: root.info.site || "—" }
        BodyText { text: root.s.svcSiteName; font.bold: true }
        BodyText { objectName: "devSiteName"; text: root.info.siteName || "—" }
        BodyText { text: root.s.svcVersion; font.bold: true }
        BodyText { objectName: "devVersion"; text: root.info.version || "" }
        BodyText { text: root.s.svcAddresses; font.bold: true }
        BodyText { objectName: "devAddresses"; text: root.info.addresses || "—"; Layout.fillWidth: true }
        BodyText { text: root.s.svcBroker; font.bold: true }
        BodyText { objectName: "devBroker"; text: root.info.brokerHostPort || "—" }
        BodyText { text: root.s.svcCertExpiry; font.bold: true }
        BodyText { objectName: "devCertExpiry"; text: root.info.certExpiry || root.s.svcNoCert }
    }
    BigButton {
        objectName: "deviceRefresh"
        secondary: true
        text: root.s.svcRefresh
        onClicked: root.service.devicePage.refreshDevice()
    }
    Item { Layout.fillHeight: true }
}
