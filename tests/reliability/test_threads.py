"""Many runs on one thread: each request is a run of its own (its own id, candidates,
evaluations and winner), the earlier runs stay in the thread's history, and a checkpointer
the user makes round-trips our state with no serializer warning, strict mode or not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "scripts" / "three_runs.py"
ROOT = Path(__file__).parents[2]


def three_runs_on_one_thread(kind: str, target: str, tmp_path: Path, cache: Path, strict: bool) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LANGGRAPH_STRICT_MSGPACK": "true" if strict else "false"}
    done = subprocess.run([sys.executable, str(SCRIPT), kind, target, str(tmp_path / "runs"), str(cache)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def assert_three_runs_apart(result: dict) -> None:
    runs = result["runs"]
    assert len({run["run_id"] for run in runs}) == 3
    assert [run["text"] for run in runs] == ["a red fox running through snow", "a sailboat crossing a bay at dawn",
                                             "a cyclist racing downhill"]
    for run in runs:
        assert run["candidates"] == ["route-1", "route-2"]  # its own two, nothing left of the run before
        assert sorted(run["evaluations"]) == ["route-1", "route-2"]
        assert run["videos_in_run_folder"]
        assert run["choice"] == run["winner"]  # the winner's video and score belong together
    assert result["history_run_ids"] == sorted(run["run_id"] for run in runs)
    assert result["warnings"] == []


@pytest.mark.slow
@pytest.mark.parametrize("strict", [True, False], ids=["strict", "default"])
@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_three_runs_on_one_thread(kind: str, strict: bool, tmp_path: Path, demo_cache: Path):
    result = three_runs_on_one_thread(kind, str(tmp_path / "checkpoints.sqlite"), tmp_path, demo_cache, strict)
    assert_three_runs_apart(result)
