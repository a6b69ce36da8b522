import QtQuick

// An animated picture of where to put things (issue 14, finding 6), drawn with shapes only (no image
// files): mode "card" lays an ID card flat on the reader pad, holds it for the beep and lifts it;
// mode "qr" brings a phone showing a QR code up to the scanner window and holds it about 10 cm away.
// The animation loops while the guide is visible; `caption` says the same in words.
Item {
    id: guide
    property string mode: "card"
    property string caption: ""
    property string readerLabel: "读卡区"  // the word on the reader pad in the picture, in the screen's language
    readonly property bool animating: cardAnim.running || qrAnim.running
    implicitWidth: Theme.elder ? 440 : 360
    implicitHeight: stage.height + captionText.implicitHeight + 12

    Item {
        id: stage
        objectName: "guideStage"
        width: parent.width
        height: width * 0.62
        clip: true

        // == the ID card on the reader ==========================================================
        Item {
            id: cardScene
            anchors.fill: parent
            visible: guide.mode === "card"

            Rectangle {  // the reader pad, seen from the front at a slant
                id: pad
                objectName: "readerPad"
                width: stage.width * 0.62
                height: stage.height * 0.26
                x: (stage.width - width) / 2
                y: stage.height - height - 8
                radius: 14
                color: "#2F3B4C"
                border.color: "#1B2430"
                border.width: 3
                Text {
                    anchors.centerIn: parent
                    text: guide.readerLabel + " ▸ ID"
                    color: "white"
                    font.pixelSize: Math.max(Theme.elder ? Theme.smallSize : 14, pad.height * 0.3)  // 18 pt in elder mode
                    font.bold: true
                }
            }
            Repeater {  // contactless waves, pulsing while the card rests on the pad
                model: 3
                Rectangle {
                    required property int index
                    width: pad.width * (0.45 + 0.18 * index)
                    height: width * 0.28
                    radius: height / 2
                    x: pad.x + (pad.width - width) / 2
                    y: pad.y - height * 0.25
                    color: "transparent"
                    border.color: Theme.ok
                    border.width: 4
                    opacity: card.resting ? 1.0 - index * 0.3 : 0
                    Behavior on opacity { NumberAnimation { duration: 200 } }
                }
            }
            Rectangle {  // the card: a photo box and text lines, as on a resident ID card
                id: card
                objectName: "guideCard"
                property bool resting: false
                width: pad.width * 0.62
                height: width * 0.63
                x: pad.x + (pad.width - width) / 2
                y: 4
                radius: 8
                color: "#DCEBFA"
                border.color: Theme.primary
                border.width: 3
                Rectangle {
                    x: parent.width * 0.66; y: parent.height * 0.18
                    width: parent.width * 0.24; height: parent.height * 0.58
                    radius: 4; color: "#9DB6D3"
                }
                Repeater {
                    model: 4
                    Rectangle {
                        required property int index
                        x: parent.width * 0.08; y: parent.height * (0.2 + index * 0.17)
                        width: parent.width * (index === 3 ? 0.8 : 0.5); height: parent.height * 0.07
                        radius: 2; color: "#6F8FB5"
                    }
                }
            }
            SequentialAnimation {
                id: cardAnim
                running: guide.visible && guide.mode === "card"
                loops: Animation.Infinite
                PropertyAction { target: card; property: "resting"; value: false }
                PropertyAction { target: card; property: "y"; value: 4 }
                PauseAnimation { duration: 400 }
                NumberAnimation {
                    target: card; property: "y"; to: pad.y - card.height * 0.55
                    duration: 1100; easing.type: Easing.InOutQuad
                }
                PropertyAction { target: card; property: "resting"; value: true }
                PauseAnimation { duration: 1500 }
                PropertyAction { target: card; property: "resting"; value: false }
                NumberAnimation { target: card; property: "y"; to: 4; duration: 700; easing.type: Easing.InQuad }
            }
        }

        // == the QR code at the scanner ===========================================================
        Item {
            id: qrScene
            anchors.fill: parent
            visible: guide.mode === "qr"

            Rectangle {  // the scanner window, with its red aiming light
                id: scanner
                objectName: "scannerWindow"
                width: stage.width * 0.3
                height: stage.height * 0.5
                x: stage.width - width - 12
                y: (stage.height - height) / 2
                radius: 10
                color: "#1B2430"
                Rectangle {
                    anchors.centerIn: parent
                    width: parent.width * 0.7; height: 6; radius: 3
                    color: "#E53935"
                    opacity: phone.atScanner ? 1 : 0.45
                }
                Text {
                    anchors.bottom: parent.bottom; anchors.bottomMargin: 6
                    anchors.horizontalCenter: parent.horizontalCenter
                    text: "▸ QR"
                    color: "white"
                    font.pixelSize: Math.max(Theme.elder ? Theme.smallSize : 14, scanner.height * 0.14)  // 18 pt in elder mode
                }
            }
            Rectangle {  // the distance to keep: about 10 cm
                visible: phone.atScanner
                x: phone.x + phone.width
                width: scanner.x - x
                y: scanner.y + scanner.height + 8
                height: 3
                color: Theme.ok
                Text {
                    anchors.horizontalCenter: parent.horizontalCenter
                    anchors.top: parent.bottom
                    text: "≈10 cm"
                    color: Theme.ok
                    font.pixelSize: Theme.smallSize  // 18 pt in elder mode (kiosk/layout_checks.py)
                    font.bold: true
                }
            }
            Rectangle {  // the phone showing a QR code
                id: phone
                objectName: "guidePhone"
                property bool atScanner: false
                width: stage.width * 0.22
                height: stage.height * 0.74
                y: (stage.height - height) / 2
                x: 8
                radius: 14
                color: "#263238"
                Rectangle {
                    id: screen
                    anchors.fill: parent
                    anchors.margins: 7
                    radius: 6
                    color: "white"
                    Grid {  // a fixed QR-like pattern: three finder squares and some modules
                        anchors.centerIn: parent
                        columns: 7
                        spacing: 0
                        Repeater {
                            model: [1,1,1,0,1,1,1, 1,0,1,0,1,0,1, 1,1,1,0,1,1,1, 0,1,0,1,0,0,1,
                                    1,1,1,0,1,0,0, 1,0,1,1,0,1,1, 1,1,1,0,1,0,1]
                            Rectangle {
                                required property var modelData
                                width: screen.width * 0.12; height: width
                                color: modelData ? "#111111" : "white"
                            }
                        }
                    }
                }
            }
            SequentialAnimation {
                id: qrAnim
                running: guide.visible && guide.mode === "qr"
                loops: Animation.Infinite
                PropertyAction { target: phone; property: "atScanner"; value: false }
                PropertyAction { target: phone; property: "x"; value: 8 }
                PauseAnimation { duration: 400 }
                NumberAnimation {
                    target: phone; property: "x"; to: scanner.x - phone.width - stage.width * 0.16
                    duration: 1100; easing.type: Easing.InOutQuad
                }
                PropertyAction { target: phone; property: "atScanner"; value: true }
                PauseAnimation { duration: 1600 }
                PropertyAction { target: phone; property: "atScanner"; value: false }
                NumberAnimation { target: phone; property: "x"; to: 8; duration: 700; easing.type: Easing.InQuad }
            }
        }
    }

    Text {
        id: captionText
        objectName: "guideCaption"
        anchors.top: stage.bottom
        anchors.topMargin: 12
        width: parent.width
        text: guide.caption
        visible: text.length > 0
        wrapMode: Text.WordWrap
        horizontalAlignment: Text.AlignHCenter
        color: Theme.text
        font.pixelSize: Theme.bodySize
        lineHeight: Theme.lineHeight
    }
}
