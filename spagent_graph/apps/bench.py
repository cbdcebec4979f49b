"""The fidelity bench: how much faster a tool's profile is, and how far its output drifts from the exact one.

`spagent bench --tool NAME --profile fast` runs the tool on a few fixed
probe prompts (one per subject first, so they differ), each twice with the
same seed: once exact (the plain pipeline call) and once with every lever
the registry gives the profile, the cache included. It then compares the two
outputs frame by frame (PSNR and SSIM, `metrics.py`), asks the MLLM judge,
when there is one, how much the score moved, and records the result in the
capability store, where the gate (`tool_adapters/acceleration.py`,
`choose_levers`) reads it: a cache is used for a tool only if the mean PSNR
and mean SSIM over the probes reach `fidelity_min_psnr_db` and
`fidelity_min_ssim`.

How the calls are timed:

- One pair of calls runs before the measured probes and is kept out of the
  speedup: the first call of each variant loads its pipeline and, where the
  levers compile, compiles it. Its seconds are reported as "first call".
- Each probe runs the two variants back to back, the order alternating from
  probe to probe, so that neither side always runs on a warmer machine.
- The speedup is the median exact call's seconds over the median accelerated
  call's: a median, because one call slowed by something else on the machine
  would move a total or a mean.

A bench measures the weights it ran: with random weights (the demo tools, a
test build) its numbers test only the mechanics, not what a cache does to a
real model's output.

    result = bench_tool(spec, toolbox=toolbox, store=store, frames=49, height=480, width=720, folder=Path("bench"))
    print(format_bench(result, min_psnr_db=30, min_ssim=0.9))
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from spagent_graph.capability_store import CapabilityStore, FidelityRecord
from spagent_graph.tool_adapters.acceleration import (
    FLOAT8_NEEDS,
    AcceleratedProfile,
    Levers,
    choose_levers,
    float8_runs_on,
)
from spagent_graph.tool_adapters.registry import ToolSpec
from spagent_graph.tool_adapters.toolbox import Toolbox

from ..errors import ToolError, UsageError
from ..judging import CLASSICAL_JUDGE, Judge, judge_each
from ..media import inspect_request_visual, read_frames
from ..metrics import PSNR_CAP_DB, psnr, ssim
from ..probes import Probe, probes_for
from ..state import SUBJECTS, Candidate, Request

__all__ = ["BenchResult", "ProbeOutcome", "bench_tool", "compare", "format_bench", "verdict"]

Variant = Literal["exact", "accelerated"]
RANDOM_WEIGHTS_NOTE = ("With random weights (the demo tools, a test build) these numbers test only the mechanics; "
                       "bench the weights you will run.")


@dataclass(frozen=True)
class ProbeOutcome:
    """One probe, run exact and accelerated with the same seed."""

    number: int  # 1-based, as the table shows it
    subject: str
    prompt: str
    ran_first: Variant
    exact_s: float
    accelerated_s: float
    psnr_db: float  # mean over the frames
    ssim: float  # mean over the frames
    exact: Path
    accelerated: Path
    judge_delta: float | None = None  # accelerated minus exact overall score, when the MLLM judged both


@dataclass(frozen=True)
class BenchResult:
    """Everything one bench measured; `record` is what the capability store now holds."""

    tool: str
    profile: AcceleratedProfile
    levers: Levers
    probes: tuple[ProbeOutcome, ...]
    first_call_s: dict[Variant, float]  # loading, and compiling where the levers compile
    frames: int  # as the tool made them (it may fit the request to what the model makes)
    height: int
    width: int
    steps: int | None  # None: the tool's own default
    seed: int
    folder: Path
    record: FidelityRecord
    store_path: Path | None
    judge: str | None  # the judge whose scores `judge_delta` compares; None when no MLLM judged
    notes: tuple[str, ...] = ()

    @property
    def worst_psnr(self) -> ProbeOutcome:
        return min(self.probes, key=lambda p: p.psnr_db)

    @property
    def worst_ssim(self) -> ProbeOutcome:
        return min(self.probes, key=lambda p: p.ssim)


def bench_tool(
    spec: ToolSpec,
    *,
    toolbox: Toolbox,
    store: CapabilityStore,
    judge: Judge | None = None,
    profile: AcceleratedProfile = "fast",
    probes: int = 3,
    frames: int,
    height: int,
    width: int,
    steps: int | None = None,
    seed: int = 0,
    folder: Path,
) -> BenchResult:
    """Benches `spec`'s tool under `profile` against its exact output and records the result in `store`.

    The levers are the registry's for the profile, all of them: the cache is
    what a bench is for. The outputs and the probes' input files go to
    `folder`. `judge`: an MLLM judge scores both outputs of every probe; the
    frame-statistics judge (or None) adds nothing, as it does not look at
    content. The record keeps the means over the probes; the worst probe is
    in the result for the report.
    """
    # 1. What to bench: the profile's levers, and probes that differ.
    levers = spec.acceleration.get(profile)
    if levers is None or levers.is_plain:
        given = ", ".join(sorted(spec.acceleration)) or "none"
        raise UsageError(f"`{spec.name}` has no {profile} levers in the registry (its profiles: {given}), "
                         f"so there is nothing to bench for {spec.name} under {profile}.")
    if probes < 1:
        raise UsageError(f"`probes` must be 1 or more, got {probes}.")
    # The set a run on this machine would pull: without FP8 where it does not run (the gate drops it too).
    left_out = []
    if levers.quantize is not None and not float8_runs_on(toolbox.device, spec.memory.cpu_offload):
        levers = levers.model_copy(update={"quantize": None})
        left_out.append(f"FP8 weights left out: they need {FLOAT8_NEEDS}, so this bench measured the set "
                        "without them, as a run here pulls it.")
    tool = toolbox.tool(spec.name)
    probe_set = _probe_set(spec, folder / "inputs", probes, (width, height))
    suffix = tool.output_suffix
    variants: dict[Variant, Levers] = {"exact": Levers(), "accelerated": levers}

    def call(probe: Probe, variant: Variant, output: Path) -> float:
        request = {"output_path": str(output), "prompt": probe.text, "num_frames": frames, "height": height,
                   "width": width, "fps": 8, "num_inference_steps": steps, "seed": seed}
        if probe.image is not None:
            request["image"] = str(probe.image)
        if probe.video is not None:
            request["video"] = str(probe.video)
        # The same call a run makes: the levers travel in the config, keyed by the tool.
        config = {"configurable": {"levers": {spec.name: variants[variant]}}}
        started = time.perf_counter()
        tool.invoke(request, config=config)
        return time.perf_counter() - started

    # 2. Warm up: load (and compile) each variant once, outside the measured calls.
    first_call_s = {variant: call(probe_set[0], variant, folder / f"first-call-{variant}{suffix}")
                    for variant in variants}
    loads_before = dict(toolbox.pool.loads)

    # 3. The measured probes, the order of the two calls alternating.
    outcomes = []
    for number, probe in enumerate(probe_set, start=1):
        order: tuple[Variant, Variant] = ("exact", "accelerated") if number % 2 else ("accelerated", "exact")
        paths = {variant: folder / f"probe-{number}-{variant}{suffix}" for variant in variants}
        seconds = {variant: call(probe, variant, paths[variant]) for variant in order}
        psnr_db, similarity = compare(paths["exact"], paths["accelerated"])
        outcomes.append(ProbeOutcome(number=number, subject=probe.subject, prompt=probe.text, ran_first=order[0],
                                     exact_s=seconds["exact"], accelerated_s=seconds["accelerated"],
                                     psnr_db=psnr_db, ssim=similarity, exact=paths["exact"],
                                     accelerated=paths["accelerated"]))
    _check_levers_held(tool, levers)
    notes = left_out
    if toolbox.pool.loads != loads_before:
        notes.append("A pipeline was loaded again during the measured calls (the exact and the accelerated "
                     "pipelines did not both stay resident), so the timings include loading.")

    # 4. The judge's view, after the timed calls so that its requests never slow one side down.
    judged_by, outcomes = _judge(judge, spec, probe_set, outcomes, seed)

    # 5. Record the means where the gate reads them.
    exact_s, accelerated_s = _median_seconds(outcomes)
    deltas = [o.judge_delta for o in outcomes if o.judge_delta is not None]
    record = FidelityRecord(
        tool=spec.name, profile=profile, levers=levers.key(), speedup=exact_s / accelerated_s,
        psnr_db=statistics.fmean(o.psnr_db for o in outcomes), ssim=statistics.fmean(o.ssim for o in outcomes),
        judge_delta=statistics.fmean(deltas) if deltas else None, probes=len(outcomes),
        measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    store.record_fidelity(record)
    made = _frames(outcomes[0].exact)
    return BenchResult(
        tool=spec.name, profile=profile, levers=levers, probes=tuple(outcomes), first_call_s=first_call_s,
        frames=len(made), width=made[0].size[0], height=made[0].size[1],
        steps=steps or spec.defaults.get("num_inference_steps"), seed=seed, folder=folder, record=record,
        store_path=store.path, judge=judged_by, notes=tuple(notes),
    )


def compare(exact: Path, accelerated: Path) -> tuple[float, float]:
    """Mean PSNR (dB) and mean SSIM of `accelerated`'s frames against `exact`'s, frame by frame."""
    reference, candidate = _frames(exact), _frames(accelerated)
    if len(reference) != len(candidate) or reference[0].size != candidate[0].size:
        raise ValueError(f"{accelerated} ({len(candidate)} frames of {candidate[0].size}) cannot be compared with "
                         f"{exact} ({len(reference)} frames of {reference[0].size})")
    pairs = [(np.asarray(a), np.asarray(b)) for a, b in zip(reference, candidate)]
    return statistics.fmean(psnr(a, b) for a, b in pairs), statistics.fmean(ssim(a, b) for a, b in pairs)


def _median_seconds(outcomes) -> tuple[float, float]:
    """The median seconds of an exact call and of an accelerated call."""
    return (statistics.median(o.exact_s for o in outcomes), statistics.median(o.accelerated_s for o in outcomes))


def _frames(path: Path) -> list[Image.Image]:
    """An output's frames. An image is one frame, read as it is: `read_frames` would cut an image that
    looks like a grid into pictures, and might cut the two outputs of one probe differently."""
    if path.suffix == ".png":
        with Image.open(path) as image:
            return [image.convert("RGB")]
    return read_frames(path)


def _probe_set(spec: ToolSpec, folder: Path, count: int, size: tuple[int, int]) -> list[Probe]:
    """The first `count` probes of the tool's task: the first of every subject, then the second, ..."""
    per_subject = -(-count // len(SUBJECTS))
    every = probes_for(spec.task, folder, per_subject=per_subject, size=size)
    if len(every) < count:
        raise UsageError(f"`probes`: the probe set has {len(every)} probes for {spec.task}, fewer than the "
                         f"{count} asked for.")
    seen: Counter[str] = Counter()
    ranked = []
    for probe in every:  # probes_for lists a subject's probes together
        ranked.append((seen[probe.subject], probe))
        seen[probe.subject] += 1
    return [probe for _, probe in sorted(ranked, key=lambda pair: pair[0])][:count]


def _check_levers_held(tool, levers: Levers) -> None:
    """A tool that ran out of memory reloads with its low-memory settings and no levers; a bench of
    that measured exact against exact, and must not be recorded as the levers' fidelity."""
    pool_key = getattr(tool, "pool_key", None)
    if pool_key is not None and pool_key(levers) == pool_key(Levers()):
        raise ToolError(tool.name, "ran out of memory and fell back to its low-memory settings, which drop "
                                   "every lever, so the accelerated calls were exact calls and nothing was "
                                   "recorded; bench at a smaller size (frames, height, width).")


def _judge(
    judge: Judge | None, spec: ToolSpec, probe_set: list[Probe], outcomes: list[ProbeOutcome], seed: int
) -> tuple[str | None, list[ProbeOutcome]]:
    """Each probe's score difference, accelerated minus exact, by an MLLM judge. The frame-statistics
    judge is not asked, and a probe where the MLLM failed and fell back to it gets no difference."""
    if judge is None or judge.name == CLASSICAL_JUDGE:
        return None, outcomes
    jobs = []
    for outcome, probe in zip(outcomes, probe_set):
        request = Request(text=probe.text, image=probe.image, video=probe.video)
        visual = inspect_request_visual(request)
        for variant, video in (("exact", outcome.exact), ("accelerated", outcome.accelerated)):
            candidate = Candidate(id=f"probe-{outcome.number}-{variant}", route_indices=(0,), tasks=(spec.task,),
                                  tools=(spec.name,), seed=seed, video=video)
            jobs.append((candidate, request, visual))
    evaluations = judge_each(judge, jobs)
    scored = []
    for index, outcome in enumerate(outcomes):
        exact, accelerated = evaluations[2 * index], evaluations[2 * index + 1]
        by_mllm = CLASSICAL_JUDGE not in (exact.judge, accelerated.judge)
        delta = accelerated.overall - exact.overall if by_mllm else None
        scored.append(dataclasses.replace(outcome, judge_delta=delta))
    return judge.name, scored


# Printing ------------------------------------------------------------------------------------


def format_bench(result: BenchResult, min_psnr_db: float, min_ssim: float) -> str:
    """A table per probe, then the summary and the verdict the gate will reach with these thresholds."""
    judged = result.judge is not None
    header = ["probe", "subject", "ran first", "exact s", "accelerated s", "PSNR dB", "SSIM"]
    rows = [[str(p.number), p.subject, p.ran_first, f"{p.exact_s:.2f}", f"{p.accelerated_s:.2f}",
             _psnr_text(p.psnr_db), f"{p.ssim:.4f}"] for p in result.probes]
    if judged:
        header.append("judge delta")
        for row, p in zip(rows, result.probes):
            row.append("-" if p.judge_delta is None else f"{p.judge_delta:+.2f}")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    table = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip()
             for line in [header, *rows]]

    record, steps = result.record, result.steps if result.steps is not None else "the tool's default"
    worst_psnr, worst_ssim = result.worst_psnr, result.worst_ssim
    exact_s, accelerated_s = _median_seconds(result.probes)
    summary = [
        ("speedup", f"{record.speedup:.2f}x (median warm call: {exact_s:.2f} s exact, {accelerated_s:.2f} s "
                    "accelerated)"),
        ("first call", f"exact {result.first_call_s['exact']:.2f} s, accelerated "
                       f"{result.first_call_s['accelerated']:.2f} s (with any loading, and compiling where the "
                       "levers compile; not in the speedup)"),
        ("PSNR", f"mean {_psnr_text(record.psnr_db, ' dB')}, worst {_psnr_text(worst_psnr.psnr_db, ' dB')} "
                 f"(probe {worst_psnr.number})"),
        ("SSIM", f"mean {record.ssim:.4f}, worst {worst_ssim.ssim:.4f} (probe {worst_ssim.number})"),
        ("judge", _judge_text(result)),
        ("thresholds", f"PSNR at least {min_psnr_db:g} dB and SSIM at least {min_ssim:g}, on the means "
                       "(settings fidelity_min_psnr_db, fidelity_min_ssim)"),
        ("verdict", verdict(result, min_psnr_db, min_ssim)),
        ("recorded", f"in {result.store_path}" if result.store_path else
                     "in a store in memory only, gone when this process ends: set store_path to keep it"),
    ]
    width = max(len(name) for name, _ in summary)
    lines = [
        f"bench of {result.tool} under the {result.profile} profile: {result.levers.in_words()} "
        f"(levers {record.levers})",
        f"{_count(len(result.probes), 'probe')}, {_count(result.frames, 'frame')} at {result.width}x{result.height}, "
        f"{steps} steps, seed {result.seed}; outputs in {result.folder}",
        "",
        *table,
        "",
        *(f"{name.ljust(width)}  {text}" for name, text in summary),
        "",
        *result.notes,
        RANDOM_WEIGHTS_NOTE,
    ]
    return "\n".join(lines)


