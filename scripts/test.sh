#!/usr/bin/env bash
# README command 2: set up, then lint, type-check and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export LANG=zh_CN.UTF-8 LC_ALL=zh_CN.UTF-8
echo "[test] ruff"
.venv/bin/ruff check .
echo "[test] mypy"
.venv/bin/mypy
echo "[test] import contracts"
.venv/bin/lint-imports  # [tool.importlinter] in pyproject.toml; docs/ARCHITECTURE.md, "Contracts"
echo "[test] pytest"
exec .venv/bin/python -m pytest "$@"
