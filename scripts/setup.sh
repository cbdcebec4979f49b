#!/usr/bin/env bash
# Creates .venv with spagent-graph and its test dependencies. Safe to run again.
# torch is pinned to the 2.13.0 CPU build for machines without a GPU; on a GPU
# machine install the CUDA build of torch first and this leaves it alone.
# pip's own output goes to .venv/setup.log; its tail is shown if a step fails.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf 'setup: %s\n' "$*"; }
installed() {
  python -c 'import importlib.metadata as m
print(", ".join(f"{p} {m.version(p)}" for p in ("spagent-graph", "torch", "diffusers")))'
}
quietly() {
  if ! "$@" >>.venv/setup.log 2>&1; then
    say "failed: $* (the last lines of .venv/setup.log follow)" >&2
    tail -n 30 .venv/setup.log >&2
    exit 1
  fi
}
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $(python3 --version)"
  python3 -m venv .venv
fi
. .venv/bin/activate
# What the install below depends on: a second run with nothing changed (the test script runs this one
# first) checks that the package imports and stops, rather than spending a minute on pip finding it so.
stamp="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)"
if [ "$(cat .venv/setup.stamp 2>/dev/null)" = "$stamp" ] \
    && python -c "import spagent_graph, torch" 2>/dev/null; then
  say "up to date: $(installed)"
  exit 0
fi
rm -f .venv/setup.stamp
: >.venv/setup.log
quietly python -m pip install --upgrade pip
# --no-compile: byte-compiling every module of every package is most of an install on 2 cores (torch
# alone: 40 s against 12 s); Python compiles the modules a program imports when it first imports them.
if ! python -c "import torch" 2>/dev/null; then
  say "installing torch 2.13.0 (the CPU build)"
  quietly python -m pip install --no-compile "torch==2.13.0"
fi
say "installing spagent-graph (editable) with its test dependencies; about a minute"
quietly python -m pip install --no-compile -e ".[dev]"
echo "$stamp" >.venv/setup.stamp
say "done: $(installed)"