def verdict(result: BenchResult, min_psnr_db: float, min_ssim: float) -> str:
    """What the gate will do with this record under these thresholds, in words."""
    tool, profile, record = result.tool, result.profile, result.record
    if not result.levers.changes_math:
        outcome = "passes" if record.passes(min_psnr_db, min_ssim) else "fails"
        return (f"{outcome}; these levers keep the math, so {tool} uses them under {profile} whatever a bench "
                "says")
    # Asked of the gate itself, so that the words cannot drift from what a run will do.
    chosen = choose_levers(tool, {profile: result.levers}, profile, record, min_psnr_db=min_psnr_db,
                           min_ssim=min_ssim, float8_runs=True)  # the levers benched are those that ran
    if chosen.levers == result.levers:
        return f"passes: its {result.levers.math_in_words()} will be used for {tool} under {profile}"
    short = []
    if record.psnr_db < min_psnr_db:
        short.append(f"PSNR {record.psnr_db:.1f} dB is below {min_psnr_db:g}")
    if record.ssim < min_ssim:
        short.append(f"SSIM {record.ssim:.4f} is below {min_ssim:g}")
    return f"fails: {tool} will run exact under {profile} ({'; '.join(short)})"


def _psnr_text(value: float, unit: str = "") -> str:
    return f"{value:.1f}{unit}" + (" (identical)" if value >= PSNR_CAP_DB else "")


def _count(number: int, thing: str) -> str:
    return f"{number} {thing}{'' if number == 1 else 's'}"


def _judge_text(result: BenchResult) -> str:
    if result.judge is None:
        return "no MLLM judge configured: no score difference (frame statistics do not judge content)"
    if result.record.judge_delta is None:
        return f"{result.judge} fell back to frame statistics on every probe: no score difference"
    counted = sum(p.judge_delta is not None for p in result.probes)
    return (f"mean score difference {result.record.judge_delta:+.2f} on the 1-20 scale, accelerated minus exact "
            f"({result.judge}, {counted} of {len(result.probes)} probes)")
