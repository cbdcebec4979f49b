"""The SPAgent graph.

    inspect_inputs -> recognize_intent -> plan_routes -> select_models -> review_plan
        -> check_tools (every chosen tool's weights are here) -> execute_route (one branch per
        distinct route, in parallel)
        -> judge_candidates -> choose_winner -> review_winner -> update_strengths
        -> record_run (the run's manifest: what made its videos) -> reply

review_plan and review_winner pass straight through unless the run's
context asks for a human in the loop (see nodes/review.py). The served graph
adds a last node that publishes the run's report (`serving.publish_report`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from spagent_graph.nodes import (
    check_tools,
    choose_winner,
    dispatch_routes,
    execute_route,
    inspect_inputs,
    judge_candidates,
    plan_routes,
    recognize_intent,
    record_run,
    reply,
    review_plan,
    review_winner,
    select_models,
    update_strengths,
)

from .context import Context
from .persistence import STATE_MODULES, StateTypesGraph
from .services import Services
from .state import InputState, OutputState, State

__all__ = ["build_graph", "build_planning_graph", "builder", "graph", "make_builder"]

PLANNING_STAGES = (inspect_inputs, recognize_intent, plan_routes, select_models)


def bound(node: Callable, services: Services) -> Callable:
    """`node` with the graph's services, if it takes them; LangGraph still passes the state and the runtime."""
    if "services" not in inspect.signature(node).parameters:
        return node
    return functools.update_wrapper(functools.partial(node, services=services), node)


def make_builder(services: Services | None = None, *, finish: Callable | None = None,
                 output_schema: type = OutputState, name: str = "spagent") -> StateGraph:
    """The uncompiled graph, its nodes bound to `services` (a new `Services()` if none).

    `finish`: a node run after the strengths are updated, before the answer (the served
    graph publishes the run's report there); it is bound to `services` like ours.
    `output_schema`: the keys a run returns (all of the state unless told otherwise); `name`
    signs the AI message that answers each run."""
    services = services or Services()
    builder = StateGraph(State, context_schema=Context, input_schema=InputState, output_schema=output_schema)
    for node in (*PLANNING_STAGES, review_plan, check_tools, execute_route, judge_candidates, choose_winner, review_winner,
                 update_strengths, record_run):
        builder.add_node(node.__name__, bound(node, services))
    builder.add_node("reply", functools.partial(reply, services=services, agent_name=name))

    builder.add_edge(START, "inspect_inputs")
    builder.add_edge("inspect_inputs", "recognize_intent")
    builder.add_edge("recognize_intent", "plan_routes")
    builder.add_edge("plan_routes", "select_models")
    builder.add_edge("select_models", "review_plan")
    builder.add_edge("review_plan", "check_tools")
    builder.add_conditional_edges("check_tools", dispatch_routes, ["execute_route", "reply"])
    builder.add_edge("execute_route", "judge_candidates")
    builder.add_edge("judge_candidates", "choose_winner")
    builder.add_edge("choose_winner", "review_winner")
    builder.add_edge("review_winner", "update_strengths")
    builder.add_edge("update_strengths", "record_run")
    if finish is None:
        builder.add_edge("record_run", "reply")
    else:
        builder.add_node(finish.__name__, bound(finish, services))
        builder.add_edge("record_run", finish.__name__)
        builder.add_edge(finish.__name__, "reply")
    builder.add_edge("reply", END)
    return builder


def build_graph(
    *,
    checkpointer: Any = None,
    store: Any = None,
    services: Services | None = None,
    settings: Context | None = None,
    name: str = "spagent",
    finish: Callable | None = None,
    output_schema: type = OutputState,
    **compile_kwargs: Any,
) -> CompiledStateGraph:
    """A compiled SPAgent graph.

    It can be invoked, streamed (`updates`, `custom` for tool progress),
    checkpointed (pass a checkpointer and a `thread_id`; our state types are
    registered with its serializer), and added as a node of a larger graph.
    A run's settings come as its `Context`; `settings` are the defaults it
    starts from. `services` owns what is built from the settings (loaded
    pipelines, the capability store, ...); hand in ready-made ones there.

    It takes `{"request": Request}` or `{"messages": [...]}` (a chat turn: see
    `spagent_graph.conversation`), and every run ends with an AI message in
    `messages` that answers it.
    """
    compiled = make_builder(Services.of(services, settings), finish=finish, output_schema=output_schema,
                            name=name).compile(
        checkpointer=checkpointer, store=store, name=name, **compile_kwargs)
    return SpagentGraph.of(compiled)


class SpagentGraph(StateTypesGraph):
    """The compiled SPAgent graph: any saver it runs with loads its state types."""

    state_modules = STATE_MODULES


def build_planning_graph(*, services: Services | None = None, name: str = "spagent-plan",
                         **compile_kwargs: Any) -> CompiledStateGraph:
    """The graph's planning stages only (inputs, intent, routes, models), with the same nodes
    and context: for evaluating plans without generating, as `spagent eval` does."""
    services = services or Services()
    builder = StateGraph(State, context_schema=Context, input_schema=InputState, output_schema=OutputState)
    for node in PLANNING_STAGES:
        builder.add_node(node.__name__, bound(node, services))
    names = [node.__name__ for node in PLANNING_STAGES]
    for before, after in zip([START, *names], [*names, END]):
        builder.add_edge(before, after)
    return builder.compile(name=name, **compile_kwargs)


builder = make_builder()
graph = SpagentGraph.of(builder.compile(name="spagent"))
