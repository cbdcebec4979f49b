"""Principle-guided route planning: two routes of tasks, each ending in a video.

By default (`planner="single"`), and with no MLLM, the principles plan both
routes: for any visual input they allow exactly one, so asking could not
change it. With `planner="paper"` and an MLLM, each route is planned step by step (the next task, until the
last output is a video), both routes at once. Whatever the MLLM proposes is
then held to the principles in code; every repair is recorded.

Ablations (`Context.ablations`): `no_route_planning` asks for each whole
route in one answer instead of step by step; `no_principles` keeps the
MLLM's routes as proposed, valid or not.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from langgraph.runtime import Runtime

from spagent_graph.answers import NextTaskAnswer, RouteAnswer
from spagent_graph.context import Context
from spagent_graph.services import Services
from spagent_graph.errors import MLLMError
from spagent_graph.mllm import MLLMClient
from spagent_graph.principles import MAX_ROUTE_LENGTH, enforce_principles, output_kind, plan_by_principles
from spagent_graph.prompts import NEXT_TASK, SECOND_ROUTE_HINT, SYSTEM, WHOLE_ROUTE
from spagent_graph.state import Decision, Intent, RoutePlan, State


def plan_routes(state: State, runtime: Runtime[Context], services: Services) -> dict:
    context = services.context(runtime)
    intent = state["intent"]
    mllm = services.mllm(context)
    if mllm is None or context.planner_mode == "single":
        return {"route_plan": RoutePlan(routes=plan_by_principles(intent), decided_by="principles")}

    ask = _ask_whole_route if context.ablated("no_route_planning") else _ask_route
    with ThreadPoolExecutor(max_workers=2) as pool:
        proposals = list(pool.map(lambda index: ask(mllm, intent, index), (0, 1)))
    failures, proposed, decisions = [], [], []
    for route, route_decisions, error in proposals:
        decisions.extend(route_decisions)
        if error is not None:
            if not context.fallback_on_mllm_error:
                raise error
            failures.append(f"MLLM failed while planning ({error}); the principles planned that route.")
        proposed.append(route)
    if context.ablated("no_principles"):
        routes, repairs = (tuple(proposed[0]), tuple(proposed[1])), ["ablation: principles not enforced."]
    else:
        routes, repairs = enforce_principles(intent, proposed)
    decided_by = "mllm" if not failures else "fallback"
    return {
        "route_plan": RoutePlan(routes=routes, decided_by=decided_by, repairs=failures + repairs,
                                raw_answers=[d.answer for d in decisions]),
        "decisions": decisions,
    }


def _facts(intent: Intent, index: int) -> dict:
    return dict(
        text_type=intent.text_type,
        visual_type=intent.visual_type,
        aligned="Yes" if intent.aligned else "No",
        subject=intent.subject,
        alternative=SECOND_ROUTE_HINT if index == 1 else "",
    )


def _ask_route(mllm: MLLMClient, intent: Intent, index: int) -> tuple[list[str], list[Decision], MLLMError | None]:
    """Asks for one task at a time until the route ends in a video (or is too long)."""
    route: list[str] = []
    decisions: list[Decision] = []
    while len(route) < MAX_ROUTE_LENGTH and not (route and output_kind(route[-1]) == "video"):
        prompt = NEXT_TASK.format(**_facts(intent, index), route_so_far=route or "(empty)")
        try:
            answer = mllm.ask(prompt, NextTaskAnswer, system=SYSTEM)
        except MLLMError as exc:
            return list(plan_by_principles(intent)[index]), decisions, exc
        decisions.append(Decision.asked("next_task", prompt, [], answer.raw, system=SYSTEM, route_index=index))
        if answer.parsed.next_task == "done":
            break
        route.append(answer.parsed.next_task)
    return route, decisions, None


def _ask_whole_route(mllm: MLLMClient, intent: Intent, index: int) -> tuple[list[str], list[Decision], MLLMError | None]:
    prompt = WHOLE_ROUTE.format(**_facts(intent, index))
    try:
        answer = mllm.ask(prompt, RouteAnswer, system=SYSTEM)
    except MLLMError as exc:
        return list(plan_by_principles(intent)[index]), [], exc
    return list(answer.parsed.tasks), [Decision.asked("route", prompt, [], answer.raw, system=SYSTEM, route_index=index)], None
