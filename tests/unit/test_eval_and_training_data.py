"""`spagent eval` on a small dataset made here (figures checked against SciPy), the
ablation switches, and the chat-format training data export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spagent_graph.apps.cli import main
from spagent_graph.apps.evaluation import VARIANTS, load_dataset
from spagent_graph.context import ABLATIONS
from spagent_graph.errors import InputError
from spagent_graph.judging import classical_evaluation
from spagent_graph.media import inspect_media, write_video
from spagent_graph.state import Candidate, Choice, Decision, Evaluation
from spagent_graph.apps.training_data import export_sft, sft_records
from tests.conftest import panning_frames, smooth_picture

scipy_stats = pytest.importorskip("scipy.stats")


def clip(kind: str, seed: int) -> list[np.ndarray]:
    """Videos the frame-statistics judge scores differently: a pan, a still, a flicker."""
    if kind == "pan":
        return panning_frames(8, step=1 + seed % 3)
    if kind == "still":
        return [smooth_picture(seed)] * 8
    base = smooth_picture(seed).astype(int)
    return [np.clip(base + (40 + 10 * seed) * (1 if i % 2 else -1), 0, 255).astype(np.uint8) for i in range(8)]


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """Four text and three image requests; each model list's video has a human score."""
    root = tmp_path / "data"
    (root / "videos").mkdir(parents=True)
    lines = []
    t2v_lists = [["demo-animatediff"], ["demo-modelscope-t2v"], ["demo-sd3", "demo-svd"]]
    i2v_lists = [["demo-svd"], ["demo-i2vgenxl"]]
    for r in range(7):
        image = None
        if r >= 4:
            image = f"inputs/{r}.png"
            (root / "inputs").mkdir(exist_ok=True)
            Image.fromarray(smooth_picture(r)).save(root / image)
        lists = t2v_lists if image is None else i2v_lists
        candidates = []
        for i, tools in enumerate(lists):
            kind = ("pan", "still", "flicker")[(r + i) % 3]
            video = f"videos/{r}-{i}.mp4"
            write_video(clip(kind, r + i), root / video, fps=8)
            human = {"pan": 15.0, "still": 9.0, "flicker": 5.0}[kind] + (r % 3) - i * 0.5
            candidates.append({"tools": tools, "video": video, "human": {"overall": human}})
        request = {"text": f"a fox in the snow, take {r}"} | ({"image": image} if image else {})
        lines.append(json.dumps({"id": f"req-{r}", "request": request, "candidates": candidates}))
    path = root / "dataset.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_spagent_eval_reports_agreement_as_scipy_computes_it(dataset: Path, tmp_path: Path, demo_cache: Path, capsys):
    out = tmp_path / "report.json"
    code = main(["eval", str(dataset), "--variants", "full,no_subject", "--json", str(out), "--registry", "demo",
                 "--cache-dir", str(demo_cache), "--device", "cpu", "--artifacts-dir", str(tmp_path / "runs"),
                 "--judge", "classical"])
    assert code == 0
    report = json.loads(out.read_text())

    # The same judge, run here, against the same human scores.
    judged: dict[str, list[tuple[float, float]]] = {}
    for record in load_dataset(dataset):
        category = "image_to_video" if record.request.image else "text_to_video"
        visual = inspect_media(record.request.image, "image") if record.request.image else None
        for c in record.candidates:
            candidate = Candidate(id="x", route_indices=(0,), tasks=(), tools=c.tools, seed=0, video=c.video)
            judged.setdefault(category, []).append((classical_evaluation(candidate, visual).overall, c.human.overall))
    judged["all"] = judged["text_to_video"] + judged["image_to_video"]
    for category, pairs in judged.items():
        ours, human = zip(*pairs)
        row = report["agreement"][category]
        assert row["n"] == len(pairs)
        assert row["spearman"] == pytest.approx(100 * scipy_stats.spearmanr(ours, human).statistic, abs=1e-9)
        assert row["pearson"] == pytest.approx(100 * scipy_stats.pearsonr(ours, human).statistic, abs=1e-9)
        assert row["kendall"] == pytest.approx(100 * scipy_stats.kendalltau(ours, human).statistic, abs=1e-9)

    full = report["variants"]["full agent"]
    assert full["completion"] == {"text_to_video": 100.0, "image_to_video": 100.0}
    for value in [*full["precision"].values(), *report["variants"]["no_subject"]["precision"].values()]:
        assert 0.0 <= value <= 100.0
    printed = capsys.readouterr().out
    assert "Spearman" in printed and "| full agent |" in printed and "| no_subject |" in printed


