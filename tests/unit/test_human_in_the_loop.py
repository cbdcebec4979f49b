"""The human in the loop: plan review (approve, edit valid and invalid, cancel) and the pick
of the winner, through LangGraph interrupts and `Command(resume=...)` on a checkpointer."""

from __future__ import annotations

from pathlib import Path

import pytest
from langgraph.types import Command

from spagent_graph import build_graph
from spagent_graph.persistence import open_checkpointer

REQUEST = {"request": {"text": "a red fox running through snow", "options": {"num_frames": 4, "height": 64, "width": 64}}}


@pytest.fixture
def graph(services):
    with open_checkpointer("memory") as saver:
        yield build_graph(checkpointer=saver, services=services)


def start(graph, context, thread: str):
    config = {"configurable": {"thread_id": thread}}
    result = graph.invoke(REQUEST, config, context=context)
    return config, result


def test_plan_review_shows_the_plan_and_approve_runs_it(graph, demo_context):
    context = demo_context.changed(review_plan=True)
    config, paused = start(graph, context, "approve")
    (pending,) = paused["__interrupt__"]
    shown = pending.value
    assert shown["kind"] == "plan_review" and shown["problem"] is None
    assert shown["routes"] == [["text_to_video"], ["text_to_image", "image_to_video"]]
    assert all("strength" in choice and "tool" in choice for route in shown["models"] for choice in route)
    assert not paused.get("candidates")  # nothing ran before the approval
    result = graph.invoke(Command(resume={"action": "approve"}), config, context=context)
    assert result["choice"].video is not None and len(result["candidates"]) == 2


def test_an_edited_plan_is_checked_and_run(graph, demo_context):
    context = demo_context.changed(review_plan=True)
    config, paused = start(graph, context, "edit")
    shown = paused["__interrupt__"][0].value
    other_t2v = [t for t in shown["tools_by_task"]["text_to_video"] if t != shown["models"][0][0]["tool"]][0]

    # Invalid edits interrupt again, saying what is wrong; the plan is unchanged.
    again = graph.invoke(Command(resume={"action": "edit", "routes": [["image_to_video"], ["text_to_video"]]}),
                         config, context=context)
    assert "breaks the principles" in again["__interrupt__"][0].value["problem"]
    again = graph.invoke(Command(resume={"action": "edit", "tools": [["no-such-tool"], ["demo-sd3", "demo-svd"]]}),
                         config, context=context)
    assert "no tool `no-such-tool` runs text_to_video" in again["__interrupt__"][0].value["problem"]

    edit = {"action": "edit", "routes": [["text_to_video"], ["text_to_video"]], "tools": [[other_t2v], [None]]}
    result = graph.invoke(Command(resume=edit), config, context=context)
    plan = result["model_plan"]
    assert plan.decided_by == "human" and result["route_plan"].decided_by == "human"
    assert [[c.tool for c in route] for route in plan.routes][0] == [other_t2v]
    assert {c.tools for c in result["candidates"]} >= {(other_t2v,)}
    assert result["choice"].video is not None


def test_cancel_ends_the_run_with_no_candidate(graph, demo_context):
    context = demo_context.changed(review_plan=True)
    config, _ = start(graph, context, "cancel")
    result = graph.invoke(Command(resume={"action": "cancel"}), config, context=context)
    assert result["cancelled"] is True and not result.get("candidates")
    assert result["choice"].video is None and "Cancelled by the user" in result["choice"].reason


def test_the_user_picks_the_winner_and_it_counts_as_a_human_score(graph, demo_context, services):
    context = demo_context.changed(pick_winner=True)
    config, paused = start(graph, context, "pick")
    shown = paused["__interrupt__"][0].value
    assert shown["kind"] == "pick_winner" and len(shown["candidates"]) == 2
    other = next(c for c in shown["candidates"] if c["candidate_id"] != shown["suggested"])
    again = graph.invoke(Command(resume={"candidate_id": "route-9"}), config, context=context)
    assert "not a judged candidate" in again["__interrupt__"][0].value["problem"]
    result = graph.invoke(Command(resume={"candidate_id": other["candidate_id"]}), config, context=context)
    assert result["choice"].candidate_id == other["candidate_id"]
    assert Path(result["choice"].video) == Path(other["video"])
    human = {e.model for e in services.store(context).entries() if e.source == "human"}
    assert set(other["tools"]) <= human


def test_without_review_the_graph_runs_straight_through(demo_context):
    result = build_graph().invoke(REQUEST, context=demo_context)
    assert "__interrupt__" not in result and result["choice"].video is not None


