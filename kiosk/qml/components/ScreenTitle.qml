import QtQuick
import QtQuick.Controls

Label {
    font.pixelSize: Theme.headingSize
    font.bold: true
    color: Theme.text
    wrapMode: Text.WordWrap
}
