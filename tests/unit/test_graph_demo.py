"""The whole graph on the demo tools (real diffusers pipelines, tiny random weights, CPU).

Each request kind of the paper is run end to end and checked on its plan,
both candidate files, the evaluations and the winner.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph

from spagent_graph import Choice, Context, GenerationOptions, InputError, Request, UnknownToolError, build_graph
from spagent_graph.media import inspect_media

T2V, T2I, I2I, I2V, V2V = "text_to_video", "text_to_image", "image_to_image", "image_to_video", "video_to_video"
SMALL = GenerationOptions(num_frames=8, height=64, width=64, fps=8)


def run(context: Context, **request) -> dict:
    return build_graph().invoke({"request": Request(options=SMALL, **request)}, context=context)


def assert_candidates_are_playable_videos(state: dict, count: int) -> None:
    assert len(state["candidates"]) == count
    for candidate in state["candidates"]:
        assert candidate.error is None, candidate.error
        info = inspect_media(candidate.video, "video")
        assert (info.kind, info.container, info.frame_count, info.width, info.height) == ("video", "mp4", 8, 64, 64)
        assert all(step.output.is_file() for step in candidate.steps)
    assert {e.candidate_id for e in state["evaluations"]} == {c.id for c in state["candidates"]}
    best = max(state["evaluations"], key=lambda e: e.overall)
    assert state["choice"].candidate_id == best.candidate_id
    assert state["choice"].video == next(c.video for c in state["candidates"] if c.id == best.candidate_id)


def tools_of(state: dict) -> list[list[str]]:
    return [[choice.tool for choice in route] for route in state["model_plan"].routes]


def test_text_only(demo_context: Context):
    state = run(demo_context, text="a red sports car driving along a coastal road")
    intent = state["intent"]
    assert (intent.text_type, intent.visual_type, intent.subject) == ("natural language text", "None", "transportation")
    assert (intent.types_decided_by, intent.alignment_decided_by, intent.aligned) == ("fallback", "principles", False)
    assert state["route_plan"].routes == ((T2V,), (T2I, I2V))
    assert state["route_plan"].decided_by == "principles"
    assert tools_of(state) == [["demo-modelscope-t2v"], ["demo-sd3", "demo-svd"]]  # transportation priors
    assert_candidates_are_playable_videos(state, 2)
    assert all(e.decided_by == "classical" for e in state["evaluations"])


def test_text_with_an_aligned_image(demo_context: Context, red_parrot_png: Path):
    state = run(demo_context, text="a red parrot on a branch", image=red_parrot_png)
    assert (state["intent"].visual_type, state["intent"].aligned, state["intent"].subject) == ("single image", True, "animals")
    assert state["route_plan"].routes == ((I2V,), (I2V,))
    assert tools_of(state) == [["demo-svd"], ["demo-i2vgenxl"]]  # best, then second best
    assert [c.rank for route in state["model_plan"].routes for c in route] == [1, 2]
    assert_candidates_are_playable_videos(state, 2)


def test_text_with_an_unaligned_image(demo_context: Context, red_parrot_png: Path):
    state = run(demo_context, text="a green parrot on a branch", image=red_parrot_png)
    assert state["intent"].aligned is False and state["intent"].alignment_decided_by == "fallback"
    assert state["route_plan"].routes == ((I2I, I2V), (I2I, I2V))
    assert tools_of(state) == [["demo-sd3-img2img", "demo-svd"], ["demo-instruct-pix2pix", "demo-i2vgenxl"]]
    assert_candidates_are_playable_videos(state, 2)
    edited = state["candidates"][0].steps[0].output
    assert inspect_media(edited, "image").kind == "single image"


def test_text_with_a_video(demo_context: Context, panning_mp4: Path):
    state = run(demo_context, text="the same scene in winter", video=panning_mp4)
    assert (state["intent"].visual_type, state["intent"].subject) == ("video", "landscapes")
    assert state["route_plan"].routes == ((V2V,), (V2V,))
    assert tools_of(state) == [["demo-modelscope-v2v"], ["demo-animatediff-v2v"]]  # landscape priors
    assert_candidates_are_playable_videos(state, 2)


def test_an_unknown_subject_ranks_tools_over_all_subjects_and_says_so(demo_context: Context, tmp_path: Path):
    from spagent_graph.apps.report import write_report
    from spagent_graph.selection import rank_tools
    from spagent_graph.services import Services

    services = Services()
    state = build_graph(services=services).invoke({"request": Request(text="zq", options=SMALL)}, context=demo_context)
    intent = state["intent"]
    assert intent.subject == "unknown" and intent.subject_confidence < demo_context.subject_min_confidence
    assert any(note.startswith("subject unknown: the classifier's confidence") for note in intent.notes)
    assert "subject unknown: tools ranked by their strength averaged over all subjects." in state["model_plan"].notes
    store, toolbox = services.store(demo_context), services.toolbox(demo_context)
    overall_best = rank_tools(T2V, None, toolbox.names_for(T2V), store)[0][0]
    assert tools_of(state)[0] == [overall_best]
    assert state["strength_updates"] == []  # nothing to learn about any one subject
    assert_candidates_are_playable_videos(state, 2)
    _, page = write_report(state, tmp_path / "report")
    assert "unknown (confidence" in page.read_text()


def test_identical_work_runs_once(demo_context: Context, red_parrot_png: Path):
    context = demo_context.changed(tools=["demo-svd"])
    state = run(context, text="a red parrot", image=red_parrot_png)
    assert tools_of(state) == [["demo-svd"], ["demo-svd"]]
    assert len(state["candidates"]) == 1
    assert state["candidates"][0].route_indices == (0, 1) and state["candidates"][0].id == "route-1+2"
    assert_candidates_are_playable_videos(state, 1)


def test_a_step_shared_by_both_routes_is_made_once(demo_context: Context, red_parrot_png: Path):
    context = demo_context.changed(tools=["demo-sd3-img2img", "demo-svd", "demo-i2vgenxl"])
    state = run(context, text="turn the parrot blue", image=red_parrot_png)
    first_steps = [c.steps[0] for c in state["candidates"]]
    assert first_steps[0].output == first_steps[1].output
    assert sorted(step.reused for step in first_steps) == [False, True]
    assert_candidates_are_playable_videos(state, 2)


def test_fitting_a_request_to_each_tool_is_recorded(demo_context: Context):
    options = GenerationOptions(num_frames=8, height=72, width=72, fps=8)
    state = build_graph().invoke({"request": Request(text="a cat", options=options)}, context=demo_context)
    two_step = next(c for c in state["candidates"] if len(c.steps) == 2)
    assert two_step.steps[0].adjustments == ["size 72x72 -> 64x64 (sides a multiple of 16, longest side at most 128)"]  # SD3
    assert two_step.steps[1].adjustments == ["input image 64x64 -> 72x72 (scaled, centre-cropped)"]
    assert inspect_media(two_step.video, "video").width == 72


def test_checkpointed_runs_keep_their_state(demo_context: Context):
    graph = build_graph(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t1"}}
    graph.invoke({"request": Request(text="a cat", options=SMALL)}, config=config, context=demo_context)
    saved = graph.get_state(config).values
    assert saved["choice"].video.is_file() and len(saved["candidates"]) == 2


def test_streams_stage_updates_and_custom_progress(demo_context: Context):
    stages, progress = [], []
    for mode, chunk in build_graph().stream({"request": Request(text="a cat", options=SMALL)}, context=demo_context,
                                            stream_mode=["updates", "custom"]):
        (stages if mode == "updates" else progress).append(chunk)
    names = [next(iter(update)) for update in stages]
    assert names[:5] == ["inspect_inputs", "recognize_intent", "plan_routes", "select_models", "review_plan"]
    assert names[-6:] == ["judge_candidates", "choose_winner", "review_winner", "update_strengths", "record_run",
                          "reply"]
    assert {p["stage"] for p in progress} == {"execute", "denoise", "judge"}
    denoise = [p for p in progress if p["stage"] == "denoise"]
    assert {(p["step"], p["total"]) for p in denoise if p["tool"] == "demo-sd3"} == {(1, 2), (2, 2)}


class Storyboard(TypedDict, total=False):
    request: Request
    choice: Choice
    shots: list[str]


def test_embeds_as_a_node_of_a_larger_graph(demo_context: Context):
    parent = StateGraph(Storyboard)
    parent.add_node("spagent", build_graph())
    parent.add_node("collect", lambda state: {"shots": [str(state["choice"].video)]})
    parent.add_edge(START, "spagent")
    parent.add_edge("spagent", "collect")
    parent.add_edge("collect", END)
    result = parent.compile().invoke({"request": Request(text="a dog", options=SMALL)}, context=demo_context)
    assert Path(result["shots"][0]).is_file()


def test_graph_shape_is_pinned():
    snapshot = Path(__file__).parent / "snapshots" / "graph.mmd"
    assert build_graph().get_graph().draw_mermaid() == snapshot.read_text()


@pytest.mark.parametrize(
    "request_fields, message",
    [
        ({}, r"`request`: is empty"),
        ({"text": "   "}, r"`request`: is empty"),
        ({"image": "/nonexistent/cat.png"}, r"`image` \(/nonexistent/cat.png\): file does not exist"),
        ({"text": "x", "image": "a.png", "video": "b.mp4"}, r"has both `image` and `video`"),
    ],
)
def test_bad_requests_fail_with_the_input_named(demo_context: Context, request_fields: dict, message: str):
    with pytest.raises(InputError, match=message):
        build_graph().invoke({"request": request_fields}, context=demo_context)


def test_a_text_file_named_png(demo_context: Context, tmp_path: Path):
    fake = tmp_path / "photo.png"
    fake.write_text("hello")
    with pytest.raises(InputError, match=r"`image` \(.*photo.png\): is neither an image"):
        run(demo_context, text="a cat", image=fake)


def test_an_unreadable_file(demo_context: Context, tmp_path: Path):
    garbage = tmp_path / "clip.mp4"
    garbage.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    with pytest.raises(InputError, match=r"`video` \(.*clip.mp4\)"):
        run(demo_context, text="a cat", video=garbage)


def test_an_unknown_tool_in_the_config(demo_context: Context):
    with pytest.raises(UnknownToolError, match=r"Unknown tool `sora`"):
        run(demo_context.changed(tools=["demo-svd", "sora"]), text="a cat")


def test_a_failing_tool_fails_only_its_route_and_keeps_finished_steps(demo_context: Context, tmp_path: Path):
    from spagent_graph.tool_adapters.pipeline_calls import CALL_STYLES

    def broken(pipeline, offered, spec):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    registry = tmp_path / "registry.yaml"
    registry.write_text(
        "include: [demo]\n"
        "tools:\n"
        "  demo-svd: {task: image_to_video, pipeline: StableVideoDiffusionPipeline, model: demo://demo-svd,\n"
        "             call_style: broken, prior_strengths: 1900}\n"
    )
    CALL_STYLES["broken"] = broken
    try:
        state = run(demo_context.changed(registry=str(registry)), text="a red car on a road")
    finally:
        del CALL_STYLES["broken"]
    failed = next(c for c in state["candidates"] if c.error)
    assert failed.tools == ("demo-sd3", "demo-svd") and "illegal memory access" in failed.error
    assert failed.video is None and failed.steps[0].output.is_file()  # the image made before the failure stays
    assert state["choice"].candidate_id != failed.id and state["choice"].video.is_file()
    assert [e.candidate_id for e in state["evaluations"]] == [state["choice"].candidate_id]
