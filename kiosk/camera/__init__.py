"""Camera previews and live code scanning for the QML screens, off the UI thread."""
