#!/usr/bin/env bash
# The main job: set everything up, start the platform in the foreground, send one demo
# request once it is ready, and keep serving until Ctrl-C. Extra args go to `ponder serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/ponder serve --demo "$@"
