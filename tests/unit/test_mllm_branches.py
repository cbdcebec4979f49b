"""Every MLLM branch of intent, routes and judging, offline, against a scripted
OpenAI-compatible transport: a good answer, one outside the schema, a timeout, a refusal and
a truncated answer. (The same stages against a real vLLM server: tests/integration.)"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import httpx
import numpy as np
import pytest

from spagent_graph.context import Context
from spagent_graph.errors import MLLMError
from spagent_graph.judging import MLLMJudge
from spagent_graph.media import inspect_media, write_video
from spagent_graph.mllm import MLLMClient
from spagent_graph.nodes import plan_routes, recognize_intent
from spagent_graph.services import Services
from spagent_graph.state import Candidate, Request

GOOD = {
    "SubjectAnswer": {"subject": "animals"},
    "IntentAnswer": {"subject": "animals", "aligned": "No"},
    "TypesAnswer": {"text_type": "natural language text", "visual_type": "single image", "subject": "animals"},
    "AlignmentAnswer": {"aligned": "No"},
    "JudgeAnswer": {"visual_aesthetics": 7, "physical_plausibility": 6, "visual_alignment": 8,
                    "motion_alignment": 5, "overall": 14, "rationale": "a fox, running."},
}
FAULTS = {
    "outside the schema": lambda schema: json.dumps({**GOOD.get(schema, {}), "subject": "robots", "overall": 99}),
    "a refusal": lambda schema: "I'm sorry, I can't help with that.",
    "a truncated answer": lambda schema: json.dumps(GOOD.get(schema, {"next_task": "text_to_video"}))[:12],
    "a timeout": lambda schema: None,
}


class ScriptedServer:
    """Answers each question by its schema's name: `answers[name]` gives the content, or None for a timeout."""

    def __init__(self, answers) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        schema = json.loads(request.content)["response_format"]["json_schema"]["name"]
        self.asked.append(schema)
        content = self.answers(schema)
        if content is None:
            raise httpx.ReadTimeout("the scripted server took too long", request=request)
        return httpx.Response(200, json={
            "id": "x", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
        })


def client_for(server: ScriptedServer) -> MLLMClient:
    return MLLMClient(base_url="http://mllm.test/v1", model="m", max_retries=0,
                      http_client=httpx.Client(transport=httpx.MockTransport(server)))


def good(schema: str) -> str:
    return json.dumps(GOOD[schema])


@pytest.fixture(scope="module")
def classifier(demo_cache):
    from spagent_graph.subject import SubjectClassifier

    return SubjectClassifier(cache_dir=demo_cache)  # fitted once per session, as the demo services' is


@pytest.fixture
def parrot(red_parrot_png: Path):
    return inspect_media(red_parrot_png, "image")


def run_intent(server, classifier, visual, context: Context, text="a green parrot"):
    services = Services(mllm=client_for(server), classifier=classifier)
    state = {"request": Request(text=text, image=visual.path if visual else None), "visual": visual}
    return recognize_intent(state, SimpleNamespace(context=context), services=services)


@pytest.mark.parametrize("planner, asked", [("single", ["IntentAnswer"]),
                                            ("paper", ["TypesAnswer", "AlignmentAnswer"])])
def test_a_good_answer_decides_the_intent(classifier, parrot, planner, asked):
    server = ScriptedServer(good)
    update = run_intent(server, classifier, parrot, Context(planner=planner))
    intent = update["intent"]
    assert sorted(server.asked) == sorted(asked)
    assert (intent.subject, intent.aligned) == ("animals", False)
    assert (intent.types_decided_by, intent.alignment_decided_by) == ("mllm", "mllm")
    assert [d.answer for d in update["decisions"]] and not intent.notes


