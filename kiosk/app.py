"""Build the Qt application and load the QML UI with its services provided."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TypeVar

from PySide6.QtCore import QObject
from PySide6.QtGui import QFont, QGuiApplication
from PySide6.QtQml import QQmlApplicationEngine
from PySide6.QtQuick import QQuickWindow

from kiosk import services
from kiosk.camera.preview import PROVIDER_ID as CAMERA_PROVIDER
from kiosk.camera.preview import CameraImageProvider, PreviewStore
from kiosk.catalog.model import Catalog, load_catalog
from kiosk.hardware import Hardware
from kiosk.journey import (
    assist_vm,
    catalogue_vm,
    face_vm,
    feedback_vm,
    form_vm,
    identify_vm,
    materials_vm,
    signature_vm,
    status_vm,
    submission_vm,
)
from kiosk.journey import viewmodel as _journey_vm
from kiosk.journey.config import JourneyConfig
from kiosk.journey.control import JourneyControl
from kiosk.journey.idle import ActivityFilter, TapGuard
from kiosk.journey.qrimage import PROVIDER_ID as QR_PROVIDER
from kiosk.journey.qrimage import QrImageProvider
from kiosk.journey.session_service import JourneySession
from kiosk.journey.submitter import Submitter
from kiosk.keyboard import confine_engine_data
from kiosk.service_mode import viewmodel as _service_vm
from kiosk.service_mode.sync_control import SyncControl
from kiosk.service_mode.viewmodel import ServiceSettings

# The screens' view-models, registered for QML (``import Kiosk``) by importing their modules.
SCREEN_VIEW_MODELS = (catalogue_vm, identify_vm, form_vm, materials_vm, submission_vm, feedback_vm, status_vm,
                      assist_vm, signature_vm, face_vm)
_VM = TypeVar("_VM", bound=QObject)
QML_MAIN = Path(__file__).parent / "qml" / "Main.qml"
# Chinese forms of the glyphs first (Noto's SC family, else WenQuanYi), then Latin fallbacks.
FONT_FAMILIES = ["Noto Sans CJK SC", "WenQuanYi Micro Hei", "Noto Sans", "DejaVu Sans"]


class UiLoadError(RuntimeError):
    pass


def has_display() -> bool:
    if os.environ.get("QT_QPA_PLATFORM", "").startswith("offscreen"):
        return False
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def use_virtual_keyboard() -> None:
    """Qt Virtual Keyboard (Pinyin for Chinese, a number pad for digits) is the kiosk's only keyboard.
    The input method must be chosen before the QGuiApplication exists."""
    os.environ.setdefault("QT_IM_MODULE", "qtvirtualkeyboard")
    confine_engine_data()  # the Pinyin engine's files: a private folder, never the home (kiosk/keyboard.py)


use_virtual_keyboard()  # importing the app module is what the entry points and tests do first


def ensure_application(argv: list[str] | None = None) -> QGuiApplication:
    use_virtual_keyboard()
    app = QGuiApplication.instance()
    if app is None:
        app = QGuiApplication(argv or sys.argv[:1])
        app.setApplicationName("street-kiosk")
        app.setOrganizationName("street-kiosk")
    font = QFont()
    font.setFamilies(FONT_FAMILIES)
    font.setPixelSize(24)
    QGuiApplication.setFont(font)
    assert isinstance(app, QGuiApplication)
    return app


def load_ui(submitter: Submitter, *, hardware: Hardware | None = None, config: JourneyConfig | None = None,
            catalog: Catalog | None = None, fullscreen: bool = False,
            service: ServiceSettings | None = None,
            sync: SyncControl | None = None) -> tuple[QQmlApplicationEngine, QQuickWindow]:
    """Provide the services, load Main.qml and return the engine and its window. ``sync``: how the service
    mode starts, restarts and stops the sync daemon (kiosk.service_mode.sync_control; default: kiosk-syncd
    under systemd)."""
    services.clear()  # a window gets exactly the services given here, nothing of an earlier one
    services.provide(Submitter, submitter)
    config = config or JourneyConfig()
    services.provide(JourneyConfig, config)
    services.provide(ServiceSettings, service or ServiceSettings())
    if sync is not None:
        services.provide(SyncControl, sync)  # type: ignore[type-abstract]
    if hardware is not None:
        services.provide(Hardware, hardware.start())
    catalog = catalog or load_catalog()
    services.provide(Catalog, catalog)
    # The journey-session service every screen's view-model shares (it holds and wipes the resident's data).
    journey_session = JourneySession(submitter, catalog, services.get(Hardware) if hardware is not None else None,
                                     config)
    services.provide(JourneySession, journey_session)
    # The daemon reports the catalogue version in its heartbeat.
    try:
        submitter.outbox.set_states({"catalog_version": catalog.version})
    except Exception as exc:  # an outbox that cannot be opened yet (full disk, lock): the journey pauses
        logging.getLogger("kiosk.app").warning("could not record the catalogue version: %s", exc)
    engine = QQmlApplicationEngine()
    previews = hardware.previews if hardware is not None else PreviewStore()
    engine.addImageProvider(CAMERA_PROVIDER, CameraImageProvider(previews))
    engine.addImageProvider(QR_PROVIDER, QrImageProvider())
    engine.load(QML_MAIN)
    roots = engine.rootObjects()
    if not roots or not isinstance(roots[0], QQuickWindow):
        raise UiLoadError("Main.qml failed to load (see the QML warnings above)")
    window = roots[0]
    vm = journey_of(window)
    journey_session.setParent(vm)
    services.provide(JourneyControl, vm)  # type: ignore[type-abstract]  # a Protocol is the key
    activity = ActivityFilter(vm.touch, window)
    window.installEventFilter(activity)
    # Installed last, so it sees a press first: taps within 500 ms of a screen change are dropped.
    window.installEventFilter(TapGuard(journey_session.tap_allowed, window))
    service_vm = service_of(window)
    window.installEventFilter(ActivityFilter(service_vm.touch, window))  # keeps the service session alive
    if fullscreen:
        window.showFullScreen()
    return engine, window


def journey_of(window: QObject) -> _journey_vm.JourneyViewModel:
    vm = window.findChild(_journey_vm.JourneyViewModel, "journey")
    if vm is None:
        raise UiLoadError("the window has no journey view-model")
    return vm


def view_model(window: QObject, kind: type[_VM]) -> _VM:
    """A screen's view-model of the window (``view_model(window, FormViewModel)``): for tests and tools."""
    vm = window.findChild(kind)
    if vm is None:
        raise UiLoadError(f"the window has no {kind.__name__}")
    return vm


def service_of(window: QObject) -> _service_vm.ServiceModeViewModel:
    vm = window.findChild(_service_vm.ServiceModeViewModel, "serviceMode")
    if vm is None:
        raise UiLoadError("the window has no service-mode view-model")
    return vm
