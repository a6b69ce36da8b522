import QtQuick
import QtQuick.Controls

Label {
    font.pixelSize: Theme.bodySize
    color: Theme.text
    wrapMode: Text.WordWrap
    lineHeight: Theme.lineHeight
}