# The answer counts whatever context the resume carries --------------------------------------------
# A review is the run's: decided from the context it started with. A resume with the review
# switched off in its context, or with no context at all (the graph's defaults), still applies it.

RESUMES = ["review-off", "no-context"]


@pytest.fixture
def graph_with_defaults(demo_context):
    from spagent_graph.services import Services

    with open_checkpointer("memory") as saver:
        yield build_graph(checkpointer=saver, services=Services(defaults=demo_context))


def resume(graph, answer, config, demo_context, how: str):
    if how == "review-off":
        return graph.invoke(Command(resume=answer), config, context=demo_context)
    return graph.invoke(Command(resume=answer), config)


@pytest.mark.parametrize("how", RESUMES)
def test_a_cancel_is_applied_on_a_resume_with_another_context(graph_with_defaults, demo_context, how: str):
    config, _ = start(graph_with_defaults, demo_context.changed(review_plan=True), f"cancel-{how}")
    result = resume(graph_with_defaults, {"action": "cancel"}, config, demo_context, how)
    assert result["cancelled"] is True and not result.get("candidates")


@pytest.mark.parametrize("how", RESUMES)
def test_an_approval_and_an_edit_are_applied_on_a_resume_with_another_context(graph_with_defaults, demo_context,
                                                                            how: str):
    config, paused = start(graph_with_defaults, demo_context.changed(review_plan=True), f"approve-{how}")
    assert resume(graph_with_defaults, {"action": "approve"}, config, demo_context, how)["choice"].video
    config, paused = start(graph_with_defaults, demo_context.changed(review_plan=True), f"edit-{how}")
    shown = paused["__interrupt__"][0].value
    other_t2v = next(t for t in shown["tools_by_task"]["text_to_video"] if t != shown["models"][0][0]["tool"])
    edit = {"action": "edit", "routes": [["text_to_video"], ["text_to_video"]], "tools": [[other_t2v], [None]]}
    result = resume(graph_with_defaults, edit, config, demo_context, how)
    assert result["model_plan"].decided_by == "human"
    assert {c.tools for c in result["candidates"]} >= {(other_t2v,)}


@pytest.mark.parametrize("how", RESUMES)
def test_a_picked_winner_is_applied_on_a_resume_with_another_context(graph_with_defaults, demo_context, how: str):
    config, paused = start(graph_with_defaults, demo_context.changed(pick_winner=True), f"pick-{how}")
    shown = paused["__interrupt__"][0].value
    other = next(c for c in shown["candidates"] if c["candidate_id"] != shown["suggested"])
    result = resume(graph_with_defaults, {"candidate_id": other["candidate_id"]}, config, demo_context, how)
    assert result["choice"].candidate_id == other["candidate_id"] and "picked by the user" in result["choice"].reason


def test_a_review_asked_for_only_by_the_resume_is_not_made(graph_with_defaults, demo_context):
    # The run started without a review and finished; a later call's context cannot add one to it.
    config, result = start(graph_with_defaults, demo_context, "no-review")
    assert "__interrupt__" not in result
    assert graph_with_defaults.get_state(config).values["reviews"] == []


# Edits of the state from outside (Studio, update_state with JSON) ------------------------------------


def test_a_state_edit_with_dicts_is_read_into_the_states_types(graph_with_defaults, demo_context):
    config, paused = start(graph_with_defaults, demo_context.changed(review_plan=True), "edit-state")
    values = graph_with_defaults.get_state(config).values
    plan = values["model_plan"].model_dump(mode="json")
    plan["notes"] = ["edited in Studio"]
    graph_with_defaults.update_state(config, {"model_plan": plan, "visual": None})
    edited = graph_with_defaults.get_state(config).values
    assert type(edited["model_plan"]).__name__ == "ModelPlan" and edited["model_plan"].notes == ["edited in Studio"]
    result = graph_with_defaults.invoke(Command(resume={"action": "approve"}), config, context=demo_context)
    assert result["choice"].video is not None


@pytest.mark.parametrize(("key", "value"), [("visual", {"path": "x.png"}), ("route_plan", {"routes": [["fly"]]}),
                                            ("candidates", [{"id": 3}])])
def test_a_state_edit_that_is_not_the_states_type_is_refused_naming_the_key(graph_with_defaults, demo_context,
                                                                           key: str, value):
    from spagent_graph.errors import InputError

    config, _ = start(graph_with_defaults, demo_context.changed(review_plan=True), f"bad-edit-{key}")
    before = graph_with_defaults.get_state(config).values[key]
    with pytest.raises(InputError, match=f"`{key}`: is not a valid `{key}` of the graph's state"):
        graph_with_defaults.update_state(config, {key: value})
    assert graph_with_defaults.get_state(config).values[key] == before
