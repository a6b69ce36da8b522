import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import "../components"

// Counts and times only: no row of the queue is ever shown.
ColumnLayout {
    id: root
    objectName: "networkPage"
    required property var service
    readonly property var info: root.service.networkPage.networkInfo
    spacing: 12

    BodyText {
        objectName: "netBroker"
        text: root.service.s.svcBroker + root.service.s.colon + (root.info.broker || "—") + "  " + (root.info.reachText || "")
    }
    BodyText { objectName: "netTls"; text: root.info.tlsText || "" }
    BodyText { objectName: "netConnection"; text: root.info.connText || "" }
    BodyText {
        objectName: "netReason"
        text: root.info.reason || ""
        visible: text !== ""
        color: Theme.error
        Layout.fillWidth: true
    }
    BodyText {
        objectName: "netLastDelivery"
        text: root.service.s.svcLastDelivery + root.service.s.colon + (root.info.lastDelivery || "")
    }
    BodyText { objectName: "netQueue"; text: root.service.s.svcQueue + root.service.s.colon + (root.info.countsText || "") }
    BodyText { objectName: "netOldest"; text: root.service.s.svcOldest + root.service.s.colon + (root.info.oldest || "") }
    RowLayout {
        spacing: 12
        BigButton {
            objectName: "retryButton"
            text: root.service.s.svcRetry
            onClicked: root.service.networkPage.retryNow()
        }
        BigButton {
            objectName: "netRefresh"
            secondary: true
            text: root.service.s.svcRefresh
            onClicked: root.service.networkPage.refreshNetwork()
        }
    }
    Item { Layout.fillHeight: true }
}
