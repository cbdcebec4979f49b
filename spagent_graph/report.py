"""A run's report: `report.json` (the whole final state) and `report.html`
(the plan and both candidates side by side, with their scores)."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel

__all__ = ["state_to_json", "write_report"]


def state_to_json(state: dict[str, Any]) -> dict[str, Any]:
    def dump(value: Any) -> Any:
        if isinstance(value, BaseModel):
            return value.model_dump(mode="json")
        if isinstance(value, list):
            return [dump(v) for v in value]
        return value

    return {key: dump(value) for key, value in state.items()}


def write_report(state: dict[str, Any], out_dir: Path | str) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "report.json"
    json_path.write_text(json.dumps(state_to_json(state), indent=2))
    html_path = out_dir / "report.html"
    html_path.write_text(_html(state, out_dir))
    return json_path, html_path


def _relative(path: Path | str | None, out_dir: Path) -> str:
    return os.path.relpath(Path(path).resolve(), out_dir.resolve()) if path else ""


def _media(path: Path | str, out_dir: Path, label: str) -> str:
    """An image or a video, shown inline by its file's kind (a still image is an <img>)."""
    source = html.escape(_relative(path, out_dir))
    if Path(path).suffix.lower() in (".png", ".jpg", ".jpeg", ".webp", ".bmp"):
        return f'<img src="{source}" alt="{label}">'
    return f'<video src="{source}" controls loop muted playsinline title="{label}"></video>'


def _html(state: dict[str, Any], out_dir: Path) -> str:
    e = html.escape
    request, intent = state.get("request"), state.get("intent")
    routes, models = state.get("route_plan"), state.get("model_plan")
    choice = state.get("choice")
    scores = {ev.candidate_id: ev for ev in state.get("evaluations", [])}

    plan_rows = ""
    if models is not None:
        for index, route in enumerate(models.routes):
            steps = " &rarr; ".join(f"{e(c.task)}: <b>{e(c.tool)}</b> ({c.strength:.0f}, rank {c.rank})" for c in route)
            plan_rows += f"<tr><th>route {index + 1}</th><td>{steps}</td></tr>"

    cards = ""
    for candidate in state.get("candidates", []):
        evaluation = scores.get(candidate.id)
        winner = choice is not None and choice.candidate_id == candidate.id
        media = (
            f'<video src="{e(_relative(candidate.video, out_dir))}" controls autoplay loop muted playsinline></video>'
            if candidate.video else f'<p class="error">{e(candidate.error or "no video")}</p>'
        )
        steps = "".join(
            f"<li>{e(s.task)} with {e(s.tool)}: {s.seconds:.2f}s{' (reused)' if s.reused else ''}"
            + (f'<br>{_media(s.output, out_dir, "artifact")}' if s.output else "")
            + "".join(f"<br><small>fitted: {e(a)}</small>" for a in s.adjustments)
            + (f' <span class="error">{e(s.error)}</span>' if s.error else "")
            + "</li>"
            for s in candidate.steps
        )
        score = (
            f"<p><b>{evaluation.overall:.2f}/20</b> by {e(evaluation.judge)}<br>"
            f"aesthetics {evaluation.visual_aesthetics:.1f}, plausibility {evaluation.physical_plausibility:.1f}, "
            f"visual alignment {evaluation.visual_alignment:.1f}, motion alignment {evaluation.motion_alignment:.1f}"
            f"<br><small>{e(evaluation.rationale)}</small></p>" if evaluation else "<p>not judged</p>"
        )
        cards += (
            f'<div class="card{" winner" if winner else ""}"><h3>{e(candidate.id)}{" &#9733; winner" if winner else ""}</h3>'
            f"{media}{score}<ol>{steps}</ol></div>"
        )

    notes = []
    if intent is not None:
        notes += intent.notes
    if routes is not None:
        notes += routes.repairs
    if models is not None:
        notes += models.notes
    note_items = "".join(f"<li>{e(n)}</li>" for n in notes)
    intent_row = (
        f"<tr><th>intent</th><td>text: {e(intent.text_type)}; visual: {e(intent.visual_type)}; "
        f"subject: <b>{e(intent.subject_in_words)}</b>; aligned: {intent.aligned} "
        f"(types by {e(intent.types_decided_by)}, alignment by {e(intent.alignment_decided_by)})</td></tr>"
        if intent else ""
    )
    routes_row = (
        f"<tr><th>routes</th><td>{e(' | '.join(' → '.join(r) for r in routes.routes))} (by {e(routes.decided_by)})</td></tr>"
        if routes else ""
    )
    visual = (request.image or request.video) if request else None
    visual_cell = _media(visual, out_dir, "input") + f"<br><small>{e(str(visual))}</small>" if visual else "none"
    decisions = "".join(
        f"<tr><td>{e(d.stage)}</td><td>{'' if d.route_index is None else d.route_index + 1}</td>"
        f"<td>{e(d.candidate_id or '')}</td><td><code>{e(d.answer)}</code></td></tr>"
        for d in state.get("decisions", [])
    )
    decisions_block = (
        f"<details><summary>{len(state.get('decisions', []))} MLLM decisions</summary><table>"
        f"<tr><th>stage</th><th>route</th><th>candidate</th><th>answer</th></tr>{decisions}</table></details>"
        if decisions else ""
    )
    learned = "".join(
        f"<li>{e(u.tool)} ({e(u.task)}, {e(u.subject)}): {u.strength:.0f} as {e(u.source)}, weight {u.weight}</li>"
        for u in state.get("strength_updates", [])
    )
    learned_block = f"<h2>Strengths learned from this run</h2><ul>{learned}</ul>" if learned else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>spagent-graph report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; max-width: 72rem; }}
table {{ border-collapse: collapse; margin-bottom: 1rem; }} th, td {{ text-align: left; padding: .25rem .75rem; }}
.cards {{ display: flex; gap: 1.5rem; flex-wrap: wrap; }}
.card {{ border: 1px solid #ccc; border-radius: 8px; padding: 1rem; flex: 1 1 20rem; }}
.card.winner {{ border: 3px solid #2a7; }}
video {{ width: 100%; max-width: 32rem; image-rendering: pixelated; background: #000; }}
li video, li img, td video, td img {{ width: 8rem; max-width: 8rem; image-rendering: pixelated; }}
.error {{ color: #b00; }}
</style></head><body>
<h1>spagent-graph report</h1>
<table>
<tr><th>text</th><td>{e(str(request.text)) if request else ""}</td></tr>
<tr><th>visual input</th><td>{visual_cell}</td></tr>
{intent_row}{routes_row}{plan_rows}
<tr><th>winner</th><td>{e(choice.reason) if choice else "none"}</td></tr>
</table>
<ul>{note_items}</ul>
<h2>Candidates</h2>
<div class="cards">{cards}</div>
{learned_block}
{decisions_block}
</body></html>
"""
