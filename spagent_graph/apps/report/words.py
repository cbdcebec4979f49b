"""The report's words: scores, strengths, decisions, durations and failures put as a
person would say them, never as Python prints them."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ...selection import NEUTRAL_STRENGTH
from ...state import UNKNOWN_SUBJECT, Candidate, Decision, Evaluation, ModelChoice

SUBSCORES = (
    ("visual_aesthetics", "visual aesthetics"),
    ("physical_plausibility", "physical plausibility"),
    ("visual_alignment", "visual alignment"),
    ("motion_alignment", "motion alignment"),
)
# Sub-scores closer than this are level: the judges report two or three decimals, and a
# difference of a few hundredths on a 1-10 scale explains nothing to a reader.
LEVEL = 0.05
ERROR_SUMMARY_CHARS = 220

# Recognisable failures and what fixes them; the first pattern that matches gives the fix.
FIXES = (
    (re.compile(r"out of memory|OutOfMemoryError", re.IGNORECASE),
     "lower --frames, --height or --width, or set the tool's memory options (CPU offload, VAE slicing) "
     "in its registry entry"),
    (re.compile(r"cannot find|can't find|couldn't find|could not find|offline|hugging ?face|\bhub\b|"
                r"LocalEntryNotFound|RepositoryNotFound|gated repo|missing weights|no weights", re.IGNORECASE),
     "run `spagent doctor` to see which weights are missing and the command that downloads them"),
    (re.compile(r"timeout|timed out", re.IGNORECASE),
     "raise the tool's timeout_s in its registry entry, or ask for fewer --frames or --steps"),
)

# Who made a decision, in words (the state's `DecidedBy` values).
WHO = {
    "mllm": "the MLLM",
    "fallback": "the MLLM-free planner",
    "principles": "the route principles",
    "capability_store": "the capability store's ranking",
    "classical": "the frame-statistics judge (no MLLM)",
    "ablation": "nobody: the stage was switched off (an ablation)",
    "human": "a human, at plan review",
}
# The capability store's sources, in the order a strength is built up: (one, many, what it is).
EVIDENCE_WORDS = {
    "prior": ("prior score", "prior scores", " (the seed data)"),
    "judge": ("judge score", "judge scores", ""),
    "human": ("human score", "human scores", ""),
}


def task_in_words(task: str) -> str:
    return task.replace("_", " ")


def counted(number: float, one: str, many: str) -> str:
    return f"{number:g} {one if number == 1 else many}"


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def listed(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def value_in_words(value: Any) -> str:
    """A setting's value as a person writes it, never as Python prints it."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (list, tuple)):
        return ", ".join(value_in_words(v) for v in value) or "none"
    if isinstance(value, dict):
        return json.dumps(value) if value else "none"
    return str(value)


