"""The SPAgent graph.

    inspect_inputs -> recognize_intent -> plan_routes -> select_models -> review_plan
        -> execute_route (one branch per distinct route, in parallel)
        -> judge_candidates -> choose_winner -> review_winner -> update_strengths

review_plan and review_winner pass straight through unless the run's
context asks for a human in the loop (see nodes/review.py).
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from spagent_graph.nodes import (
    choose_winner,
    dispatch_routes,
    execute_route,
    inspect_inputs,
    judge_candidates,
    plan_routes,
    recognize_intent,
    review_plan,
    review_winner,
    select_models,
    update_strengths,
)

from .context import Context
from .persistence import allow_state_types
from .state import InputState, State

__all__ = ["build_graph", "build_planning_graph", "builder", "graph"]


def make_builder() -> StateGraph:
    builder = StateGraph(State, context_schema=Context, input_schema=InputState, output_schema=State)
    builder.add_node("inspect_inputs", inspect_inputs)
    builder.add_node("recognize_intent", recognize_intent)
    builder.add_node("plan_routes", plan_routes)
    builder.add_node("select_models", select_models)
    builder.add_node("review_plan", review_plan)
    builder.add_node("execute_route", execute_route)
    builder.add_node("judge_candidates", judge_candidates)
    builder.add_node("choose_winner", choose_winner)
    builder.add_node("review_winner", review_winner)
    builder.add_node("update_strengths", update_strengths)

    builder.add_edge(START, "inspect_inputs")
    builder.add_edge("inspect_inputs", "recognize_intent")
    builder.add_edge("recognize_intent", "plan_routes")
    builder.add_edge("plan_routes", "select_models")
    builder.add_edge("select_models", "review_plan")
    builder.add_conditional_edges("review_plan", dispatch_routes, ["execute_route", END])
    builder.add_edge("execute_route", "judge_candidates")
    builder.add_edge("judge_candidates", "choose_winner")
    builder.add_edge("choose_winner", "review_winner")
    builder.add_edge("review_winner", "update_strengths")
    builder.add_edge("update_strengths", END)
    return builder


def build_graph(*, checkpointer: Any = None, store: Any = None, name: str = "spagent", **compile_kwargs: Any) -> CompiledStateGraph:
    """A compiled SPAgent graph.

    It can be invoked, streamed (`updates`, `custom` for tool progress),
    checkpointed (pass a checkpointer and a `thread_id`), and added as a node
    of a larger graph. Settings and services come per run as `Context`.
    """
    from . import state

    checkpointer = allow_state_types(checkpointer, state)
    return make_builder().compile(checkpointer=checkpointer, store=store, name=name, **compile_kwargs)


def build_planning_graph(*, name: str = "spagent-plan", **compile_kwargs: Any) -> CompiledStateGraph:
    """The graph's planning stages only (inputs, intent, routes, models), with the same nodes
    and context: for evaluating plans without generating, as `spagent eval` does."""
    builder = StateGraph(State, context_schema=Context, input_schema=InputState, output_schema=State)
    stages = ["inspect_inputs", "recognize_intent", "plan_routes", "select_models"]
    for stage, node in zip(stages, (inspect_inputs, recognize_intent, plan_routes, select_models), strict=True):
        builder.add_node(stage, node)
    for before, after in zip([START, *stages], [*stages, END]):
        builder.add_edge(before, after)
    return builder.compile(name=name, **compile_kwargs)


builder = make_builder()
graph = builder.compile(name="spagent")
