import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import "../components"

Item {
    id: root
    objectName: "complaintScreen"
    required property var journey
    required property var vm
    readonly property bool typing: Qt.inputMethod.visible
    property string kind: "suggestion"

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: Theme.margin
        spacing: 18
        ScreenTitle { visible: !root.typing; text: root.journey.s.complaintTitle; Layout.fillWidth: true }
        // What is typed into scrolls, so the field comes above the keyboard while the error and the
        // buttons below stay in view.
        Flickable {
            id: flick
            objectName: "complaintFlick"
            Layout.fillWidth: true
            Layout.fillHeight: true
            clip: true
            contentHeight: flickColumn.implicitHeight
            boundsBehavior: Flickable.StopAtBounds
            ColumnLayout {
                id: flickColumn
                width: flick.width
                spacing: 18
                Flow {
                    Layout.fillWidth: true
                    spacing: 16
                    Repeater {
                        model: root.vm.complaintKinds
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
                    previewLabel: root.journey.s.complaintText
                    maximumLength: root.vm.textLimit
                }
                LengthCounter {
                    objectName: "complaintCounter"
                    field: body
                    limit: root.vm.textLimit
                    strings: root.journey.s
                }
                KField {
                    id: phone
                    objectName: "complaintPhone"
                    Layout.fillWidth: true
                    inputKind: "phone"
                    placeholderText: root.journey.s.complaintPhone
                    previewLabel: root.journey.s.complaintPhone
                    maximumLength: 11
                }
            }
        }
        Label {
            objectName: "errorText"
            text: root.journey.errorText
            visible: text.length > 0
            color: Theme.error
            font.pixelSize: Theme.bodySize
            wrapMode: Text.Wrap
            Layout.fillWidth: true
        }
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
                onClicked: root.vm.submitComplaint(root.kind, body.text, phone.text)
            }
        }
    }
}
