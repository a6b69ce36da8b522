import QtQuick
import QtQuick.Controls

Label {
    readonly property bool screenTitle: true  // kiosk/layout_checks.py holds a title to 30 pt in elder mode
    font.pixelSize: Theme.headingSize
    font.bold: true
    color: Theme.text
    wrapMode: Text.WordWrap
}
