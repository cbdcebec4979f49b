"""The paper's evaluation as a command: judge agreement, task completion, selection precision.

Dataset: a JSON Lines file, one request per line; paths are relative to the file.

    {"id": "i2v-017",
     "request": {"text": "a red fox running", "image": "inputs/fox.png"},
     "category": "image_to_video",            # optional: text_to_video, image_edit_to_video,
                                              #   image_to_video or video_to_video; when absent,
                                              #   agreement counts an image request as
                                              #   image_to_video and the agent's tables split
                                              #   them by the alignment it recognized
     "subject": "animals",                    # optional
     "candidates": [                          # videos made by model lists, with human scores
       {"tools": ["svd"], "video": "videos/i2v-017-svd.mp4",
        "human": {"overall": 14.3, "visual_aesthetics": 7.0}},
       {"tools": ["sd3-img2img", "svd"], "video": "videos/i2v-017-sd3-svd.mp4", "human": {"overall": 11.0}}
     ]}

Measured, per category and overall:

- judge agreement: the run's judge scores every candidate video that has a
  human overall score; Spearman, Pearson and Kendall correlation (x100)
  between the two, as in the paper;
- task completion rate: the share of requests for which the agent's plan
  can make a video from the given inputs (with `execute=True`: for which
  the graph actually returned a video);
- model-list selection precision: the share of requests whose chosen model
  list is among the two best model lists by human score. Without `execute`,
  the agent plans its two model lists and the judge picks between the
  dataset's videos for them; a list the dataset has no video for cannot win.

Every variant runs the same graph; a variant is a set of `Context.ablations`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from ..context import Context
from ..errors import InputError
from ..judging import judge_all
from ..media import inspect_request_visual
from ..metrics import kendall, pearson, spearman
from ..principles import makes_a_video
from ..services import Services
from ..state import Candidate, Request, Subject, _Model

__all__ = [
    "Category",
    "EvalRecord",
    "EvalReport",
    "VARIANTS",
    "evaluate",
    "format_report",
    "load_dataset",
    "report_as_dict",
]

Category = Literal["text_to_video", "image_edit_to_video", "image_to_video", "video_to_video"]
CATEGORIES: tuple[Category, ...] = ("text_to_video", "image_edit_to_video", "image_to_video", "video_to_video")

#: The paper's ablation table, row by row.
VARIANTS: dict[str, tuple[str, ...]] = {
    "one step (no DIR, no PRP)": ("one_step",),
    "without input analysis (DIR)": ("no_intent",),
    "without route planning": ("no_route_planning",),
    "without principles": ("no_principles",),
    "without subject": ("no_subject",),
    "full agent": (),
}


class HumanScore(_Model):
    overall: float = Field(ge=1, le=20)
    visual_aesthetics: float | None = Field(None, ge=1, le=10)
    physical_plausibility: float | None = Field(None, ge=1, le=10)
    visual_alignment: float | None = Field(None, ge=1, le=10)
    motion_alignment: float | None = Field(None, ge=1, le=10)


class EvalCandidate(_Model):
    tools: tuple[str, ...] = Field(min_length=1)
    video: Path | None = None
    human: HumanScore | None = None


class EvalRecord(_Model):
    id: str
    request: Request
    category: Category | None = None
    subject: Subject | None = None
    candidates: list[EvalCandidate] = Field(default_factory=list)

    def category_from_inputs(self) -> Category:
        """The category when the file gives none; an image counts as image-to-video."""
        if self.category:
            return self.category
        if self.request.video is not None:
            return "video_to_video"
        return "image_to_video" if self.request.image is not None else "text_to_video"

    def top_two(self) -> set[tuple[str, ...]]:
        """Model lists among the two best by human score (every list tied with the second)."""
        scored = sorted((c.human.overall for c in self.candidates if c.human), reverse=True)
        if not scored:
            return set()
        bar = scored[min(1, len(scored) - 1)]
        return {c.tools for c in self.candidates if c.human and c.human.overall >= bar}


def load_dataset(path: Path | str) -> list[EvalRecord]:
    """Reads a dataset file; every path in it is taken relative to the file's folder."""
    path = Path(path)
    if not path.is_file():
        raise InputError("dataset", f"{path} is not a file; expected a JSON Lines dataset.")
    records = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            record = EvalRecord.model_validate(_resolve_paths(data, path.parent))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise InputError("dataset", f"{path}, line {number}: not a valid record ({exc}).") from exc
        records.append(record)
    if not records:
        raise InputError("dataset", f"{path} holds no records.")
    return records


