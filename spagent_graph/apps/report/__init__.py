"""A run's report: `report.json` (the whole final state, and the run's facts when the
caller knows them) and `report.html`, a page that explains the run.

The page leads with the winner and why it won: the four sub-scores of both
candidates side by side with the deciding ones marked, the judge's reasons and
who judged. Then who made each decision, the plan with every tool's strength
put in words, both candidates with every intermediate artifact, the failures
(each distinct one once, with a fix where one is known), the notes, the MLLM's
answers, what the capability store learned, and the settings in force. Every
section is there even when it has nothing to show, and then says why.

The page (`page.py`, in the words of `words.py`, styled by `page.css`) is one
self-contained HTML file that links the run's files relatively, plus a PNG
poster per video under `posters/` beside it, so that a video shows a picture before it plays.
The posters live with the report rather than beside the step files, so a
report never adds files to a run's `steps/` folder, which resumed runs read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...state import jsonable
from .facts import RunFacts
from .page import Page

__all__ = ["RunFacts", "state_to_json", "write_report"]


def state_to_json(state: dict[str, Any]) -> dict[str, Any]:
    return {key: jsonable(value) for key, value in state.items()}


def write_report(state: dict[str, Any], out_dir: Path | str, run: RunFacts | None = None) -> tuple[Path, Path]:
    """Writes `report.json` and `report.html` (and the videos' posters) into `out_dir`;
    returns (report.json, report.html)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    document = state_to_json(state)
    if run is not None:
        document["run"] = run.to_json()
    json_path = out_dir / "report.json"
    json_path.write_text(json.dumps(document, indent=2, default=str))
    html_path = out_dir / "report.html"
    html_path.write_text(Page(state, out_dir, run).render())
    return json_path, html_path
