"""Mistakes on the command line caught before any work: one `error:` line naming the option, exit code 2,
nothing written; Ctrl-C is one line with the command that continues the run (exit 130)."""

from __future__ import annotations

from pathlib import Path

import pytest

from spagent_graph.apps import runner
from spagent_graph.apps.cli import build_parser, main
from tests.unit.test_cli import SMALL, where  # noqa: F401 (a fixture)


def one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and captured.out == "", captured
    return lines[0]


@pytest.mark.parametrize("arguments, said", [
    (["--frames", "100000"], "error: --frames: Input should be less than or equal to 1024"),
    (["--out", "{file}"], "error: --out {file}: is a file; expected a folder to write into."),
    (["--artifacts-dir", "{file}/runs"], "error: --artifacts-dir {file}/runs: {file} is a file, so no folder can be made"),
    (["--checkpoint", "{file}"], "error: --checkpoint {file}: cannot be opened as a SQLite file (file is not a database)."),
    (["--checkpoint", "{tmp}"], "error: --checkpoint {tmp}: is a folder; expected a SQLite file"),
    (["--mllm-url", "http://127.0.0.1:9/v1"], "error: --mllm-url http://127.0.0.1:9/v1: the MLLM could not be reached"),
])
def test_a_mistake_is_one_line_before_any_work(where, tmp_path: Path, capsys, arguments: list[str], said: str):
    file = tmp_path / "a-file.txt"
    file.write_text("not a folder, not a database, " * 40)
    given = [a.format(file=file, tmp=tmp_path) for a in arguments]
    assert main(["run", *where, *SMALL, "--no-progress", *given]) == 2
    assert one_error_line(capsys).startswith(said.format(file=file, tmp=tmp_path))
    assert not (tmp_path / "runs").exists()  # nothing written


def test_cuda_asked_of_a_torch_without_it(where, capsys, monkeypatch):
    monkeypatch.setattr("torch.version.cuda", None)
    assert main(["run", *[w for w in where if w != "cpu" and w != "--device"], "--device", "cuda"]) == 2
    assert "built without CUDA; install a CUDA build" in one_error_line(capsys)


def test_an_unreachable_mllm_may_be_left_to_the_fallback_in_words(where, tmp_path: Path, capsys):
    assert main(["run", *where, *SMALL, "--no-progress", "--mllm-url", "http://127.0.0.1:9/v1",
                 "--fallback-on-mllm-error", "true", "--mllm-max-retries", "0"]) == 0
    out = capsys.readouterr().out
    assert "winner: " in out and "note:   the MLLM failed (" in out and "the MLLM-free planner decided" in out
    report = Path(next(line for line in out.splitlines() if line.startswith("report: ")).split(" ", 1)[1])
    page = report.read_text()
    assert "Nothing failed" not in page and "could not be reached" in page


def test_ctrl_c_is_one_line_with_the_resume_command(where, capsys, monkeypatch):
    def interrupted(self, mode, chunk):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner.ProgressBars, "update", interrupted)
    assert main(["run", *where, *SMALL, "--thread-id", "job-9"]) == 130
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines()[-1] == (
        "interrupted: continue this run with `spagent run --thread-id job-9 --resume`.")
    assert "Traceback" not in captured.err


def test_progress_into_a_log_is_plain_lines(where, tmp_path: Path, capsys):
    assert main(["run", *where, *SMALL]) == 0  # pytest's captured stderr is no terminal
    err = capsys.readouterr().err
    assert "\r" not in err and "\x1b[" not in err
    assert "stage 1/13: inspect_inputs" in err and "stage 13/13: reply" in err


def test_a_flag_reads_in_the_usage_line():
    usage = build_parser()._subparsers._group_actions[0].choices["run"].format_usage()
    assert "[--review-plan [true|false]]" in usage and "[--review-plan ]" not in usage


def test_the_store_s_first_line_is_a_task(where, capsys):
    assert main(["store", *where]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "text_to_video"


def test_each_command_lists_the_settings_it_reads():
    from spagent_graph.context import Context
    from spagent_graph.settings import Settings, option_name

    choices = build_parser()._subparsers._group_actions[0].choices
    server = [option_name(n) for n in Settings.model_fields if n.startswith("serve_")]
    for command in ("run", "tools", "doctor", "store", "expand", "bench", "eval"):
        text = choices[command].format_help()
        assert not [o for o in server if o in text], command
        assert all(option_name(n) in text for n in Context.model_fields), command
    assert "--checkpoint" in choices["run"].format_help() and "--checkpoint" not in choices["tools"].format_help()
    assert all(option_name(n) in choices["config"].format_help() for n in Settings.model_fields)