def _resolve_paths(data: Any, root: Path) -> Any:
    """Makes relative media paths absolute; anything malformed is left for validation to name."""

    def resolve(value):
        return str(root / value) if isinstance(value, str) and not Path(value).is_absolute() else value

    if not isinstance(data, dict):
        return data
    data = dict(data)
    if isinstance(data.get("request"), dict):
        data["request"] = {k: resolve(v) if k in ("image", "video") else v for k, v in data["request"].items()}
    if isinstance(data.get("candidates"), list):
        data["candidates"] = [
            {**c, "video": resolve(c.get("video"))} if isinstance(c, dict) else c for c in data["candidates"]
        ]
    return data


@dataclasses.dataclass
class VariantResult:
    completed: dict[str, list[bool]] = dataclasses.field(default_factory=dict)
    hits: dict[str, list[bool]] = dataclasses.field(default_factory=dict)
    uncovered: int = 0  # chosen lists the dataset has no video for
    states: list[dict] = dataclasses.field(default_factory=list, repr=False)


@dataclasses.dataclass
class EvalReport:
    agreement: dict[str, dict[str, float]]  # category -> {"spearman", "pearson", "kendall", "n"}
    variants: dict[str, VariantResult]
    judge: str
    records: int


def judge_agreement(records: Sequence[EvalRecord], context: Context,
                    services: Services | None = None) -> tuple[dict[str, dict[str, float]], str]:
    """The judge's scores against the human ones, per category and over all."""

    judge = (services or Services()).judge(context)
    pairs: dict[str, list[tuple[float, float]]] = {}
    for record in records:
        scored = [c for c in record.candidates if c.human and c.video]
        if not scored:
            continue
        visual = inspect_request_visual(record.request)
        candidates = [_as_candidate(record, index, c) for index, c in enumerate(scored)]
        for evaluation, item in zip(judge_all(judge, candidates, record.request, visual), scored, strict=True):
            pairs.setdefault(record.category_from_inputs(), []).append((evaluation.overall, item.human.overall))
    pairs["all"] = [pair for key in list(pairs) for pair in pairs[key]]
    table = {}
    for category, values in pairs.items():
        judged, human = [v[0] for v in values], [v[1] for v in values]
        table[category] = {"spearman": 100 * spearman(judged, human), "pearson": 100 * pearson(judged, human),
                           "kendall": 100 * kendall(judged, human), "n": len(values)}
    return table, judge.name


def evaluate(
    records: Sequence[EvalRecord],
    context: Context,
    *,
    variants: dict[str, Iterable[str]] | None = None,
    agreement: bool = True,
    execute: bool = False,
    services: Services | None = None,
) -> EvalReport:
    """Runs the judge agreement and every variant of the agent over `records`.

    The variants share `services` (one toolbox, one judge); each variant's context
    is its own, and so is its in-memory store unless `store_path` is set."""
    variants = {"full agent": ()} if variants is None else variants
    services = services or Services()
    table, judge_name = (judge_agreement(records, context, services) if agreement
                         else ({}, services.judge(context).name))
    # The paper's figures come from its step-by-step planning, so every variant plans that way.
    results = {name: _run_variant(records, context.changed(ablations=tuple(ablations), planner="paper"), execute,
                                  services)
               for name, ablations in variants.items()}
    return EvalReport(agreement=table, variants=results, judge=judge_name, records=len(records))


