#!/usr/bin/env bash
# The whole test suite: setup, lint (ruff), types (mypy), unit and integration tests.
# Integration tests start their own Ray cluster, Serve app and vLLM engine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
say() { printf '[test] %s\n' "$*"; }
say "ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
say "mypy"
.venv/bin/mypy
say "pytest"
exec .venv/bin/pytest tests "$@"