def test_the_single_question_asks_only_the_subject_when_there_is_nothing_to_align(classifier):
    server = ScriptedServer(good)
    intent = run_intent(server, classifier, None, Context(), text="a fox in the snow")["intent"]
    assert server.asked == ["SubjectAnswer"] and intent.alignment_decided_by == "principles"


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("planner", ["single", "paper"])
def test_a_faulty_answer_leaves_the_intent_to_the_fallback_and_says_so(classifier, parrot, planner, fault):
    server = ScriptedServer(FAULTS[fault])
    update = run_intent(server, classifier, parrot, Context(planner=planner))
    intent = update["intent"]
    assert (intent.types_decided_by, intent.alignment_decided_by) == ("fallback", "fallback")
    assert any("MLLM failed on" in note for note in intent.notes), intent.notes
    assert update["decisions"] == []
    with pytest.raises(MLLMError):
        run_intent(ScriptedServer(FAULTS[fault]), classifier, parrot,
                   Context(planner=planner, fallback_on_mllm_error=False))


def test_a_fault_in_one_of_the_papers_questions_leaves_only_that_one_to_the_fallback(classifier, parrot):
    server = ScriptedServer(lambda schema: None if schema == "AlignmentAnswer" else good(schema))
    intent = run_intent(server, classifier, parrot, Context(planner="paper"))["intent"]
    assert (intent.types_decided_by, intent.alignment_decided_by) == ("mllm", "fallback")


# Routes ---------------------------------------------------------------------------------------


def intent_for_text():
    from spagent_graph.state import Intent

    return Intent(text_type="natural language text", visual_type="None", subject="animals", aligned=False,
                  types_decided_by="mllm", alignment_decided_by="principles")


def run_routes(server, context: Context):
    services = Services(mllm=client_for(server))
    return plan_routes({"intent": intent_for_text()}, SimpleNamespace(context=context), services=services)


def test_the_single_planner_asks_nothing_for_routes():
    server = ScriptedServer(good)
    plan = run_routes(server, Context())["route_plan"]
    assert server.asked == [] and plan.decided_by == "principles"
    assert plan.routes == (("text_to_video",), ("text_to_image", "image_to_video"))


def test_the_paper_planner_asks_a_task_at_a_time_until_a_video():
    server = ScriptedServer(lambda schema: json.dumps({"next_task": "text_to_video"}))
    update = run_routes(server, Context(planner="paper"))
    assert update["route_plan"].decided_by == "mllm" and server.asked == ["NextTaskAnswer"] * 2
    assert [d.stage for d in update["decisions"]] == ["next_task", "next_task"]


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_faulty_route_answer_leaves_that_route_to_the_principles(fault):
    server = ScriptedServer(FAULTS[fault])
    plan = run_routes(server, Context(planner="paper"))["route_plan"]
    assert plan.decided_by == "fallback"
    assert plan.routes == (("text_to_video",), ("text_to_image", "image_to_video"))
    assert any("MLLM failed while planning" in repair for repair in plan.repairs)
    with pytest.raises(MLLMError):
        run_routes(ScriptedServer(FAULTS[fault]),
                   Context(planner="paper", fallback_on_mllm_error=False))


# Judging --------------------------------------------------------------------------------------


@pytest.fixture
def made(tmp_path: Path) -> Candidate:
    frames = [np.full((32, 32, 3), 20 * i, dtype=np.uint8) for i in range(8)]
    return Candidate(id="route-1", route_indices=(0,), tasks=("text_to_video",), tools=("demo",), seed=0,
                     video=write_video(frames, tmp_path / "v.mp4", fps=8))


def test_a_good_judge_answer_is_the_score(made: Candidate):
    evaluation = MLLMJudge(client_for(ScriptedServer(good)), frames=4).evaluate(made, Request(text="a fox"), None)
    assert (evaluation.decided_by, evaluation.overall, evaluation.visual_alignment) == ("mllm", 14, 8)
    assert evaluation.raw_answer == json.dumps(GOOD["JudgeAnswer"])


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_faulty_judge_answer_falls_back_to_frame_statistics_or_raises(made: Candidate, fault):
    evaluation = MLLMJudge(client_for(ScriptedServer(FAULTS[fault])), frames=4).evaluate(made, Request(text="a fox"), None)
    assert evaluation.decided_by == "classical" and "MLLM judge failed" in evaluation.notes[-1]
    with pytest.raises(MLLMError):
        MLLMJudge(client_for(ScriptedServer(FAULTS[fault])),
                  frames=4, fallback=None).evaluate(made, Request(text="a fox"), None)