def duration_in_words(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


def strength_in_words(choice: ModelChoice, subject: str | None) -> str:
    """A tool's strength as a sentence: the number, what it means, and what it rests on."""
    if not choice.evidence and choice.strength == NEUTRAL_STRENGTH:
        return f"never scored: taken as {NEUTRAL_STRENGTH / 100:.1f} out of 20, the middle of the scale"
    known = subject is not None and subject != UNKNOWN_SUBJECT
    if choice.subject_scored and known:
        scope = f"for {subject}"
    elif known:
        scope = f"averaged over all subjects (none of its scores are for {subject})"
    else:
        scope = "averaged over all subjects (the subject is unknown)"
    said = f"scored {choice.strength / 100:.1f} out of 20 {scope}"
    order = [*EVIDENCE_WORDS, *sorted(set(choice.evidence) - set(EVIDENCE_WORDS))]
    parts = []
    for source in (s for s in order if s in choice.evidence):
        one, many, what = EVIDENCE_WORDS.get(source, (f"{source} score", f"{source} scores", ""))
        parts.append(counted(choice.evidence[source], one, many) + what)
    return said + ("; from " + " and ".join(parts) if parts else "; the store gave no count of its scores")


def rank_in_words(rank: int) -> str:
    if rank == 1:
        return "ranked 1st: the best for this task and subject"
    return f"ranked {ordinal(rank)} for this task and subject"


def judge_in_words(evaluation: Evaluation) -> str:
    if evaluation.decided_by == "mllm":
        return f"MLLM {evaluation.judge}"
    if evaluation.decided_by == "classical":
        failed = any("MLLM judge failed" in note for note in evaluation.notes)
        return "frame-statistics judge (no MLLM" + (": the MLLM judge failed, see notes)" if failed else ")")
    return f"{WHO.get(evaluation.decided_by, evaluation.decided_by)} ({evaluation.judge})"


@dataclass(frozen=True)
class Comparison:
    """The winner's sub-scores against the other's: (sub-score, margin) pairs, widest first."""

    leads: list[tuple[str, float]]  # where the winner is ahead
    deciding: list[tuple[str, float]]  # the leads that decided it
    behind: list[tuple[str, float]]  # where the other is ahead
    level: list[str]


def compare_scores(winner: Evaluation, other: Evaluation) -> Comparison:
    """Deciding leads: the winner's widest leads that alone outweigh everything the other
    led on, plus any further lead at least half as wide as the widest (it mattered too)."""
    unmeasured = not_measured(winner) | not_measured(other)
    margins = [(label, getattr(winner, name) - getattr(other, name)) for name, label in SUBSCORES
               if name not in unmeasured]
    leads = sorted((m for m in margins if m[1] > LEVEL), key=lambda m: -m[1])
    behind = sorted(((label, -margin) for label, margin in margins if margin < -LEVEL), key=lambda m: -m[1])
    owed, gained, deciding = sum(m for _, m in behind), 0.0, []
    for label, margin in leads:
        if gained > owed and margin < leads[0][1] / 2:
            break
        deciding.append((label, margin))
        gained += margin
    level = [label for label, margin in margins if abs(margin) <= LEVEL]
    return Comparison(leads, deciding, behind, level)


def not_measured(evaluation: Evaluation) -> set[str]:
    """The sub-scores a judge filled with its neutral middle because it had nothing to measure them
    on (visual alignment of a text-only request): a reader sees "not measured", not a score."""
    if any("visual alignment cannot be measured" in note for note in evaluation.notes):
        return {"visual_alignment"}
    return set()


def margin_in_words(difference: float) -> str:
    return "level" if abs(difference) <= LEVEL else f"{difference:+.1f}".replace("-", "−")


def first_line_of(text: str) -> str:
    """An error's first line, cut at a sentence end when it is long."""
    line = text.strip().splitlines()[0] if text.strip() else text
    if len(line) <= ERROR_SUMMARY_CHARS:
        return line
    cut = line.rfind(". ", 40, ERROR_SUMMARY_CHARS)
    return line[: cut + 1] if cut > 0 else line[:ERROR_SUMMARY_CHARS].rstrip() + "…"


def fix_for(error: str) -> str | None:
    return next((fix for pattern, fix in FIXES if pattern.search(error)), None)


@dataclass
class Failure:
    number: int
    text: str
    places: list[str]


def distinct_failures(candidates: list[Candidate], elsewhere: list[tuple[str, str]] = ()) -> list[Failure]:
    """Distinct errors, each once, with where each happened. A candidate's error that only
    repeats its step's error ("step 1 ... failed: <the step's error>") is that error.
    `elsewhere`: (error, place) of failures outside the routes (the MLLM, the run itself)."""
    found: dict[str, list[str]] = {}
    for text, place in elsewhere:
        found.setdefault(text.strip(), []).append(place)
    for candidate in candidates:
        step_errors = [s.error.strip() for s in candidate.steps if s.error]
        for step in candidate.steps:
            if step.error:
                place = f"{candidate.id} step {step.index + 1} ({step.tool})"
                found.setdefault(step.error.strip(), []).append(place)
        if candidate.error and not any(error in candidate.error for error in step_errors):
            found.setdefault(candidate.error.strip(), []).append(candidate.id)
    return [Failure(i + 1, text, places) for i, (text, places) in enumerate(found.items())]


def asked_about(decision: Decision) -> str:
    if decision.candidate_id:
        return decision.candidate_id
    if decision.route_index is not None:
        return f"route {decision.route_index + 1}"
    return "the request"
