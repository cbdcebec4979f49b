"""Principle-guided route planning: two routes of tasks, each ending in a video.

With an MLLM, each route is planned step by step (the next task, until the
last output is a video), both routes at once. Whatever the MLLM proposes is
then held to the principles in code; every repair is recorded.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from langgraph.runtime import Runtime

from spagent_graph.answers import NextTaskAnswer
from spagent_graph.context import Context, context_of
from spagent_graph.errors import MLLMError
from spagent_graph.mllm import MLLMClient
from spagent_graph.principles import MAX_ROUTE_LENGTH, enforce_principles, output_kind, plan_by_principles
from spagent_graph.prompts import NEXT_TASK, SECOND_ROUTE_HINT, SYSTEM
from spagent_graph.state import Intent, RoutePlan, State


def plan_routes(state: State, runtime: Runtime[Context]) -> dict:
    context = context_of(runtime)
    intent = state["intent"]
    mllm = context.mllm_client()
    if mllm is None:
        return {"route_plan": RoutePlan(routes=plan_by_principles(intent), decided_by="principles")}

    raw_answers: list[str] = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        proposals = list(pool.map(lambda index: _ask_route(mllm, intent, index), (0, 1)))
    failures = []
    proposed = []
    for route, answers, error in proposals:
        raw_answers.extend(answers)
        if error is not None:
            if not context.fallback_on_mllm_error:
                raise error
            failures.append(f"MLLM failed while planning ({error}); the principles planned that route.")
        proposed.append(route)
    routes, repairs = enforce_principles(intent, proposed)
    decided_by = "mllm" if not failures else "fallback"
    return {"route_plan": RoutePlan(routes=routes, decided_by=decided_by, repairs=failures + repairs, raw_answers=raw_answers)}


def _ask_route(mllm: MLLMClient, intent: Intent, index: int) -> tuple[list[str], list[str], MLLMError | None]:
    """Asks for one task at a time until the route ends in a video (or is too long)."""
    route: list[str] = []
    answers: list[str] = []
    while len(route) < MAX_ROUTE_LENGTH and not (route and output_kind(route[-1]) == "video"):
        prompt = NEXT_TASK.format(
            text_type=intent.text_type,
            visual_type=intent.visual_type,
            aligned="Yes" if intent.aligned else "No",
            subject=intent.subject,
            alternative=SECOND_ROUTE_HINT if index == 1 else "",
            route_so_far=route or "(empty)",
        )
        try:
            answer = mllm.ask(prompt, NextTaskAnswer, system=SYSTEM)
        except MLLMError as exc:
            return list(plan_by_principles(intent)[index]), answers, exc
        answers.append(answer.raw)
        if answer.parsed.next_task == "done":
            break
        route.append(answer.parsed.next_task)
    return route, answers, None