def test_the_paper_variants_are_the_context_switches():
    assert {a for group in VARIANTS.values() for a in group} == set(ABLATIONS)
    assert len(VARIANTS) == 6 and VARIANTS["full agent"] == ()


def test_a_bad_dataset_line_is_named(tmp_path: Path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "ok", "request": {"text": "x"}}\n{"id": 3, "request": "nope"}\n')
    with pytest.raises(InputError, match="line 2"):
        load_dataset(path)
    with pytest.raises(InputError, match="not a file"):
        load_dataset(tmp_path / "missing.jsonl")


def test_ablation_switches_change_the_graph_as_documented(demo_context, red_parrot_png: Path):
    from spagent_graph import build_graph
    from spagent_graph.graph import build_planning_graph

    request = {"request": {"text": "a green parrot", "image": str(red_parrot_png)}}
    full = build_planning_graph().invoke(request, context=demo_context)
    assert full["intent"].aligned is False  # the heuristic sees a red parrot
    blind = build_planning_graph().invoke(request, context=demo_context.changed(ablations=("no_intent",)))
    assert blind["intent"].aligned is True and blind["intent"].types_decided_by == "ablation"
    assert blind["route_plan"].routes[0] == ("image_to_video",)
    plan = build_planning_graph().invoke(request, context=demo_context.changed(ablations=("no_subject",)))["model_plan"]
    assert any("no_subject" in note for note in plan.notes)
    with pytest.raises(ValueError, match="ablations.*no_judge.*one_step"):
        type(demo_context)(ablations=("no_judge",))
    assert build_graph  # the same nodes make the full graph


def test_training_data_holds_each_decision_with_its_outcome(tmp_path: Path):
    video = tmp_path / "route-1.mp4"
    state = {
        "run_id": "r1",
        "decisions": [
            Decision(stage="next_task", system="sys", prompt="plan", answer='{"next_task": "text_to_video"}',
                     route_index=0),
            Decision(stage="next_task", system="sys", prompt="plan 2", answer='{"next_task": "text_to_image"}',
                     route_index=1),
            Decision(stage="judge", system="sys", prompt="score", visuals=[(video, "video")], max_frames=8,
                     answer='{"overall": 15}', candidate_id="route-1"),
        ],
        "candidates": [Candidate(id="route-1", route_indices=(0,), tasks=("text_to_video",), tools=("a",), seed=0,
                                 video=video),
                       Candidate(id="route-2", route_indices=(1,), tasks=("text_to_image",), tools=("b",), seed=0,
                                 error="failed")],
        "evaluations": [Evaluation(candidate_id="route-1", visual_aesthetics=8, physical_plausibility=8,
                                   visual_alignment=7, motion_alignment=7, overall=15, judge="m", decided_by="mllm")],
        "choice": Choice(candidate_id="route-1", video=video, overall=15, reason="best"),
    }
    records = sft_records(state)
    assert [r["metadata"]["stage"] for r in records] == ["next_task", "next_task", "judge"]
    first = records[0]
    assert [m["role"] for m in first["messages"]] == ["system", "user", "assistant"]
    assert first["messages"][2]["content"] == '{"next_task": "text_to_video"}'
    assert first["metadata"]["outcome"] == {"completed": True, "winner_overall": 15, "route_overall": 15,
                                            "won": True, "human_overall": None}
    assert records[1]["metadata"]["outcome"]["won"] is False
    judge_content = records[2]["messages"][1]["content"]
    assert judge_content[1] == {"type": "video", "video": str(video.resolve()), "max_frames": 8}
    # Only decisions that led somewhere good, for fine-tuning on demonstrations.
    assert len(sft_records(state, min_overall=12)) == 2
    path = tmp_path / "sft.jsonl"
    assert export_sft([state, state], path) == 6
    assert all(json.loads(line)["messages"] for line in path.read_text().splitlines())
