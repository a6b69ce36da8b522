#!/usr/bin/env bash
# README command 1: set up, then run the whole loop with simulated hardware (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export LANG=zh_CN.UTF-8 LC_ALL=zh_CN.UTF-8
exec .venv/bin/kiosk demo "$@"
