"""The `spagent` command: settings precedence, tools, store, and run with review,
progress and resume (the run subcommand drives the real graph on the demo tools)."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from spagent_graph.apps.cli import build_parser, main

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
    completed = subprocess.run([sys.executable, "-m", "spagent_graph.apps.cli", "run", "--help"],
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
    assert "| from |" in printed and " | prior 6 |" in printed  # where each strength comes from
    assert json.loads(export.read_text())["strengths"]


def test_run_with_review_reads_the_answer_and_a_resume_finishes_a_thread(
    where, tmp_path: Path, monkeypatch, capsys, user_data_dir: Path
):
    monkeypatch.setattr(sys, "stdin", io.StringIO("approve\n"))
    out = tmp_path / "report"
    code = main(["run", "--text", "a fox in the snow", "--review-plan", "--thread-id", "job-7", "--out", str(out),
                 "--no-progress", *SMALL, *where])
    assert code == 0
    printed = capsys.readouterr().out
    assert '"kind": "plan_review"' in printed and f"winner: {out / 'winner.mp4'}" in printed
    assert (out / "report.html").is_file() and (out / "winner.mp4").is_file()
    # Checkpoints live in the platform's data folder, not the working folder, so a resume works from anywhere.
    assert (user_data_dir / "checkpoints.sqlite").is_file() and not (tmp_path / "runs" / "checkpoints.sqlite").exists()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    # A finished thread resumed does nothing new and reports the same winner.
    assert main(["run", "--thread-id", "job-7", "--resume", "--out", str(out), "--no-progress", *where]) == 0
    assert "winner: " in capsys.readouterr().out


def test_a_run_prints_its_winner_report_and_time_and_nothing_else(where, tmp_path: Path, capsys):
    out = tmp_path / "o"
    assert main(["run", "--text", "a fox", "--out", str(out), "--no-progress", *SMALL, *where]) == 0
    printed = capsys.readouterr()
    lines = printed.out.splitlines()
    assert lines[0] == f"winner: {out / 'winner.mp4'}" and "scored" in lines[1]
    assert any(line == f"report: {out / 'report.html'}" for line in lines)
    assert any(line.startswith("time:   ") and " s (thread " in line for line in lines)
    assert any(line.startswith("note:   the demo tools are tiny random-weight models") for line in lines)
    assert len(lines) == 5 and printed.err == ""  # no library warnings, no loading bars
    assert (out / "winner.mp4").read_bytes()[4:8] == b"ftyp"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_run_shows_progress_bars_per_stage_and_denoising_step(where, tmp_path: Path, monkeypatch):
    monkeypatch.setattr(sys, "stderr", terminal := Terminal())
    assert main(["run", "--text", "a fox", "--out", str(tmp_path / "o"), *SMALL, *where]) == 0
    err = terminal.getvalue()
    assert "stages: 100%" in err and "13/13" in err
    # Every tool of both routes reports its steps, the older pipelines (callback, not callback_on_step_end) too.
    finished = set(re.findall(r"(route-\d demo-[\w-]+): 100%", err))
    assert len(finished) == 3 and {name.split()[0] for name in finished} == {"route-1", "route-2"}, finished
    assert "Loading" not in err and "torchvision" not in err and "deprecated" not in err


def test_progress_into_a_log_is_plain_lines(where, tmp_path: Path, capsys):
    assert main(["run", "--text", "a fox", "--out", str(tmp_path / "o"), *SMALL, *where]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and "\x1b" not in err
    assert err.splitlines()[0] == "stage 1/13: inspect_inputs" and "stage 13/13: reply" in err
    assert len(re.findall(r"route-\d demo-[\w-]+: \d+ steps done", err)) == 3


def one_line_error(capsys) -> str:
    """The one line a mistake printed on standard error (and nothing on standard output)."""
    printed = capsys.readouterr()
    lines = printed.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in printed.err, printed.err
    return lines[0]


@pytest.mark.parametrize(
    "arguments, expected",
    [
        (["a dog surfing"], "unrecognized arguments: a dog surfing (the text goes after --text: "
                            "spagent run --text 'a dog surfing')"),
        (["--frames", "-3"], "argument --frames: expected a whole number of 1 or more, got -3"),
        (["--frames", "0"], "argument --frames: expected a whole number of 1 or more, got 0"),
        (["--width", "wide"], "argument --width: expected a whole number of 1 or more, got 'wide'"),
        (["--seed", "-1"], "argument --seed: expected a whole number of 0 or more, got -1"),
        (["--resume"], "--resume needs --thread-id"),
        (["--judge-frames", "0"], "judge_frames"),
        (["--config", "nope.toml"], "--config: nope.toml is not a file"),
        (["--image", "missing.png"], "`image` (missing.png)"),
        (["--registry", "libary"], "Tool registry 'libary' is neither a built-in registry"),
        (["--tools", "demo-nope"], "Unknown tool `demo-nope`"),
    ],
)
def test_every_mistake_is_one_line_and_exit_code_2(where, arguments, expected, capsys):
    try:  # a mistake argparse finds ends in SystemExit, one found later in a returned code
        code = main(["run", *arguments, "--no-progress", *SMALL, *where])
    except SystemExit as exited:
        code = exited.code
    assert code == 2
    assert expected in one_line_error(capsys)


def test_resuming_a_run_that_is_not_there(where, tmp_path: Path, user_data_dir: Path, capsys):
    assert main(["run", "--thread-id", "nope", "--resume", "--no-progress", *where]) == 2
    assert "there is no checkpoint file at" in one_line_error(capsys)
    assert not (user_data_dir / "checkpoints.sqlite").exists()  # no empty file left behind
    assert main(["run", "--thread-id", "job-1", "--text", "a fox", "--no-progress", *SMALL, *where]) == 0
    capsys.readouterr()
    assert main(["run", "--thread-id", "job-2", "--resume", "--no-progress", *where]) == 2
    assert "no run with thread id 'job-2'" in (line := one_line_error(capsys)) and "job-1" in line


def test_a_malformed_answer_at_plan_review_is_asked_again(where, tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO('{"action": "edit", "routes": [\nmaybe\napprove\n'))
    assert main(["run", "--text", "a fox", "--review-plan", "--no-progress", *SMALL, *where]) == 0
    printed = capsys.readouterr().out
    assert "error: the edit is not valid JSON" in printed and "answer again" in printed
    assert "error: 'maybe' is not an answer; expected approve, cancel or a JSON edit" in printed
    assert "winner: " in printed


def test_end_of_input_at_plan_review_cancels_and_says_so(where, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(["run", "--text", "a fox", "--review-plan", "--no-progress", *SMALL, *where]) == 0
    printed = capsys.readouterr().out
    assert "end of input: plan cancelled." in printed
    assert "no winner: Cancelled by the user at plan review." in printed


def test_a_closed_pipe_ends_quietly(where):
    """`spagent store | head -1`: the reader goes away; no traceback, the status of a closed pipe."""
    command = [sys.executable, "-m", "spagent_graph.apps.cli", "store", "--registry", "demo", *where[4:]]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        # Closed before the command writes: its few kilobytes would otherwise fit the pipe's buffer
        # in one write at exit, and a reader closing after the first line would never be noticed.
        process.stdout.close()
        error = process.stderr.read().decode()
        assert process.wait(timeout=60) == 141
    assert error == ""


def test_config_shows_where_checkpoints_are_kept(where, user_data_dir: Path, capsys):
    assert main(["config"]) == 0
    assert f'checkpoint = "{user_data_dir / "checkpoints.sqlite"}"  # default' in capsys.readouterr().out


def test_an_image_typed_relative_to_the_shell_folder_is_found_with_an_input_folder_set(where, tmp_path: Path,
                                                                                      red_parrot_png: Path):
    # The graph reads a relative path from the input folder; the command means the shell's folder.
    inputs = tmp_path / "inputs"
    (inputs / "shots").mkdir(parents=True)
    (inputs / "shots" / "parrot.png").write_bytes(red_parrot_png.read_bytes())
    code = main(["run", "--text", "a red parrot", "--image", "inputs/shots/parrot.png", "--input-root", str(inputs),
                 "--out", str(tmp_path / "o"), "--no-progress", *SMALL, *where])
    assert code == 0 and (tmp_path / "o" / "winner.mp4").is_file()


@pytest.mark.parametrize(("arguments", "nearest"), [(["--registry", "libary"], "Did you mean `library`?"),
                                                    (["--tools", "demo-sd,demo-svdd"], "Did you mean `demo-svd`?")])
def test_a_misspelt_registry_or_tool_is_refused_before_the_run_with_the_nearest_name(where, tmp_path: Path, capsys,
                                                                                     arguments, nearest):
    out = tmp_path / "report"
    assert main(["run", "--text", "a fox", "--out", str(out), "--no-progress", *arguments, *SMALL, *where]) == 2
    assert nearest in one_line_error(capsys)
    assert not out.exists() and not (tmp_path / "runs").exists()  # no report, no run folder
