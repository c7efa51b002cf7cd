#!/usr/bin/env bash
# The whole test suite: setup, lint (ruff), types (mypy), then the tiers: unit, fast
# (the app on Ray Serve with the scripted engine) and slow (vLLM and training jobs). The fast
# and slow tiers start their own Ray cluster, Serve app and Redis.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
say() { printf '[test] %s\n' "$*"; }
# The reasoning console's test drives Debian's chromium (Selenium, no browser download).
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  say "installing Debian's chromium and chromium-driver (the console's browser test)"
  sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
say "ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
say "mypy"
.venv/bin/mypy
# Tiers, quickest first; the first tier that fails stops the run.
say "pytest: unit (no services)"
.venv/bin/pytest tests/unit "$@"
say "pytest: fast tier (Ray Serve + scripted engine + Redis; no vLLM, no training)"
.venv/bin/pytest tests/fast "$@"
say "pytest: slow tier (vLLM, Ray Train jobs)"
exec .venv/bin/pytest tests/integration "$@"
