"""`spagent doctor`: can each tool of a registry run here, and on which GPU.

It prints, for each tool, whether its weights are on this machine (the
checks of `tool_adapters/weights.py`), how much GPU memory it needs at the
request (the estimate of `tool_adapters/memory.py`, whose docstring gives
the formula and the measurements behind it), plainly and under its `fast`
profile where that adds a cache, and a verdict for each GPU
(`tool_adapters/gpus.py`), then the GPUs on which a profile's cache would
not fit (the tool runs that profile there without it) and the commands that
fetch what is missing.
`python -m spagent_graph.apps.doctor` prints docs/library.md's table of the library.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..tool_adapters.gpus import GiB, Gpu
from ..tool_adapters.memory import (
    USABLE_SHARE,
    Fit,
    FittedSize,
    MemoryEstimate,
    estimate_memory,
    fit_on,
    fit_request,
)
from ..tool_adapters.registry import ToolSpec
from ..tool_adapters.weights import WeightsCheck, check_weights

__all__ = ["MEASURED_PEAK_GIB", "Readiness", "format_readiness", "library_table", "readiness"]


@dataclass(frozen=True)
class Readiness:
    spec: ToolSpec
    weights: WeightsCheck
    memory: MemoryEstimate | None
    fits: list[Fit]
    size: FittedSize | None = None  # the request as this tool runs it
    # Per accelerated profile whose levers add a cache: the estimate with them pulled (the plain one is `memory`).
    profiles: dict[str, MemoryEstimate] = field(default_factory=dict)

    def cache_fits(self, profile: str, gpu: Gpu) -> bool:
        """Whether `profile`'s levers, cache included, fit `gpu` with everything on it, as levered pipelines run."""
        memory = self.profiles.get(profile)
        return memory is None or memory.peak_bytes <= USABLE_SHARE * gpu.total_bytes

    @property
    def ready(self) -> bool:
        """Its weights are here, and it fits some GPU (or nothing says it does not)."""
        return self.weights.present and (not self.fits or any(f.verdict != "does not fit" for f in self.fits))


def readiness(specs: Iterable[ToolSpec], *, frames: int, height: int, width: int, gpus: list[Gpu]) -> list[Readiness]:
    """Weights, memory and a verdict per GPU for each tool, at the request as each tool fits it."""
    rows = []
    for spec in specs:
        memory = estimate_memory(spec, frames=frames, height=height, width=width)
        profiles = {}
        for profile, levers in spec.acceleration.items():
            if memory is not None and (levers.cache is not None or levers.quantize is not None):
                profiles[profile] = estimate_memory(spec, frames=frames, height=height, width=width, levers=levers)
        rows.append(Readiness(
            spec=spec,
            weights=check_weights(spec),
            memory=memory,
            fits=[fit_on(memory, gpu) for gpu in gpus] if memory else [],
            size=fit_request(spec, frames=frames, height=height, width=width),
            profiles=profiles,
        ))
    return rows


_SHORT_VERDICT = {"fits": "fits", "fits with model offload": "model offload",
                  "fits with sequential offload": "sequential offload", "does not fit": "does not fit"}


def format_readiness(rows: list[Readiness], gpus: list[Gpu]) -> str:
    """A table, one line per tool, then what to run for the missing weights."""
    header = ["tool", "task", "weights", "size (frames x WxH)", "weights GiB", "peak GiB", "fast GiB",
              "model offload GiB", "sequential GiB"]
    header += [f"GPU {gpu.label}" for gpu in gpus]
    table = [_table_row(row) for row in rows]
    lines = [_render(header, table), ""]
    lines.append("Memory at the request fitted to each tool; parameter counts from the weights' files where they are "
                 "here, else from the registry.")
    if gpus:
        lines.append(f"A tool fits a GPU when it needs at most {USABLE_SHARE:.0%} of its memory; "
                     "offload is the fallback it would use.")
    else:
        lines.append("No CUDA GPU is visible here: the estimates are for a CUDA GPU.")
    lines.append("fast GiB: the peak with the fast profile's cache (what it keeps between steps) and its FP8 weights "
                 "(half the blocks' bytes; a GPU before compute capability 8.9 runs without them); - where it changes "
                 "nothing.")
    lines += _cache_lines(rows)
    lines += _fetch_lines(rows)
    return "\n".join(lines)


def _gib(value: int | None) -> str:
    return "-" if value is None else f"{value / GiB:.1f}"


