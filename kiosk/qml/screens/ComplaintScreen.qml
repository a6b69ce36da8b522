import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import "../components"

Item {
    id: root
    objectName: "complaintScreen"
    required property var journey
    property string kind: "suggestion"

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: Theme.margin
        spacing: 18
        ScreenTitle { text: root.journey.s.complaintTitle; Layout.fillWidth: true }
        Flow {
            Layout.fillWidth: true
            spacing: 16
            Repeater {
                model: root.journey.complaintKinds
                delegate: BigButton {
                    required property var modelData
                    objectName: "complaintKind_" + modelData.key
                    secondary: true
                    checkedLook: root.kind === modelData.key
                    text: (checkedLook ? "✔ " : "") + modelData.text
                    onClicked: root.kind = modelData.key
                }
            }
        }
        KField {
            id: body
            objectName: "complaintText"
            Layout.fillWidth: true
            placeholderText: root.journey.s.complaintText
            maximumLength: 500
        }
        KField {
            id: phone
            objectName: "complaintPhone"
            Layout.fillWidth: true
            inputKind: "phone"
            placeholderText: root.journey.s.complaintPhone
            maximumLength: 11
        }
        Label {
            objectName: "errorText"
            text: root.journey.errorText
            visible: text.length > 0
            color: Theme.error
            font.pixelSize: Theme.bodySize
        }
        Item { Layout.fillHeight: true }
        RowLayout {
            Layout.fillWidth: true
            spacing: 32
            BigButton {
                objectName: "backButton"
                text: root.journey.s.back
                secondary: true
                onClicked: root.journey.back()
            }
            Item { Layout.fillWidth: true }
            BigButton {
                objectName: "submitComplaintButton"
                text: root.journey.s.complaintSubmit
                onClicked: root.journey.submitComplaint(root.kind, body.text, phone.text)
            }
        }
    }
}
