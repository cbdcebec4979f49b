"""The judge module (backends, frame sampling, concurrency), learning from use, the
probe set and tool library expansion on the demo tools."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import yaml

from spagent_graph.answers import JudgeAnswer
from spagent_graph.judging import FrameStatisticsJudge, Judge, MLLMJudge, judge_all
from spagent_graph.learning import record_user_choice, strength_updates
from spagent_graph.media import inspect_media, read_frames, write_video
from spagent_graph.probes import probes_for
from spagent_graph.state import SUBJECTS, Candidate, Evaluation, Intent, Request
from spagent_graph.capability_store import CapabilityStore


def numbered_video(path: Path, count: int) -> Path:
    """Frame i is a flat grey of level 10 * i, so a decoded frame tells its index."""
    frames = [np.full((32, 32, 3), 10 * i, dtype=np.uint8) for i in range(count)]
    return write_video(frames, path, fps=8)


def frame_index(frame) -> int:
    return round(float(np.asarray(frame).mean()) / 10)


@pytest.mark.parametrize("count, shown", [(20, 8), (9, 4), (5, 8), (24, 2)])
def test_judge_frames_are_sampled_evenly_in_order_with_first_and_last(tmp_path: Path, count: int, shown: int):
    frames = read_frames(numbered_video(tmp_path / "v.mp4", count), max_frames=shown)
    indices = [frame_index(f) for f in frames]
    assert len(indices) == min(count, shown)
    assert indices == sorted(indices) and len(set(indices)) == len(indices)
    assert indices[0] == 0 and indices[-1] == count - 1
    gaps = np.diff(indices)
    assert gaps.max() - gaps.min() <= 1  # even spacing, up to rounding


def test_judge_answer_schema_bounds_the_scores():
    schema = JudgeAnswer.model_json_schema()
    assert set(schema["required"]) >= {"visual_aesthetics", "physical_plausibility", "visual_alignment",
                                       "motion_alignment", "overall", "rationale"}
    assert schema["properties"]["overall"]["minimum"] == 1 and schema["properties"]["overall"]["maximum"] == 20
    for name in ("visual_aesthetics", "physical_plausibility", "visual_alignment", "motion_alignment"):
        assert (schema["properties"][name]["minimum"], schema["properties"][name]["maximum"]) == (1, 10)
    with pytest.raises(ValueError):
        JudgeAnswer(visual_aesthetics=11, physical_plausibility=5, visual_alignment=5, motion_alignment=5,
                    overall=10, rationale="too high")


class SlowJudge:
    """A judge backend that records how many of its calls ran at once; with `together`, each call
    waits until that many are running, which only happens if they run side by side."""

    name = "slow"

    def __init__(self, together: int = 1) -> None:
        self.running, self.most = 0, 0
        self.lock = threading.Lock()
        self.meeting = threading.Barrier(together, timeout=30)

    def evaluate(self, candidate, request, visual) -> Evaluation:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        self.meeting.wait()
        with self.lock:
            self.running -= 1
        return Evaluation(candidate_id=candidate.id, visual_aesthetics=5, physical_plausibility=5,
                          visual_alignment=5, motion_alignment=5, overall=10, judge=self.name, decided_by="classical")


def candidate(cid: str, video: Path | None = None, tools=("demo-svd",), tasks=("image_to_video",)) -> Candidate:
    return Candidate(id=cid, route_indices=(0,), tasks=tasks, tools=tools, seed=0, video=video)


def test_candidates_are_judged_concurrently_and_returned_in_order():
    judge = SlowJudge(together=4)  # judged one after another, the first call would wait in vain
    assert isinstance(judge, Judge) and isinstance(FrameStatisticsJudge(), Judge)
    candidates = [candidate(f"c{i}") for i in range(4)]
    evaluations = judge_all(judge, candidates, Request(text="x"), None)
    assert [e.candidate_id for e in evaluations] == ["c0", "c1", "c2", "c3"]
    assert judge.most == 4


def test_a_custom_judge_backend_plugs_into_the_graph(demo_context, red_parrot_png: Path):
    from spagent_graph import Services, build_graph

    result = build_graph(services=Services(judge=SlowJudge())).invoke({"request": {"text": "a red parrot", "image": str(red_parrot_png),
                                               "options": {"num_frames": 4, "height": 64, "width": 64}}},
                                  context=demo_context)
    assert {e.judge for e in result["evaluations"]} == {"slow"}


def test_an_unreachable_mllm_judge_falls_back_to_frame_statistics(tmp_path: Path):
    from spagent_graph.errors import MLLMUnavailableError
    from spagent_graph.mllm import MLLMClient

    video = numbered_video(tmp_path / "v.mp4", 8)
    client = MLLMClient(base_url="http://127.0.0.1:9/v1", model="nobody", max_retries=0, timeout_s=2)
    evaluation = MLLMJudge(client).evaluate(candidate("c", video), Request(text="grey"), None)
    assert evaluation.decided_by == "classical" and "MLLM judge failed" in evaluation.notes[-1]
    with pytest.raises(MLLMUnavailableError, match="unreachable|connect|Connection"):
        MLLMJudge(client, fallback=None).evaluate(candidate("c", video), Request(text="grey"), None)


# Learning from use -----------------------------------------------------------------------------


def judged_run(scores: dict[str, float], decided_by="mllm") -> dict:
    intent = Intent(text_type="natural language text", visual_type="single image", subject="animals", aligned=True,
                    types_decided_by="mllm", alignment_decided_by="mllm")
    candidates = [candidate("route-1", tools=("demo-svd",)),
                  candidate("route-2", tools=("demo-sd3-img2img", "demo-i2vgenxl"),
                            tasks=("image_to_image", "image_to_video"))]
    evaluations = [Evaluation(candidate_id=cid, visual_aesthetics=5, physical_plausibility=5, visual_alignment=5,
                              motion_alignment=5, overall=score, judge="m", decided_by=decided_by)
                   for cid, score in scores.items()]
    return {"intent": intent, "candidates": candidates, "evaluations": evaluations}


def test_judged_runs_move_the_running_strengths_with_their_weight():
    store = CapabilityStore()
    store.record("demo-svd", "image_to_video", "animals", 1000, source="judge", weight=1.0)
    state = judged_run({"route-1": 16.0, "route-2": 8.0})
    updates = strength_updates(state, weight=0.5)
    assert {(u.tool, u.task, u.strength) for u in updates} == {
        ("demo-svd", "image_to_video", 1600.0), ("demo-sd3-img2img", "image_to_image", 800.0),
        ("demo-i2vgenxl", "image_to_video", 800.0)}
    from spagent_graph.learning import apply_updates

    apply_updates(store, updates)
    row = store.entries(model="demo-svd")[0]
    assert row.count == 1.5 and row.strength == pytest.approx((1000 + 0.5 * 1600) / 1.5)
    # Frame-statistics scores teach nothing unless asked to.
    assert strength_updates(judged_run({"route-1": 16.0}, decided_by="classical"), weight=0.5) == []
    assert len(strength_updates(judged_run({"route-1": 16.0}, decided_by="classical"), weight=0.5, learn_from="any")) == 1
    assert strength_updates(state, weight=0.5, learn_from="none") == []


def test_the_users_pick_counts_as_a_human_score():
    store = CapabilityStore()
    state = judged_run({"route-1": 16.0, "route-2": 12.0})
    record_user_choice(store, state, "route-2")
    human = {(e.model, e.task): e.strength for e in store.entries() if e.source == "human"}
    assert human[("demo-i2vgenxl", "image_to_video")] == 1700.0  # best judged + 1 point
    assert human[("demo-svd", "image_to_video")] == 1600.0
    with pytest.raises(ValueError, match="route-9"):
        record_user_choice(store, state, "route-9")


def test_a_graph_run_updates_the_store_when_asked_to(demo_context, services, red_parrot_png: Path):
    from spagent_graph import build_graph

    context = demo_context.changed(learn_from="any")
    request = {"request": {"text": "a red parrot", "image": str(red_parrot_png),
                           "options": {"num_frames": 4, "height": 64, "width": 64}}}
    result = build_graph(services=services).invoke(request, context=context)
    used = {(u.tool, u.task) for u in result["strength_updates"]}
    assert used == {(t, task) for c in result["candidates"] if c.video for t, task in zip(c.tools, c.tasks)}
    judged = {(e.model, e.task) for e in services.store(context).entries() if e.source == "judge"}
    assert used <= judged


# Probes and expansion --------------------------------------------------------------------------


@pytest.mark.parametrize("task, kind", [("text_to_video", None), ("image_to_video", "single image"),
                                        ("video_to_video", "video"), ("image_to_image", "single image")])
def test_the_probe_set_covers_every_subject_and_input_kind(tmp_path: Path, task: str, kind: str | None):
    probes = probes_for(task, tmp_path, per_subject=2)
    assert {p.subject for p in probes} == set(SUBJECTS) and len(probes) == 12
    for probe in probes:
        visual = probe.image or probe.video
        assert (visual is None) == (kind is None)
        if visual is not None:
            assert inspect_media(visual, "video" if probe.video else "image").kind == kind
    if kind is not None:  # each subject's visual is probed with a matching and an editing prompt
        from spagent_graph.probes import probe_prompts

        edits = {p.text for p in probes} & {probe_prompts()[s]["edit"] for s in SUBJECTS}
        assert len(edits) == 6


def test_expansion_admits_a_new_tool_and_selection_then_prefers_it_where_it_scored_best(tmp_path, demo_cache):
    from spagent_graph import Context, Services
    from spagent_graph.apps.expansion import build_expansion_graph
    from spagent_graph.selection import rank_tools

    registry = tmp_path / "registry.yaml"
    demo = yaml.safe_load((Path(__file__).parents[2] / "tool_adapters/registries/demo.yaml").read_text())
    newcomer = {k: v for k, v in demo["tools"]["demo-svd"].items() if k != "prior_strengths"}
    registry.write_text(yaml.safe_dump({"include": ["demo"], "tools": {"newcomer": newcomer},
                                        "only": ["demo-i2vgenxl", "newcomer"]}))
    context = Context(registry=str(registry), cache_dir=str(demo_cache),
                      artifacts_dir=str(tmp_path / "runs"), device="cpu", store_path=str(tmp_path / "store.db"))
    services = Services()
    store = services.store(context)
    # The incumbent is known at 1200 everywhere (as a human score); the newcomer is unknown.
    store.put([])
    for subject in SUBJECTS:
        store.record("demo-i2vgenxl", "image_to_video", subject, 1200, source="human", weight=1000)
    tools = ["demo-i2vgenxl", "newcomer"]
    assert {rank_tools("image_to_video", s, tools, store)[0][0] for s in SUBJECTS} == {"demo-i2vgenxl"}
    assert store.entries(model="newcomer") == []

    result = build_expansion_graph(services=services).invoke(
        {"tool": "newcomer", "per_subject": 2, "options": {"num_frames": 8, "height": 64, "width": 96}},
        context=context,
    )

    rows = store.entries(model="newcomer")
    assert {(r.subject, r.source, r.count) for r in rows} == {(s, "judge", 2.0) for s in SUBJECTS}
    learned = {s.subject: s.strength for s in result["strengths"]}
    better = {s for s in SUBJECTS if learned[s] > 1200}
    assert 0 < len(better) < 6, learned  # the probes tell subjects apart
    for subject in SUBJECTS:
        picked = rank_tools("image_to_video", subject, tools, store)[0][0]
        assert picked == ("newcomer" if subject in better else "demo-i2vgenxl"), (subject, learned)
    assert "**newcomer** (new)" in result["report"] and "demo-i2vgenxl" in result["report"]
    assert (tmp_path / "runs" / "expand-newcomer" / "report.md").exists()


def test_spagent_expand_prints_the_new_tools_strengths(tmp_path: Path, demo_cache: Path, capsys):
    from spagent_graph.apps.cli import main

    store = tmp_path / "store.db"
    code = main(["expand", "--tool", "demo-modelscope-v2v", "--per-subject", "1", "--frames", "4", "--height", "64",
                 "--width", "64", "--registry", "demo", "--store-path", str(store), "--cache-dir", str(demo_cache),
                 "--device", "cpu", "--artifacts-dir", str(tmp_path / "runs")])
    assert code == 0
    printed = capsys.readouterr().out
    assert "6 outputs judged, 0 probes failed" in printed and "**demo-modelscope-v2v** (new)" in printed
    rows = CapabilityStore(store).entries(model="demo-modelscope-v2v")
    assert {(r.subject, r.count) for r in rows if r.source == "judge"} == {(s, 1.0) for s in SUBJECTS}
