"""The judge: scores candidate videos, through a pluggable backend.

A backend is anything with a `name` and `evaluate(candidate, request,
visual) -> Evaluation` (the `Judge` protocol). Two ship here:

- `MLLMJudge`: the served MLLM sees the request's text, the user's image or
  video, and the candidate's frames sampled evenly (first and last
  included), and answers the four 1-10 sub-scores, the 1-20 overall and a
  short rationale in a JSON schema. On an MLLM failure it falls back to the
  frame statistics, and the evaluation says so.
- `FrameStatisticsJudge`: the MLLM-free score described below.

`judge_all` scores several candidates concurrently with one backend.

The classical score (`CLASSICAL_JUDGE`) reads only the frames, and the input
image where there is one. It fills the same four 1-10 sub-scores as the MLLM:

- visual_aesthetics: mean of sharpness (variance of the Laplacian) and
  exposure (mean brightness near mid-grey, few clipped pixels);
- physical_plausibility: temporal consistency, low flicker of the frames'
  overall brightness and no abrupt cuts between frames;
- visual_alignment: similarity of the first frame to the input image or the
  input video's first frame; with text alone nothing visual can be compared,
  so it stays at the neutral 5.5 and a note says so;
- motion_alignment: whether there is motion at all, and not chaos: highest
  for a moderate mean change between frames, lower for a still video or
  noise.

overall = 2 x the mean of the four, on the 1-20 scale. It is a sanity score
for runs without an MLLM, not a substitute for a judge of content.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image

from .answers import JudgeAnswer
from .errors import MLLMError
from .media import read_frames
from .mllm import MLLMClient, Visual
from .prompts import JUDGE, SYSTEM
from .state import Candidate, Evaluation, MediaInfo, Request

__all__ = [
    "CLASSICAL_JUDGE",
    "FrameStatisticsJudge",
    "Judge",
    "MLLMJudge",
    "classical_evaluation",
    "judge_all",
    "judge_each",
    "judge_question",
    "mllm_evaluation",
]

CLASSICAL_JUDGE = "classical-frame-statistics-v1"
_SIDE = 128  # frames are compared at this size: enough for statistics, cheap on a CPU
NEUTRAL_SUBSCORE = 5.5


@runtime_checkable
class Judge(Protocol):
    """A judge backend. `evaluate` may be called from several threads at once."""

    name: str

    def evaluate(self, candidate: Candidate, request: Request, visual: MediaInfo | None) -> Evaluation: ...


@dataclass
class FrameStatisticsJudge:
    """The MLLM-free score: frame statistics only (see the module docstring)."""

    max_frames: int = 32
    name: str = CLASSICAL_JUDGE

    def evaluate(self, candidate: Candidate, request: Request, visual: MediaInfo | None) -> Evaluation:
        return classical_evaluation(candidate, visual, max_frames=self.max_frames)


@dataclass
class MLLMJudge:
    """The served MLLM as judge; `frames` of each candidate are shown, evenly sampled.

    `fallback=None` makes an MLLM failure an error instead of a frame-statistics score.
    """

    client: MLLMClient
    frames: int = 8
    fallback: Judge | None = field(default_factory=FrameStatisticsJudge)

    @property
    def name(self) -> str:
        return self.client.model_id

    def evaluate(self, candidate: Candidate, request: Request, visual: MediaInfo | None) -> Evaluation:
        try:
            return mllm_evaluation(self.client, candidate, request, visual, frames=self.frames)
        except MLLMError as exc:
            if self.fallback is None:
                raise
            evaluation = self.fallback.evaluate(candidate, request, visual)
            return evaluation.model_copy(update={"notes": [*evaluation.notes, f"MLLM judge failed ({exc})."]})


def judge_all(
    judge: Judge, candidates: Sequence[Candidate], request: Request, visual: MediaInfo | None
) -> list[Evaluation]:
    """Evaluations of `candidates` of one request, in their order; the calls run concurrently."""
    return judge_each(judge, [(candidate, request, visual) for candidate in candidates])


def judge_each(
    judge: Judge, jobs: Sequence[tuple[Candidate, Request, MediaInfo | None]], max_workers: int = 32
) -> list[Evaluation]:
    """Evaluations of (candidate, its request, its visual input) jobs, in their order, run concurrently."""
    if not jobs:
        return []
    with ThreadPoolExecutor(max_workers=min(len(jobs), max_workers), thread_name_prefix="judge") as pool:
        return list(pool.map(lambda job: judge.evaluate(*job), jobs))


def classical_evaluation(candidate: Candidate, visual: MediaInfo | None, max_frames: int = 32) -> Evaluation:
    frames = [_gray(frame) for frame in read_frames(candidate.video, max_frames=max_frames)]
    stack = np.stack(frames)  # (t, h, w) in [0, 1]

    sharpness = _scale(float(np.mean([_laplacian_variance(f) for f in frames])), good=0.01)
    mean_level = float(stack.mean())
    clipped = float(((stack < 0.02) | (stack > 0.98)).mean())
    exposure = 1 + 9 * max(0.0, 1 - 2 * abs(mean_level - 0.5)) * (1 - clipped)

    changes = np.abs(np.diff(stack, axis=0)).mean(axis=(1, 2)) if len(frames) > 1 else np.zeros(1)
    levels = stack.mean(axis=(1, 2))
    flicker = float(np.abs(np.diff(levels, n=2)).mean()) if len(frames) > 2 else 0.0
    cut = float(changes.max() / (np.median(changes) + 1e-3)) if len(frames) > 2 else 1.0
    consistency = 1 + 9 * math.exp(-flicker / 0.01) * (1.0 if cut < 4 else 0.6)

    motion = float(changes.mean())
    # Peaks at a mean frame change of about 3% and falls off on a log scale both ways.
    motion_score = 1 + 9 * math.exp(-(math.log((motion + 1e-4) / 0.03) ** 2) / 2)

    notes = []
    if visual is not None:
        reference = _gray(read_frames(visual.path, max_frames=1)[0])
        difference = float(np.abs(reference - frames[0]).mean())
        alignment = 1 + 9 * math.exp(-difference / 0.1)
    else:
        alignment = NEUTRAL_SUBSCORE
        notes.append("text-only request: visual alignment cannot be measured from frames; neutral score used.")

    aesthetics = (sharpness + exposure) / 2
    subscores = (aesthetics, consistency, alignment, motion_score)
    overall = min(20.0, max(1.0, 2 * sum(subscores) / 4))
    return Evaluation(
        candidate_id=candidate.id,
        visual_aesthetics=round(aesthetics, 3),
        physical_plausibility=round(consistency, 3),
        visual_alignment=round(alignment, 3),
        motion_alignment=round(motion_score, 3),
        overall=round(overall, 3),
        judge=CLASSICAL_JUDGE,
        decided_by="classical",
        rationale=(
            f"sharpness {sharpness:.1f}/10, exposure {exposure:.1f}/10, brightness flicker {flicker:.4f}, "
            f"mean frame change {motion:.3f}"
        ),
        notes=notes,
    )


def judge_question(candidate: Candidate, request: Request, visual: MediaInfo | None) -> tuple[str, list[Visual]]:
    """The judge's prompt and what it is shown: the user's visual input first, then the candidate."""
    visuals = [Visual(path=candidate.video, kind="video")]
    visual_note = "The user attached no image or video."
    if visual is not None:
        visuals.insert(0, Visual(path=visual.path, kind=visual.kind))
        visual_note = (
            f"The user's {visual.kind} comes first among the attached images; the generated video's frames follow."
        )
    return JUDGE.format(text=request.text or "(none)", visual_note=visual_note), visuals


def mllm_evaluation(
    client: MLLMClient, candidate: Candidate, request: Request, visual: MediaInfo | None, *, frames: int = 8
) -> Evaluation:
    prompt, visuals = judge_question(candidate, request, visual)
    answer = client.ask(prompt, JudgeAnswer, visuals, system=SYSTEM, max_frames=frames)
    scores = answer.parsed
    return Evaluation(
        candidate_id=candidate.id,
        visual_aesthetics=scores.visual_aesthetics,
        physical_plausibility=scores.physical_plausibility,
        visual_alignment=scores.visual_alignment,
        motion_alignment=scores.motion_alignment,
        overall=scores.overall,
        judge=client.model_id,
        decided_by="mllm",
        rationale=scores.rationale,
        raw_answer=answer.raw,
    )


def _gray(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L").resize((_SIDE, _SIDE)), dtype=np.float32) / 255.0


def _laplacian_variance(gray: np.ndarray) -> float:
    laplacian = (
        -4 * gray[1:-1, 1:-1] + gray[:-2, 1:-1] + gray[2:, 1:-1] + gray[1:-1, :-2] + gray[1:-1, 2:]
    )
    return float(laplacian.var())


def _scale(value: float, good: float) -> float:
    """Maps a non-negative measure to 1-10, reaching about 6.7 at `good`."""
    return 1 + 9 * (1 - math.exp(-value / good * 1.1))
