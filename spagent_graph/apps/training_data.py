"""Training data for the planner: every MLLM decision with its inputs and the judged outcome.

Each decision a run recorded (`State["decisions"]`: intent, route steps and
judge scores) becomes one chat-format JSON line, ready for supervised
fine-tuning, as the paper fine-tuned its own MLLM on its judged runs:

    {"messages": [{"role": "system", "content": "..."},
                  {"role": "user", "content": [{"type": "text", "text": "..."},
                                               {"type": "image", "image": "/abs/input.png"},
                                               {"type": "video", "video": "/abs/route-1.mp4", "max_frames": 8}]},
                  {"role": "assistant", "content": "{\"next_task\": \"image_to_video\"}"}],
     "metadata": {"run_id": "...", "stage": "next_task", "route_index": 0,
                  "outcome": {"completed": true, "winner_overall": 14.0, "route_overall": 14.0,
                              "won": true, "human_overall": null}}}

Media are referenced by absolute path (the format of common multimodal SFT
trainers); nothing is copied or encoded. `min_overall` keeps only decisions
whose outcome scored at least that well, the usual way to turn judged runs
into demonstrations.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..state import Decision

__all__ = ["export_sft", "sft_records"]


def sft_records(
    state: Mapping[str, Any], *, human_overall: Mapping[str, float] | None = None, min_overall: float | None = None
) -> list[dict]:
    """One chat-format record per decision of a finished run.

    `human_overall` maps candidate ids to human overall scores, where the
    caller has them (an evaluation dataset, a user's rating).
    """
    human_overall = human_overall or {}
    overall = {e.candidate_id: e.overall for e in state.get("evaluations", [])}
    candidates = state.get("candidates", [])
    choice = state.get("choice")
    winner = choice.candidate_id if choice is not None else None
    records = []
    for decision in state.get("decisions", []):
        route_candidate = (
            next((c.id for c in candidates if decision.route_index in c.route_indices), None)
            if decision.route_index is not None else decision.candidate_id
        )
        outcome = {
            "completed": bool(choice and choice.video),
            "winner_overall": choice.overall if choice else None,
            "route_overall": overall.get(route_candidate) if route_candidate else None,
            "won": route_candidate is not None and route_candidate == winner,
            "human_overall": human_overall.get(route_candidate) if route_candidate else None,
        }
        scored = outcome["human_overall"] if outcome["human_overall"] is not None else outcome["route_overall"]
        if min_overall is not None and (scored is None or scored < min_overall):
            continue
        records.append({
            "messages": _messages(decision),
            "metadata": {"run_id": state.get("run_id"), "stage": decision.stage, "route_index": decision.route_index,
                         "candidate_id": decision.candidate_id, "outcome": outcome},
        })
    return records


def export_sft(states: Iterable[Mapping[str, Any]], path: Path | str, **options: Any) -> int:
    """Appends the decisions of `states` to the JSONL file at `path`; returns how many lines were written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with path.open("a", encoding="utf-8") as out:
        for state in states:
            for record in sft_records(state, **options):
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                written += 1
    return written


def _messages(decision: Decision) -> list[dict]:
    content: list[dict] = [{"type": "text", "text": decision.prompt}]
    for path, kind in decision.visuals:
        if kind == "video":
            content.append({"type": "video", "video": str(Path(path).resolve()), "max_frames": decision.max_frames})
        else:
            content.append({"type": "image", "image": str(Path(path).resolve())})
    messages = [{"role": "system", "content": decision.system}] if decision.system else []
    return [*messages, {"role": "user", "content": content}, {"role": "assistant", "content": decision.answer}]
