"""A human in the loop (off by default): review of the plan, and the pick of the winner.

With `Context(review_plan=True)` the run stops after model selection with an
`interrupt` showing the intent, both routes and the chosen tools with their
strengths. Resume with `Command(resume=...)`:

- `{"action": "approve"}` runs the plan as it is;
- `{"action": "edit", "routes": [[task, ...], [task, ...]], "tools": [[tool, ...], [tool, ...]]}`
  runs an edited plan (either key may be left out). The edit is checked
  against the principles and the registry; a wrong one interrupts again,
  saying what is wrong;
- `{"action": "cancel"}` ends the run with no candidate.

With `Context(pick_winner=True)` the run stops again after judging, showing
the candidates and their scores; resume with `{"candidate_id": "route-2"}`
(or `{"action": "accept"}` for the judge's pick). The user's pick becomes the
choice and counts as a human score in the capability store.

The reviews are the run's: taken from the context it starts with and kept in
its state (`reviews`), so a resume that carries another context, or none,
still has its answer applied.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from spagent_graph.context import Context
from spagent_graph.services import Services
from spagent_graph.learning import record_user_choice
from spagent_graph.principles import valid_routes
from spagent_graph.selection import model_choice, rank_tools
from spagent_graph.state import Choice, ModelPlan, RoutePlan, State

if TYPE_CHECKING:
    from spagent_graph.capability_store import CapabilityStore
    from spagent_graph.tool_adapters.toolbox import Toolbox


def review_plan(state: State, runtime: Runtime[Context], services: Services) -> dict:
    # Whether to stop is the run's, kept in its state: the context of a resume may differ.
    if "plan" not in state.get("reviews", ()):
        return {}
    context = services.context(runtime)
    problem = None
    while True:
        answer = interrupt(_plan_for_review(state, services.toolbox(context), problem))
        action = answer.get("action") if isinstance(answer, dict) else None
        if action == "approve":
            return {}
        if action == "cancel":
            reason = "Cancelled by the user at plan review."
            return {"choice": Choice(candidate_id=None, video=None, overall=None, reason=reason), "cancelled": True}
        if action == "edit":
            update, problem = _edited_plan(state, services.toolbox(context), services.store(context), answer)
            if problem is None:
                return update
            continue
        problem = f"unknown answer {answer!r}; expected action approve, edit or cancel."


def review_winner(state: State, runtime: Runtime[Context], services: Services) -> dict:
    evaluations = {e.candidate_id: e for e in state.get("evaluations", [])}
    if "winner" not in state.get("reviews", ()) or not evaluations:
        return {}
    context = services.context(runtime)
    candidates = {c.id: c for c in state.get("candidates", [])}
    problem = None
    while True:
        answer = interrupt({
            "kind": "pick_winner",
            "suggested": state["choice"].candidate_id,
            "candidates": [
                {"candidate_id": cid, "video": str(candidates[cid].video), "video_url": candidates[cid].video_url,
                 "tools": list(candidates[cid].tools),
                 "overall": e.overall, "rationale": e.rationale}
                for cid, e in evaluations.items()
            ],
            "problem": problem,
        })
        if isinstance(answer, dict) and answer.get("action") == "accept":
            return {}
        picked = answer.get("candidate_id") if isinstance(answer, dict) else None
        if picked in evaluations:
            record_user_choice(services.store(context), state, picked)
            reason = f"{picked} picked by the user (the judge gave it {evaluations[picked].overall:.2f}/20)."
            return {"choice": Choice(candidate_id=picked, video=candidates[picked].video,
                                     video_url=candidates[picked].video_url, overall=evaluations[picked].overall,
                                     reason=reason)}
        problem = f"{picked!r} is not a judged candidate; expected one of {sorted(evaluations)}."


def _plan_for_review(state: State, toolbox: Toolbox, problem: str | None) -> dict[str, Any]:
    intent = state["intent"]
    tasks = {c.task for route in state["model_plan"].routes for c in route} | {
        t for route in valid_routes(intent) for t in route}
    return {
        "kind": "plan_review",
        "intent": intent.model_dump(mode="json"),
        "routes": [list(route) for route in state["route_plan"].routes],
        "models": [[c.model_dump(mode="json") for c in route] for route in state["model_plan"].routes],
        "allowed_routes": [list(route) for route in valid_routes(intent)],
        "tools_by_task": {task: toolbox.names_for(task) for task in sorted(tasks)},
        "problem": problem,
    }


def _edited_plan(state: State, toolbox: Toolbox, store: CapabilityStore, answer: dict) -> tuple[dict, str | None]:
    intent = state["intent"]
    routes = answer.get("routes") or [list(r) for r in state["route_plan"].routes]
    if not isinstance(routes, list) or len(routes) != 2:
        return {}, "`routes` must be a list of two routes."
    allowed = valid_routes(intent)
    for index, route in enumerate(routes):
        if tuple(route) not in allowed:
            return {}, (f"route {index + 1} {route} breaks the principles for this request; "
                        f"allowed routes are {[list(r) for r in allowed]}.")
    current = [[c.tool for c in route] for route in state["model_plan"].routes]
    tools = answer.get("tools")
    if tools is None:  # routes changed only: keep tools where the task is unchanged, else the best
        tools = [[None] * len(route) for route in routes]
    if not isinstance(tools, list) or len(tools) != 2 or any(len(t) != len(r) for t, r in zip(tools, routes)):
        return {}, "`tools` must give one tool per task of each route."
    planned = []
    for index, (route, route_tools) in enumerate(zip(routes, tools, strict=True)):
        choices = []
        for step, (task, tool) in enumerate(zip(route, route_tools, strict=True)):
            ranked = rank_tools(task, intent.subject, toolbox.names_for(task), store)
            if tool is None:
                keep = tuple(routes[index]) == tuple(state["route_plan"].routes[index])
                tool = current[index][step] if keep else ranked[0][0]
            if tool not in toolbox.names_for(task):
                return {}, (f"route {index + 1}, step {step + 1}: no tool `{tool}` runs {task}; "
                            f"tools for {task}: {toolbox.names_for(task)}.")
            choices.append(model_choice(task, intent.subject, ranked, [name for name, _ in ranked].index(tool), store))
        planned.append(tuple(choices))
    route_plan = RoutePlan(routes=(tuple(routes[0]), tuple(routes[1])), decided_by="human",
                           repairs=["routes and tools edited by the user at plan review."])
    model_plan = ModelPlan(routes=(planned[0], planned[1]), decided_by="human",
                           notes=["edited by the user at plan review."])
    return {"route_plan": route_plan, "model_plan": model_plan}, None
