#!/usr/bin/env bash
# Creates .venv with spagent-graph and its test dependencies. Safe to run again.
# torch is pinned to the 2.13.0 CPU build for machines without a GPU; on a GPU
# machine install the CUDA build of torch first and this leaves it alone.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -c "import torch" 2>/dev/null || python -m pip install -q "torch==2.13.0"
python -m pip install -q -e ".[dev]"