def _table_row(row: Readiness) -> list[str]:
    memory = row.memory
    cells = [row.spec.name, row.spec.task, "present" if row.weights.present else "missing", str(row.size or "-")]
    if memory is None:
        cells += ["-"] * 5
    else:
        fast = row.profiles.get("fast")
        cells += [_gib(memory.weights_bytes), _gib(memory.peak_bytes), _gib(fast.peak_bytes) if fast else "-",
                  _gib(memory.model_offload_peak_bytes), _gib(memory.sequential_offload_peak_bytes)]
    return cells + [_SHORT_VERDICT[fit.verdict] for fit in row.fits]


def _render(header: list[str], rows: list[list[str]]) -> str:
    width = len(header)
    rows = [row + ["-"] * (width - len(row)) for row in rows]  # tools with no estimate have no verdicts
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in [header, *rows])


def _cache_lines(rows: list[Readiness]) -> list[str]:
    """The GPUs that fit a tool but not a profile's cache: there the profile runs without it."""
    lines = []
    for row in rows:
        for fit in row.fits:
            if fit.verdict != "fits":
                continue  # offloaded, a tool runs without levers anyway
            for profile, memory in row.profiles.items():
                if not row.cache_fits(profile, fit.gpu):
                    lines.append(f"  {row.spec.name} on GPU {fit.gpu.label}: {profile}'s cache (+{_gib(memory.cache_bytes)} "
                                 f"GiB, {_gib(memory.peak_bytes)} GiB in all) would not fit; {profile} runs there "
                                 "without it")
    return ["", "A profile's cache that would not fit a GPU is left out there:", *lines] if lines else []


def _fetch_lines(rows: list[Readiness]) -> list[str]:
    """The download commands, then what else to do, each once with every tool it serves."""
    commands: dict[str, list[str]] = {}
    hints: dict[str, list[str]] = {}
    for row in rows:
        if row.weights.present:
            continue
        if row.weights.download:
            commands.setdefault(row.weights.download, []).append(row.spec.name)
        if row.weights.hint:
            hints.setdefault(row.weights.hint, []).append(row.spec.name)
    lines = []
    if commands:
        lines += ["", "Download the missing weights:"]
        lines += [f"  {', '.join(tools)}: {command}" for command, tools in commands.items()]
    if hints:
        lines += ["", "Also:"]
        lines += [f"  {', '.join(tools)}: {hint}" for hint, tools in hints.items()]
    return lines


# docs/library.md's table of the library -------------------------------------------------------

# Peaks measured on a GPU at the usual size (benchmarks/results/), by tool: shown instead of the estimate.
MEASURED_PEAK_GIB = {
    "sd3": 14.6, "cogvideox": 27.5, "wan22-5b-t2v": 43.7, "wan22-a14b-t2v": 84.9, "skyreels-v2-t2v": 49.5,
    "skyreels-v2-df": 25.4, "sana-video": 18.1, "ltx-2": 69.6, "kandinsky5-t2v": 24.4, "kandinsky5-i2v": 61.5,
    "hunyuanvideo-1.5": 45.3, "hunyuanvideo-1.5-i2v": 46.1, "skyreels-v2-i2v": 54.6, "wan22-a14b-i2v": 85.0,
}
MEASURED_MODEL_OFFLOAD_GIB = {"wan22-a14b-t2v": 34.9}


def library_table(registry: Iterable[ToolSpec]) -> str:
    """The Markdown table of a registry's diffusers tools at their usual size, as docs/library.md shows it:
    hub id, task, usual steps, frames and size, and GPU memory (estimated unless measured)."""
    lines = ["| tool | task | weights | steps | usual frames x size | GPU memory, all on the GPU / model offload |",
             "| --- | --- | --- | --- | --- | --- |"]
    for spec in registry:
        if spec.adapter != "diffusers" or spec.usual is None:
            continue
        usual = spec.usual
        memory = estimate_memory(spec, frames=usual.frames, height=usual.height, width=usual.width)
        if spec.name in MEASURED_PEAK_GIB:
            peak = f"{MEASURED_PEAK_GIB[spec.name]:.1f} GiB measured"
        else:
            peak = f"~{_gib(memory.peak_bytes)} GiB" if memory else "-"
        if spec.name in MEASURED_MODEL_OFFLOAD_GIB:
            offload = f"{MEASURED_MODEL_OFFLOAD_GIB[spec.name]:.1f} GiB measured"
        else:
            offload = f"~{_gib(memory.model_offload_peak_bytes)} GiB" if memory else "-"
        gated = " (gated)" if spec.gated else ""
        steps = spec.defaults.get("num_inference_steps", "-")
        lines.append(f"| `{spec.name}` | {spec.task} | `{spec.model}`{gated} | {steps} | {usual} | {peak} / {offload} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python -m spagent_graph.apps.doctor: docs/library.md's table of the library
    from spagent_graph.tool_adapters.registry import ToolRegistry

    print(library_table(ToolRegistry.from_yaml("library")), end="")
