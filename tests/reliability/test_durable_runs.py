"""Durable runs: a job killed by a signal while a tool runs resumes from its thread id,
without rerunning finished steps and without losing the artifacts already made."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).parents[1] / "scripts"


def registry_of_scripts(tmp_path: Path, log: Path, hang_file: Path) -> Path:
    """Three research-repository tools, one per task of the two text routes, all the fake script."""
    env = {"CALL_LOG": str(log), "HANG_FILE": str(hang_file), "HANG_TOOL": "i2v"}

    def entry(name: str, task: str, kind: str) -> dict:
        suffix = "mp4" if kind == "video" else "png"
        return {"task": task, "adapter": "research_repo", "repo_dir": str(HERE), "env": env,
                "command": ["{python}", "fake_model.py", name, kind, "{output_dir}"], "output_glob": f"*.{suffix}",
                "timeout_s": 300}

    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump({"tools": {
        "t2v": entry("t2v", "text_to_video", "video"),
        "t2i": entry("t2i", "text_to_image", "image"),
        "i2v": entry("i2v", "image_to_video", "video"),
    }}))
    return path


def calls(log: Path) -> dict[str, int]:
    """How many times each tool started (the judge's own lines are not tool calls)."""
    counts: dict[str, int] = {}
    for line in log.read_text().splitlines() if log.exists() else []:
        name, event = line.split()
        if event == "start" and name != "judge":
            counts[name] = counts.get(name, 0) + 1
    return counts


def finished_branches(database: Path) -> int:
    """Route branches whose result the checkpointer has saved: their writes to the candidates channel.
    Only the branches' (`Send` pushes): the node that reads the inputs also writes that channel, to empty
    it, and counting it let the job be killed before route 1 had finished, now and then."""
    try:
        with sqlite3.connect(database) as db:
            return db.execute("SELECT count(*) FROM writes WHERE channel = 'candidates' "
                              "AND task_path LIKE '~__pregel_push%'").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def test_a_job_killed_during_a_tool_step_resumes_without_redoing_finished_steps(tmp_path: Path):
    log, hang = tmp_path / "calls.log", tmp_path / "hang"
    hang.touch()
    registry = registry_of_scripts(tmp_path, log, hang)
    artifacts, database = tmp_path / "runs", tmp_path / "checkpoints.sqlite"
    command = [sys.executable, str(HERE / "run_job.py"), str(registry), str(artifacts), str(database), "job-1"]
    env = {**os.environ, "PYTHONPATH": str(HERE.parents[1])}

    # 1. Start the job; it hangs in route 2's second step (i2v) once route 1 (t2v) is done.
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
    deadline = time.monotonic() + 120
    while not (calls(log).get("i2v") and finished_branches(database) >= 1):
        assert first.poll() is None, first.stderr.read().decode()[-3000:]
        assert time.monotonic() < deadline, f"the job never reached the i2v step: {calls(log)}"
        time.sleep(0.1)
    os.killpg(first.pid, signal.SIGKILL)  # the process and the tool's process group
    first.wait()
    made_before = sorted(p.name for p in artifacts.rglob("steps/*") if p.suffix in (".mp4", ".png"))
    assert calls(log) == {"t2v": 1, "t2i": 1, "i2v": 1}
    assert any(name.startswith("text_to_video-t2v") for name in made_before)

    # 2. Resume the same thread; the tool no longer hangs.
    hang.unlink()
    resumed = subprocess.run([*command, "--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    outcome = json.loads(resumed.stdout.strip().splitlines()[-1])

    # t2v (route 1, finished and checkpointed) and t2i (route 2's finished first step) ran once; i2v
    # ran again because it was cut short.
    assert calls(log) == {"t2v": 1, "t2i": 1, "i2v": 2}
    route_1, route_2 = outcome["candidates"]["route-1"], outcome["candidates"]["route-2"]
    assert Path(route_1["video"]).name in made_before and Path(route_1["video"]).is_file()
    assert route_2["error"] is None and route_2["reused"] == [True, False]
    assert Path(outcome["video"]).is_file()
    made_after = {p.name for p in artifacts.rglob("steps/*") if p.suffix in (".mp4", ".png")}
    assert set(made_before) <= made_after


def test_a_job_killed_while_judging_resumes_without_rerunning_any_tool(tmp_path: Path):
    log, tool_hang, judge_hang = tmp_path / "calls.log", tmp_path / "no-tool-hang", tmp_path / "judge-hang"
    judge_hang.touch()
    registry = registry_of_scripts(tmp_path, log, tool_hang)
    artifacts, database = tmp_path / "runs", tmp_path / "checkpoints.sqlite"
    command = [sys.executable, str(HERE / "run_job.py"), str(registry), str(artifacts), str(database), "job-2"]
    env = {**os.environ, "PYTHONPATH": str(HERE.parents[1]), "CALL_LOG": str(log), "JUDGE_HANG_FILE": str(judge_hang)}

    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    while "judge start" not in (log.read_text() if log.exists() else ""):
        assert first.poll() is None, first.stderr.read().decode()[-3000:]
        assert time.monotonic() < deadline, "the job never reached judging"
        time.sleep(0.1)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert calls(log) == {"t2v": 1, "t2i": 1, "i2v": 1}

    judge_hang.unlink()
    resumed = subprocess.run([*command, "--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    outcome = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert calls(log) == {"t2v": 1, "t2i": 1, "i2v": 1}  # judging reran; no tool did
    assert Path(outcome["video"]).is_file()
    assert all(Path(c["video"]).is_file() for c in outcome["candidates"].values())
