"""examples/run_graph.py, the README's first command, on its defaults and with bad input."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

from spagent_graph import Context
from spagent_graph.media import inspect_media

EXAMPLE = Path(__file__).parents[2] / "examples" / "run_graph.py"


@pytest.fixture(scope="module")
def run_graph():
    spec = importlib.util.spec_from_file_location("run_graph", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_defaults_write_a_report_with_two_playable_candidates(run_graph, tmp_path: Path, monkeypatch, capsys,
                                                               seed_subject_fit):
    monkeypatch.delenv("SPAGENT_MLLM_URL", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # keep the run's demo cache out of the real home
    seed_subject_fit(Path(Context().cache_dir))  # the default cache folder, now under that home
    assert run_graph.run(["--out", str(tmp_path / "out"), "--artifacts-dir", str(tmp_path / "runs")]) == 0
    printed = capsys.readouterr().out
    assert f"winner: {tmp_path / 'out' / 'winner.mp4'}" in printed
    assert f"report: {tmp_path / 'out' / 'report.html'}" in printed

    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["route_plan"]["routes"] == [["text_to_video"], ["text_to_image", "image_to_video"]]
    assert report["choice"]["candidate_id"] in {c["id"] for c in report["candidates"]}
    assert len(report["candidates"]) == 2
    for candidate in report["candidates"]:
        assert inspect_media(candidate["video"], "video").frame_count == 8
    assert inspect_media(tmp_path / "out" / "winner.mp4", "video").frame_count == 8
    html = (tmp_path / "out" / "report.html").read_text()
    for candidate in report["candidates"]:  # the page shows both, by links relative to it
        assert os.path.relpath(candidate["video"], tmp_path / "out") in html


def test_a_missing_input_file_is_reported_and_exits_2(run_graph, tmp_path: Path, capsys):
    assert run_graph.run(["--image", str(tmp_path / "nope.png"), "--out", str(tmp_path / "out"),
                          "--artifacts-dir", str(tmp_path / "runs")]) == 2
    assert "`image`" in capsys.readouterr().err
