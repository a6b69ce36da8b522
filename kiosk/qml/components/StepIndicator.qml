import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

// Where the resident is in the application: "第 2 步，共 5 步" and the names of the steps, the current one
// highlighted (by colour and by a bold, underlined name: colour is never the only signal).
Rectangle {
    id: root
    property var labels: []
    property int current: -1
    property string stepText: "{i}/{n}"
    implicitHeight: row.implicitHeight + 16
    color: Theme.surface
    border.color: Theme.border
    border.width: 1
    Accessible.role: Accessible.ProgressBar
    Accessible.name: stepLabel.text

    RowLayout {
        id: row
        anchors.fill: parent
        anchors.leftMargin: Theme.margin
        anchors.rightMargin: Theme.margin
        spacing: 12
        Label {
            id: stepLabel
            objectName: "stepText"
            text: root.stepText.replace("{i}", root.current + 1).replace("{n}", root.labels.length)
            font.pixelSize: Theme.smallSize
            font.bold: true
            color: Theme.text
        }
        Repeater {
            model: root.labels
            delegate: Label {
                required property int index
                required property string modelData
                objectName: "step_" + index
                text: (index < root.current ? "✔ " : "") + modelData
                font.pixelSize: Theme.smallSize
                font.bold: index === root.current
                font.underline: index === root.current
                color: index === root.current ? Theme.primary : Theme.textMuted
                wrapMode: Text.WordWrap  // never elided: a long English step name takes a second line
                Layout.fillWidth: true
                Layout.minimumWidth: 0
                horizontalAlignment: Text.AlignHCenter
            }
        }
    }
}
