"""Learning from use: every judged run moves the strengths of the tools it used.

Each candidate's overall score (1-20, times 100) is credited to every tool of
its route, for the run's task and subject, as a `judge` score of weight
`Context.learning_weight` (an expansion or a human score counts 1.0). Over
many runs the running means in the capability store follow what the judge
sees, so selection improves without an explicit expansion.

A user's own pick of the winner (`record_user_choice`) counts as `human`
scores: the picked candidate's tools get the best judged score of the run
plus one point, the others keep their judged scores; so a pick can only
raise the picked tools above the rest, never invent a scale of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spagent_graph.capability_store import CapabilityStore, MAX_STRENGTH, MIN_STRENGTH

from .state import UNKNOWN_SUBJECT, Candidate, Evaluation, StrengthUpdate

__all__ = ["record_user_choice", "strength_updates", "apply_updates"]


def strength_updates(
    state: Mapping[str, Any], *, weight: float, learn_from: str = "mllm", source: str = "judge"
) -> list[StrengthUpdate]:
    """The store updates a finished run's evaluations call for (none when `learn_from` says so)."""
    # A run of unknown subject says nothing about any one subject's strengths.
    if learn_from == "none" or weight <= 0 or state.get("intent") is None or state["intent"].subject == UNKNOWN_SUBJECT:
        return []
    candidates = {c.id: c for c in state.get("candidates", [])}
    updates = []
    for evaluation in state.get("evaluations", []):
        if learn_from == "mllm" and evaluation.decided_by != "mllm":
            continue
        candidate = candidates.get(evaluation.candidate_id)
        if candidate is not None:
            updates.extend(_credit(candidate, evaluation.overall, state["intent"].subject, source, weight))
    return updates


def record_user_choice(
    store: CapabilityStore, state: Mapping[str, Any], candidate_id: str, *, weight: float = 1.0
) -> list[StrengthUpdate]:
    """Records the user's pick of the winner among a run's judged candidates as human scores.

    A run whose subject is unknown records nothing (and returns no updates): strengths are per subject.
    """
    evaluations: dict[str, Evaluation] = {e.candidate_id: e for e in state.get("evaluations", [])}
    candidates = {c.id: c for c in state.get("candidates", [])}
    if candidate_id not in evaluations or candidate_id not in candidates:
        raise ValueError(
            f"record_user_choice: candidate_id {candidate_id!r} is not a judged candidate of this run; "
            f"expected one of {sorted(evaluations)}."
        )
    best = max(e.overall for e in evaluations.values())
    subject = state["intent"].subject
    if subject == UNKNOWN_SUBJECT:
        return []
    updates = []
    for cid, evaluation in evaluations.items():
        score = min(20.0, best + 1.0) if cid == candidate_id else evaluation.overall
        if cid in candidates:
            updates.extend(_credit(candidates[cid], score, subject, "human", weight))
    apply_updates(store, updates)
    return updates


def apply_updates(store: CapabilityStore, updates: list[StrengthUpdate]) -> None:
    for update in updates:
        store.record(update.tool, update.task, update.subject, update.strength, source=update.source,
                     weight=update.weight)


def _credit(candidate: Candidate, overall: float, subject, source: str, weight: float) -> list[StrengthUpdate]:
    strength = min(MAX_STRENGTH, max(MIN_STRENGTH, overall * 100))
    return [
        StrengthUpdate(tool=tool, task=task, subject=subject, strength=strength, source=source, weight=weight,
                       candidate_id=candidate.id)
        for task, tool in zip(candidate.tasks, candidate.tools, strict=True)
    ]