def _run_variant(records: Sequence[EvalRecord], context: Context, execute: bool,
                 services: Services) -> VariantResult:
    from ..graph import build_graph, build_planning_graph

    graph = build_graph(services=services) if execute else build_planning_graph(services=services)
    result = VariantResult()
    for record in records:
        state = graph.invoke({"request": record.request}, context=context)
        result.states.append(state)
        category = _category_after_planning(record, state)
        if execute:
            winner = next((c for c in state.get("candidates", []) if c.id == state["choice"].candidate_id), None)
            completed, chosen = winner is not None, winner.tools if winner else None
        else:
            visual_type = state["intent"].visual_type
            lists = [tuple(choice.tool for choice in route) for route in state["model_plan"].routes]
            runnable = [makes_a_video([c.task for c in route], visual_type) for route in state["model_plan"].routes]
            completed = any(runnable)
            available = {c.tools: c for c in record.candidates if c.video is not None}
            contenders = [lst for lst, ok in zip(lists, runnable, strict=True) if ok and lst in available]
            if len(contenders) > 1 and contenders[0] != contenders[1]:
                candidates = [_as_candidate(record, i, available[lst]) for i, lst in enumerate(contenders)]
                scores = judge_all(services.judge(context), candidates, record.request,
                                   inspect_request_visual(record.request))
                chosen = contenders[max(range(len(scores)), key=lambda i: (scores[i].overall, -i))]
            elif contenders:
                chosen = contenders[0]
            else:
                chosen = None
                result.uncovered += 1
        result.completed.setdefault(category, []).append(completed)
        if record.top_two():
            result.hits.setdefault(category, []).append(chosen in record.top_two())
    return result


def _category_after_planning(record: EvalRecord, state: dict) -> str:
    if record.category:
        return record.category
    intent = state.get("intent")
    if intent is not None and intent.visual_type == "single image" and intent.text_type != "None" and not intent.aligned:
        return "image_edit_to_video"
    return record.category_from_inputs()


def _as_candidate(record: EvalRecord, index: int, item: EvalCandidate) -> Candidate:
    return Candidate(id=f"{record.id}/{index}", route_indices=(0,), tasks=(), tools=item.tools, seed=0,
                     video=item.video)


def _rate(values: list[bool]) -> float:
    return 100 * sum(values) / len(values) if values else math.nan


def format_report(report: EvalReport) -> str:
    """Markdown tables in the paper's layout."""
    lines = [f"Judge: {report.judge}; {report.records} requests.", ""]
    if report.agreement:
        lines += ["Judge agreement with human scores (x100):", "",
                  "| category | n | Spearman | Pearson | Kendall |", "|---|---|---|---|---|"]
        for category, row in report.agreement.items():
            lines.append(f"| {category} | {row['n']} | {row['spearman']:.2f} | {row['pearson']:.2f} | {row['kendall']:.2f} |")
        lines.append("")
    columns = [c for c in CATEGORIES if any(c in v.completed for v in report.variants.values())]
    for title, field in (("Model-list selection precision (%)", "hits"), ("Task completion rate (%)", "completed")):
        lines += [f"{title}:", "", "| variant | " + " | ".join(columns) + " | mean |",
                  "|---|" + "---|" * (len(columns) + 1)]
        for name, result in report.variants.items():
            values = getattr(result, field)
            cells = [_rate(values.get(c, [])) for c in columns]
            present = [v for v in cells if not math.isnan(v)]
            mean = sum(present) / len(present) if present else math.nan
            lines.append(f"| {name} | " + " | ".join(f"{v:.2f}" for v in cells) + f" | {mean:.2f} |")
        lines.append("")
    uncovered = {name: r.uncovered for name, r in report.variants.items() if r.uncovered}
    if uncovered:
        lines.append(f"Chosen model lists with no video in the dataset (counted as misses): {uncovered}.")
    return "\n".join(lines)


def report_as_dict(report: EvalReport) -> dict[str, Any]:
    return {
        "judge": report.judge,
        "records": report.records,
        "agreement": report.agreement,
        "variants": {
            name: {"completion": {c: _rate(v) for c, v in r.completed.items()},
                   "precision": {c: _rate(v) for c, v in r.hits.items()}, "uncovered": r.uncovered}
            for name, r in report.variants.items()
        },
    }

