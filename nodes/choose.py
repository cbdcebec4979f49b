"""Selection of the winner: the best overall score; ties go to the earlier route."""

from __future__ import annotations

from spagent_graph.state import Choice, State


def choose_winner(state: State) -> dict:
    candidates = {c.id: c for c in state.get("candidates", [])}
    scored = [e for e in state.get("evaluations", []) if e.candidate_id in candidates]
    if not scored:
        failures = "; ".join(f"{c.id}: {c.error}" for c in candidates.values() if c.error) or "no candidate was made"
        return {"choice": Choice(candidate_id=None, video=None, overall=None, reason=f"No video to choose ({failures}).")}
    best = max(scored, key=lambda e: (e.overall, -min(candidates[e.candidate_id].route_indices)))
    others = ", ".join(f"{e.candidate_id} {e.overall:.2f}" for e in scored if e is not best) or "no other candidate"
    reason = f"{best.candidate_id} scored {best.overall:.2f}/20 by {best.judge} (vs {others})."
    winner = candidates[best.candidate_id]
    return {"choice": Choice(candidate_id=winner.id, video=winner.video, video_url=winner.video_url,
                             overall=best.overall, reason=reason)}
