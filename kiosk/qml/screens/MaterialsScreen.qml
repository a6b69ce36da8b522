import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import "../components"

Item {
    id: root
    objectName: "materialsScreen"
    required property var journey
    required property var vm

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: Theme.margin
        spacing: 16
        ScreenTitle { text: root.journey.itemName + " · " + root.journey.s.materialsTitle; Layout.fillWidth: true }
        BodyText {
            text: root.vm.waitingForLicence ? root.journey.s.scanLicenceHint : root.journey.s.materialsHint
            font.bold: root.vm.waitingForLicence
            Layout.fillWidth: true
        }
        // Side by side on a landscape screen; on a portrait one the camera above the list, so the cards get
        // the screen's whole width.
        GridLayout {
            id: body
            readonly property bool portrait: root.height > root.width
            Layout.fillWidth: true
            Layout.fillHeight: true
            columns: portrait ? 1 : 2
            columnSpacing: 24
            rowSpacing: 16
            Rectangle {
                objectName: "documentPreviewBox"
                Layout.preferredWidth: body.portrait ? -1 : root.width * 0.42
                Layout.fillWidth: body.portrait
                Layout.preferredHeight: body.portrait ? root.height * 0.3 : -1
                Layout.fillHeight: !body.portrait
                color: "#202020"
                radius: Theme.radius
                Image {
                    id: documentPreview
                    objectName: "documentPreview"
                    anchors.fill: parent
                    anchors.margins: 4
                    fillMode: Image.PreserveAspectFit
                    asynchronous: true
                    cache: false
                    source: root.vm.previewFrame > 0 ? "image://camera/document?" + root.vm.previewFrame : ""
                }
                DocumentGuideFrame {  // where the document goes, the shutter's flash, the quality check's advice
                    id: guideFrame
                    objectName: "documentGuideFrame"
                    // on the picture itself (letterboxed in the box), else on the whole box
                    anchors.centerIn: parent
                    width: documentPreview.paintedWidth > 0 ? documentPreview.paintedWidth : parent.width - 8
                    height: documentPreview.paintedHeight > 0 ? documentPreview.paintedHeight : parent.height - 8
                    visible: root.vm.hasDocumentCamera
                    hint: root.journey.s.guideDocument
                    advice: root.vm.captureAdvice
                    adviceOk: root.vm.captureAdviceOk
                }
            }
            ListView {
                id: list
                objectName: "materialList"
                Layout.fillWidth: true
                Layout.fillHeight: true
                clip: true
                spacing: 12
                model: root.vm.materials
                boundsBehavior: Flickable.StopAtBounds
                delegate: Rectangle {
                    id: card
                    required property int index
                    required property string name
                    required property bool isRequired
                    required property bool allowMissing
                    required property string mstate
                    required property string stateText
                    required property string thumb
                    required property bool canScan
                    required property string licences
                    required property bool exempt
                    required property bool canDeclare
                    width: list.width
                    height: cardColumn.implicitHeight + 24
                    radius: Theme.radius
                    color: Theme.surface
                    border.color: card.mstate === "needed" && card.isRequired ? Theme.border : Theme.ok
                    border.width: 2
                    ColumnLayout {
                        id: cardColumn
                        anchors.fill: parent
                        anchors.margins: 12
                        spacing: 8
                        RowLayout {
                            Layout.fillWidth: true
                            Image {
                                visible: card.thumb.length > 0
                                source: card.thumb
                                asynchronous: true
                                cache: false
                                Layout.preferredWidth: 120
                                Layout.preferredHeight: 90
                                fillMode: Image.PreserveAspectFit
                            }
                            ColumnLayout {
                                Layout.fillWidth: true
                                Label {
                                    text: card.name + (card.isRequired ? "" : root.journey.s.optional)
                                    font.pixelSize: Theme.bodySize
                                    font.bold: true
                                    color: Theme.text
                                    wrapMode: Text.WordWrap
                                    Layout.fillWidth: true
                                }
                                Label {
                                    objectName: "materialState_" + card.index
                                    text: (card.mstate === "needed" ? "○ " : "✔ ") + card.stateText
                                    font.pixelSize: Theme.smallSize
                                    color: card.mstate === "needed" ? Theme.textMuted : Theme.ok
                                    wrapMode: Text.WordWrap
                                    Layout.fillWidth: true
                                }
                            }
                        }
                        // A button never wider than the card: a long label (English, elder mode, portrait) wraps
                        // and the button grows, instead of running out of the card.
                        Flow {
                            id: actions
                            Layout.fillWidth: true
                            spacing: 10
                            BigButton {
                                objectName: "capture_" + card.index
                                visible: card.mstate !== "captured" && !card.exempt  // 免提交: read already
                                enabled: root.vm.hasDocumentCamera && !root.journey.busy
                                text: root.journey.s.capture
                                width: Math.min(implicitWidth, actions.width)
                                implicitHeight: Math.max(Theme.minTarget + 8, contentItem.contentHeight + 24)
                                onClicked: { guideFrame.flash(); root.vm.captureMaterial(card.index) }
                            }
                            BigButton {
                                objectName: "retake_" + card.index
                                visible: card.mstate === "captured" || card.mstate === "elicence"
                                secondary: true
                                text: root.journey.s.retake
                                width: Math.min(implicitWidth, actions.width)
                                implicitHeight: Math.max(Theme.minTarget + 8, contentItem.contentHeight + 24)
                                onClicked: root.vm.retakeMaterial(card.index)
                            }
                            BigButton {
                                objectName: "scan_" + card.index
                                visible: card.canScan && card.mstate === "needed"
                                secondary: true
                                text: root.journey.s.scanLicence
                                width: Math.min(implicitWidth, actions.width)
                                implicitHeight: Math.max(Theme.minTarget + 8, contentItem.contentHeight + 24)
                                onClicked: root.vm.scanLicenceFor(card.index)
                            }
                            BigButton {
                                objectName: "missing_" + card.index
                                visible: card.allowMissing && (card.mstate === "needed" || card.mstate === "missing")
                                secondary: true
                                text: card.mstate === "missing" ? root.journey.s.undoMissing : root.journey.s.markMissing
                                width: Math.min(implicitWidth, actions.width)
                                implicitHeight: Math.max(Theme.minTarget + 8, contentItem.contentHeight + 24)
                                onClicked: root.vm.toggleMissing(card.index)
                            }
                            // 证明事项告知承诺制: the resident's declaration replaces the proof (evidence level D).
                            BigButton {
                                objectName: "declare_" + card.index
                                visible: card.canDeclare && (card.mstate === "needed" || card.mstate === "declared")
                                secondary: true
                                text: card.mstate === "declared" ? root.journey.s.undoDeclare : root.journey.s.materialDeclare
                                width: Math.min(implicitWidth, actions.width)
                                implicitHeight: Math.max(Theme.minTarget + 8, contentItem.contentHeight + 24)
                                onClicked: root.vm.toggleDeclared(card.index)
                            }
                        }
                    }
                }
            }
        }
        Label {
            objectName: "errorText"
            text: root.journey.errorText
            visible: text.length > 0
            color: Theme.error
            font.pixelSize: Theme.bodySize
            wrapMode: Text.WordWrap
            Layout.fillWidth: true
        }
        RowLayout {
            spacing: 32
            Layout.fillWidth: true
            BigButton {
                objectName: "backButton"
                text: root.journey.s.back
                secondary: true
                onClicked: root.journey.back()
            }
            Item { Layout.fillWidth: true }
            BigButton {
                objectName: "materialsNextButton"
                text: root.journey.s.next
                enabled: !root.journey.busy
                onClicked: root.vm.materialsNext()
            }
            // In the middle on even steps, at the right on odd ones (journey.advanceOnRight).
            Item { Layout.fillWidth: true; visible: !root.journey.advanceOnRight }
        }
    }
}
