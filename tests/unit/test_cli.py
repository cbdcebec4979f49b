"""The `spagent` command: settings precedence, tools, store, and run with review,
progress and resume (the run subcommand drives the real graph on the demo tools)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from spagent_graph.cli import build_parser, main

SMALL = ["--frames", "4", "--height", "64", "--width", "64"]


@pytest.fixture
def where(tmp_path: Path, demo_cache: Path, monkeypatch) -> list[str]:
    for name in ("SPAGENT_MLLM_URL", "SPAGENT_REGISTRY", "SPAGENT_CONFIG", "SPAGENT_DEVICE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no ./spagent.toml from elsewhere
    return ["--cache-dir", str(demo_cache), "--device", "cpu", "--artifacts-dir", str(tmp_path / "runs")]


def test_every_command_has_help_that_reads_like_the_readme():
    parser = build_parser()
    text = parser.format_help()
    for command in ("run", "expand", "eval", "tools", "store", "config"):
        assert command in text
    completed = subprocess.run([sys.executable, "-m", "spagent_graph.cli", "run", "--help"],
                               capture_output=True, text=True, check=True)
    assert "--resume" in completed.stdout and "--review-plan" in completed.stdout


def test_config_precedence_is_file_then_environment_then_options(tmp_path: Path, where, monkeypatch, capsys):
    settings = tmp_path / "settings.toml"
    settings.write_text('registry = "paper"\nmllm_model = "from-file"\njudge_frames = 4\n')
    monkeypatch.setenv("SPAGENT_MLLM_MODEL", "from-env")
    assert main(["config", "--config", str(settings), "--device", "cuda:1"]) == 0
    printed = capsys.readouterr().out
    assert f'registry = "paper"  # file {settings}' in printed
    assert 'mllm_model = "from-env"  # environment SPAGENT_MLLM_MODEL' in printed
    assert 'device = "cuda:1"  # option --device' in printed
    assert "judge_frames = 4" in printed and 'judge = "auto"  # default' in printed
    assert main(["config", "--config", str(settings), "--mllm-model", "from-option"]) == 0
    assert 'mllm_model = "from-option"  # option --mllm-model' in capsys.readouterr().out
    assert main(["config", "--config", str(tmp_path / "missing.toml")]) == 2
    assert "--config" in capsys.readouterr().err


def test_tools_and_store(where, tmp_path: Path, capsys):
    assert main(["tools", "--registry", "paper", *where]) == 0
    printed = capsys.readouterr().out
    assert "lavie" in printed.lower() and "research_repo" in printed and " no" in printed
    export = tmp_path / "strengths.json"
    assert main(["store", "--registry", "demo", "--export", str(export), *where]) == 0
    printed = capsys.readouterr().out
    assert "| demo-svd |" in printed and "image_to_video" in printed
    assert json.loads(export.read_text())["strengths"]


def test_run_with_review_reads_the_answer_and_a_resume_finishes_a_thread(where, tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("approve\n"))
    out = tmp_path / "report"
    code = main(["run", "--text", "a fox in the snow", "--review-plan", "--thread-id", "job-7", "--out", str(out),
                 "--no-progress", *SMALL, *where])
    assert code == 0
    printed = capsys.readouterr().out
    assert '"kind": "plan_review"' in printed and "winner: route-" in printed
    assert (out / "report.html").is_file()
    assert (tmp_path / "runs" / "checkpoints.sqlite").is_file()
    # A finished thread resumed does nothing new and reports the same winner.
    assert main(["run", "--thread-id", "job-7", "--resume", "--out", str(out), "--no-progress", *where]) == 0
    assert "winner: route-" in capsys.readouterr().out
    assert main(["run", "--resume", "--no-progress", *where]) == 2


def test_run_shows_progress_bars_per_stage_and_denoising_step(where, tmp_path: Path, capsys):
    assert main(["run", "--text", "a fox", "--out", str(tmp_path / "o"), *SMALL, *where]) == 0
    err = capsys.readouterr().err
    assert "stages: 100%" in err and "10/10" in err
    assert "route-1 demo-" in err and "step" in err
