"""Capability-based model selection: the best tool for each task, by subject.

Tools are ranked by their strength for the request's subject in the
capability store (highest first; ties by name, so a plan is reproducible).
A tool the store has never scored gets `NEUTRAL_STRENGTH`, the middle of the
scale, so a new tool is neither favoured nor hidden. When both routes are the
same, the second route takes the second-ranked tool for every task, so the
two candidates differ.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from spagent_graph.capability_store import CapabilityStore

from .errors import ConfigError
from .state import UNKNOWN_SUBJECT, ModelChoice, ModelPlan, RequestSubject, Task

__all__ = ["NEUTRAL_STRENGTH", "model_choice", "rank_tools", "select_models"]

NEUTRAL_STRENGTH = 1050.0  # a mean opinion score of 10.5: the middle of the 1-20 scale


def rank_tools(
    task: Task, subject: RequestSubject | None, tools: Sequence[str], store: CapabilityStore
) -> list[tuple[str, float]]:
    """`tools` with their strengths for (task, subject), best first; with no subject (or an
    unknown one) each tool is ranked by its mean over the subjects it has been scored on."""
    known = store.strengths(task, None if subject == UNKNOWN_SUBJECT else subject)
    ranked = [(tool, known.get(tool, NEUTRAL_STRENGTH)) for tool in tools]
    return sorted(ranked, key=lambda item: (-item[1], item[0]))


def model_choice(
    task: Task, subject: RequestSubject | None, ranked: list[tuple[str, float]], position: int, store: CapabilityStore
) -> ModelChoice:
    """The tool at `position` of `ranked`, with what its strength rests on."""
    tool, strength = ranked[position]
    known = None if subject == UNKNOWN_SUBJECT else subject
    own_rows = store.entries(model=tool, task=task)
    return ModelChoice(task=task, tool=tool, strength=strength, rank=position + 1,
                       evidence=store.evidence(task, known).get(tool, {}),
                       subject_scored=known is not None and any(e.subject == known for e in own_rows))


def select_models(
    routes: tuple[Sequence[Task], Sequence[Task]],
    subject: RequestSubject | None,
    tools_for: Callable[[Task], Sequence[str]],
    store: CapabilityStore,
) -> ModelPlan:
    """One tool per task per route; `tools_for(task)` lists the tools that may run it."""
    same_route = tuple(routes[0]) == tuple(routes[1])
    notes: list[str] = []
    planned = []
    for index, route in enumerate(routes):
        choices = []
        for task in route:
            candidates = list(tools_for(task))
            if not candidates:
                raise ConfigError(f"No tool in the registry can run `{task}`, which route {index + 1} needs.")
            ranked = rank_tools(task, subject, candidates, store)
            position = 1 if same_route and index == 1 and len(ranked) > 1 else 0
            if same_route and index == 1 and len(ranked) == 1:
                notes.append(f"only one tool ({ranked[0][0]}) runs {task}; both routes use it.")
            choices.append(model_choice(task, subject, ranked, position, store))
        planned.append(tuple(choices))
    if same_route:
        notes.insert(0, "both routes are the same, so route 2 takes the second-best tool for each task.")
    return ModelPlan(routes=(planned[0], planned[1]), decided_by="capability_store", notes=notes)
