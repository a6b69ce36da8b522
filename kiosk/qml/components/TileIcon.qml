import QtQuick
import QtQuick.Controls

// A service tile's icon: the category's mark in a filled circle (the catalogue names an icon per category;
// a one-character mark reads at any size, in any font, without image files).
Rectangle {
    id: root
    property string icon: ""
    property string label: ""
    readonly property var marks: ({
        "id-card": "证", "shield": "保", "medical": "医", "home": "房", "elder": "老",
        "baby": "育", "briefcase": "业", "accessibility": "残"
    })
    implicitWidth: Theme.elder ? 72 : 56
    implicitHeight: implicitWidth
    radius: width / 2
    color: Theme.primary
    Accessible.role: Accessible.Graphic
    Accessible.name: label
    Text {
        anchors.centerIn: parent
        text: root.marks[root.icon] || (root.label.length ? root.label.charAt(0) : "·")
        color: "white"
        font.pixelSize: Math.round(root.width * 0.5)
        font.bold: true
    }
}
