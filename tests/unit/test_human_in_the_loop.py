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
