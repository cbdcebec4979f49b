"""Make a run's videos again from its manifest, and say how close they came.

    from spagent_graph import replay
    result = replay("~/.cache/spagent_graph/artifacts/3f2a9c0e1b7d")  # a run folder, report.json or a video
    result.identical, [c.in_words() for c in result.comparisons]

A replay runs every recorded step again with the tool's recorded registry
entry, the very weights (the hub revision recorded, found in the local cache),
the options after fitting, the seed and the levers; the plan, the models and
the winner are the recorded decisions, so no MLLM is asked. Before anything
runs, what differs here from the machine that made the run (a library's
version, the GPU, a weight file, an input) is said one line each, and the
replay goes on only when asked to (`anyway=True`). After, each output is
compared with the recorded one: identical frame for frame (and whether its
encoded pictures are the same bytes), or its PSNR and SSIM.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image

from .tool_adapters.registry import DEMO_SCHEME
from .manifest import (
    MANIFEST_TAG,
    CandidateRecord,
    FileRecord,
    ManifestError,
    MediaManifest,
    RunManifest,
    StepManifest,
    WeightsRecord,
    environment,
    file_sha256,
    inside_folder,
    read_manifest,
    weights_record,
)

__all__ = ["Comparison", "ReplayRefused", "ReplayResult", "compare_media", "replay", "replay_differences"]



class ReplayRefused(ManifestError):
    """Something here differs from the machine that made the run, and the replay was not told to go on."""

    def __init__(self, differences: list[str]) -> None:
        self.differences = differences
        lines = "\n".join(differences)
        super().__init__(f"not replayed: {len(differences)} difference{'s' if len(differences) != 1 else ''} from "
                         f"the machine that made the run (listed below); replay anyway with --anyway "
                         f"(`anyway=True`), or make them alike.\n{lines}")


@dataclass(frozen=True)
class Comparison:
    """One replayed file against the recorded one."""

    candidate_id: str
    step: int
    tool: str
    recorded: Path | None
    replayed: Path
    identical: bool = False
    same_encoding: bool = False  # the encoded pictures are the same bytes (the file's manifest aside)
    frames: int = 0
    psnr_db: float | None = None  # mean over frames, where not identical
    ssim: float | None = None
    note: str | None = None

    def in_words(self) -> str:
        what = f"{self.candidate_id} step {self.step + 1} ({self.tool}) {self.replayed.name}"
        if self.note:
            return f"{what}: {self.note}"
        if self.identical:
            how = "the same encoded bytes" if self.same_encoding else "re-encoded differently"
            return f"{what}: identical, frame for frame ({self.frames} frame{'s' if self.frames != 1 else ''}; {how})"
        return (f"{what}: differs: PSNR {self.psnr_db:.1f} dB, SSIM {self.ssim:.3f} against the recorded "
                f"output (mean over {self.frames} frames)")


@dataclass(frozen=True)
class ReplayResult:
    source: Path
    run_id: str
    folder: Path  # where the replay wrote its files
    differences: list[str]
    comparisons: list[Comparison]
    seconds: float
    recorded_seconds: float | None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def identical(self) -> bool:
        return bool(self.comparisons) and all(c.identical for c in self.comparisons)

    def to_json(self) -> dict[str, Any]:
        document = dataclasses.asdict(self)
        document["identical"] = self.identical
        return json.loads(json.dumps(document, default=str))


# What differs here -----------------------------------------------------------------------------


def replay_differences(manifest: RunManifest | MediaManifest, folder: Path, *, device: str | None = None,
                       cache_dir: Path | None = None) -> tuple[list[str], dict[str, Path]]:
    """One line for each way this machine differs from the one that made the run; and, for each
    recorded model, the folder here that holds its recorded weights (the replay loads from there)."""
    here = environment()
    recorded = manifest.environment
    lines = []
    if recorded.python != here.python:
        lines.append(f"Python: {recorded.python} when recorded, {here.python} here")
    for name, version in recorded.packages.items():
        mine = here.packages.get(name) if name in here.packages else _version(name)
        if mine != version:
            lines.append(f"{name}: {version or 'not installed'} when recorded, {mine or 'not installed'} here")
    lines += _device_differences(manifest, recorded, here, device)
    for name, record in _inputs_of(manifest).items():
        lines += _input_difference(name, record, folder)
    folders: dict[str, Path] = {}
    for tool, records in _weights_of(manifest).items():
        for record in records:
            found, problems = _weights_here(tool, record, cache_dir)
            lines += problems
            if found is not None:
                folders[record.model] = found
    return lines, folders


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _chains(manifest: RunManifest | MediaManifest) -> list[CandidateRecord]:
    if isinstance(manifest, RunManifest):
        return [c for c in manifest.candidates if c.steps]
    return [CandidateRecord(id="file", steps=manifest.steps)]


def _inputs_of(manifest: RunManifest | MediaManifest) -> dict[str, FileRecord]:
    return dict(manifest.inputs)


def _weights_of(manifest: RunManifest | MediaManifest) -> dict[str, list[WeightsRecord]]:
    tools: dict[str, list[WeightsRecord]] = {}
    for chain in _chains(manifest):
        for step in chain.steps:
            tools.setdefault(step.tool, list(step.made_with.weights))
    return tools


def recorded_device(manifest: RunManifest | MediaManifest) -> str:
    devices = [s.made_with.device for c in _chains(manifest) for s in c.steps if s.made_with.device]
    return devices[0] if devices else "cpu"


def _device_differences(manifest, recorded, here, device: str | None) -> list[str]:
    was = recorded_device(manifest)
    lines = []
    if device is not None and device.split(":")[0] != was.split(":")[0]:
        lines.append(f"device: {was} when recorded, {device} asked for here")
    if not was.startswith("cuda"):
        return lines
    index = int(was.partition(":")[2] or 0)
    gpu = next((g for g in recorded.gpus if g.index == index), recorded.gpus[0] if recorded.gpus else None)
    described = f"{gpu.name}, driver {recorded.driver}, CUDA {recorded.cuda}" if gpu else "a GPU"
    if not here.gpus:
        lines.append(f"GPU: {described} when recorded; none here (the replay would run on the CPU)")
        return lines
    mine = here.gpus[0]
    if gpu is not None and mine.name != gpu.name:
        lines.append(f"GPU: {gpu.name} when recorded, {mine.name} here")
    if recorded.driver != here.driver:
        lines.append(f"NVIDIA driver: {recorded.driver} when recorded, {here.driver} here")
    if recorded.cuda != here.cuda:
        lines.append(f"CUDA (torch's build): {recorded.cuda} when recorded, {here.cuda} here")
    return lines


def _input_difference(name: str, record: FileRecord, folder: Path) -> list[str]:
    path = inside_folder(folder, record.path, f"input {name}")
    if not path.is_file():
        return [f"input {name}: {record.path} is not in the run's folder {folder}"]
    if file_sha256(path) != record.sha256:
        return [f"input {name}: {record.path} has changed since the run (its SHA-256 differs)"]
    return []


def _weights_here(tool: str, record: WeightsRecord, cache_dir: Path | None) -> tuple[Path | None, list[str]]:
    from .tool_adapters.weights import hub_cache_dir

    model = record.model
    if model.startswith(DEMO_SCHEME):
        from .tool_adapters.adapters import DEFAULT_CACHE_DIR
        from .tool_adapters.demo_pipelines import ensure_demo_pipeline

        folder = ensure_demo_pipeline(model.removeprefix(DEMO_SCHEME), (cache_dir or DEFAULT_CACHE_DIR) / "demo")
        how = f"the demo pipeline {model} as built here"
    elif record.revision is not None:
        folder = hub_cache_dir() / f"models--{model.replace('/', '--')}" / "snapshots" / record.revision
        if not folder.is_dir():
            return None, [f"weights of {tool}: {model} at revision {record.revision[:12]} is not here; fetch it: "
                          f"hf download {model} --revision {record.revision}"]
        how = f"{model} at revision {record.revision[:12]}"
    else:
        folder = Path(model).expanduser()
        if not folder.is_dir():
            return None, [f"weights of {tool}: the folder {model} is not here"]
        how = f"the folder {model}"
    here = weights_record(model, folder, cache_dir).files
    missing = [name for name in record.files if name not in here]
    changed = [name for name in record.files if name in here and here[name] != record.files[name]]
    problems = []
    if missing:
        problems.append(f"weights of {tool}: {how} lacks {len(missing)} recorded file"
                        f"{'s' if len(missing) > 1 else ''} ({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''})")
    if changed:
        problems.append(f"weights of {tool}: {how} has {len(changed)} file{'s' if len(changed) > 1 else ''} that "
                        f"differ from the recorded ones ({', '.join(changed[:3])}{', ...' if len(changed) > 3 else ''})")
    return folder, problems


# Replaying ------------------------------------------------------------------------------------------


def replay(source: Path | str, *, out: Path | str | None = None, anyway: bool = False, device: str | None = None,
           cache_dir: Path | str | None = None, artifacts_dir: Path | str | None = None) -> ReplayResult:
    """Makes the videos of the run at `source` (a run folder, its report.json or manifest.json, or a video
    or picture a run wrote) again; see the module's docstring. Writes into `out` (default: a new folder
    `replay-<run id>-<time>` in `artifacts_dir`), nothing when refused. Raises `ManifestError` for a source
    that is not a readable manifest, `ReplayRefused` when something differs here and `anyway` is false."""
    from .tool_adapters.adapters import DEFAULT_CACHE_DIR

    started = time.perf_counter()
    source = Path(source).expanduser()
    cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else DEFAULT_CACHE_DIR
    manifest, folder = read_manifest(source)
    chains = _chains(manifest)
    if not chains:
        raise ManifestError(f"{source}: the run made no files to make again (it stopped before any step ran).")
    differences, weight_folders = replay_differences(manifest, folder, device=device, cache_dir=cache_dir)
    if differences and not anyway:
        raise ReplayRefused(differences)
    device = device or _device_here(recorded_device(manifest))
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    if out is None:
        from .context import Context

        root = Path(artifacts_dir).expanduser() if artifacts_dir is not None else Path(Context().artifacts_dir)
        out = root / f"replay-{manifest.run_id}-{stamp}"
    out = Path(out).expanduser()
    if out.exists() and any(out.iterdir()):
        raise ManifestError(f"{out}: the replay's folder must be new or empty; it holds files already.")
    out.mkdir(parents=True, exist_ok=True)
    inputs = _kept_inputs(manifest, folder, out)
    comparisons = _run_chains(chains, manifest, folder, out, inputs, weight_folders, device=device,
                              cache_dir=cache_dir)
    result = ReplayResult(source=source, run_id=manifest.run_id, folder=out, differences=differences,
                          comparisons=comparisons, seconds=time.perf_counter() - started,
                          recorded_seconds=getattr(manifest, "seconds", None),
                          extra={"device": device, "machine": platform.node()})
    (out / "replay.json").write_text(json.dumps(result.to_json(), indent=2))
    return result


def _device_here(recorded: str) -> str:
    if recorded.startswith("cuda"):
        import torch

        return recorded if torch.cuda.is_available() else "cpu"
    return recorded


def _kept_inputs(manifest, folder: Path, out: Path) -> dict[str, FileRecord]:
    """The run's inputs, in the replay's folder under the same names, so that it too can be replayed."""
    for name, record in manifest.inputs.items():
        source, target = inside_folder(folder, record.path, f"input {name}"), out / record.path
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)
    return dict(manifest.inputs)


def _run_chains(chains: list[CandidateRecord], manifest, folder: Path, out: Path, inputs: dict[str, FileRecord],
                weight_folders: dict[str, Path], *, device: str, cache_dir: Path) -> list[Comparison]:
    from .media import tag_media
    from .tool_adapters.acceleration import Levers
    from .tool_adapters.adapters import in_process_tool
    from .tool_adapters.pool import PipelinePool
    from .tool_adapters.registry import ToolSpec

    pool, tools, made = PipelinePool(), {}, {}
    comparisons = []
    for chain in chains:
        for position, step in enumerate(chain.steps):
            replayed = out / step.output
            if step.key not in made:
                if step.tool not in tools:
                    entry = _pinned(step.made_with.entry, weight_folders)
                    try:
                        spec = ToolSpec.model_validate(entry)
                    except ValueError as exc:
                        raise ManifestError(f"the recorded entry of {step.tool} no longer reads as a tool: {exc}") from None
                    tools[step.tool] = in_process_tool(spec, device=device, cache_dir=cache_dir, pool=pool)
                tool = tools[step.tool]
                args = {"output_path": str(replayed), "prompt": step.prompt or None, **step.options}
                for name, relative in step.inputs.items():
                    args[name] = str(out / relative)
                replayed.parent.mkdir(parents=True, exist_ok=True)
                levers = {step.tool: Levers.model_validate(step.levers)}
                tool.invoke({"type": "tool_call", "id": step.key, "name": tool.name, "args": args},
                            config={"configurable": {"levers": levers}})
                again = MediaManifest(run_id=manifest.run_id, environment=environment(), inputs=inputs,
                                      steps=chain.steps[:position + 1])
                tag_media(replayed, MANIFEST_TAG, again.model_dump_json())
                made[step.key] = replayed
            recorded = folder / step.output
            comparisons.append(_compared(chain.id, step, recorded if recorded.is_file() else None, made[step.key]))
    return comparisons


def _pinned(entry: dict[str, Any], weight_folders: dict[str, Path]) -> dict[str, Any]:
    """The recorded entry, loading each hub model from the recorded revision's folder in the cache
    (the hub's newest revision may be another)."""
    entry = json.loads(json.dumps(entry))
    if entry.get("model") in weight_folders and not str(entry["model"]).startswith(DEMO_SCHEME):
        entry["model"] = str(weight_folders[entry["model"]])
    for component in (entry.get("components") or {}).values():
        if component.get("model") in weight_folders and not str(component["model"]).startswith(DEMO_SCHEME):
            component["model"] = str(weight_folders[component["model"]])
    return entry


def _compared(candidate_id: str, step: StepManifest, recorded: Path | None, replayed: Path) -> Comparison:
    base = {"candidate_id": candidate_id, "step": step.index, "tool": step.tool, "recorded": recorded,
            "replayed": replayed}
    if recorded is None:
        return Comparison(**base, note="made again; the recorded file is not in the run's folder to compare with")
    return Comparison(**base, **compare_media(recorded, replayed))


# Comparing -------------------------------------------------------------------------------------------


def compare_media(recorded: Path, replayed: Path) -> dict[str, Any]:
    """identical / same_encoding / frames / psnr_db / ssim of two videos or two pictures."""
    from .metrics import psnr, ssim

    first, second = _frames(recorded), _frames(replayed)
    same_encoding = _encoded(recorded) == _encoded(replayed)
    if len(first) != len(second) or any(a.shape != b.shape for a, b in zip(first, second)):
        return {"frames": len(second), "note": f"differs in shape: {len(first)} frames of "
                f"{first[0].shape[1]}x{first[0].shape[0]} recorded, {len(second)} of "
                f"{second[0].shape[1]}x{second[0].shape[0]} made again"}
    identical = all(np.array_equal(a, b) for a, b in zip(first, second))
    if identical:
        return {"identical": True, "same_encoding": same_encoding, "frames": len(first)}
    psnrs = [psnr(a, b) for a, b in zip(first, second)]
    ssims = [ssim(a, b) if min(a.shape[:2]) >= 11 else float("nan") for a, b in zip(first, second)]
    return {"frames": len(first), "same_encoding": same_encoding, "psnr_db": float(np.mean(psnrs)),
            "ssim": float(np.mean(ssims))}


def _frames(path: Path) -> list[np.ndarray]:
    with open(path, "rb") as file:
        head = file.read(8)
    if head.startswith(b"\x89PNG"):
        with Image.open(path) as picture:
            return [np.asarray(picture.convert("RGB"))]
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def _encoded(path: Path) -> list[bytes]:
    """The encoded pictures without the file's wrapping: an MP4's packets, a PNG's chunks but its text."""
    with open(path, "rb") as file:
        data = file.read()
    if data.startswith(b"\x89PNG"):
        from .media import png_chunks

        return [whole for kind, _, whole in png_chunks(data) if kind not in (b"iTXt", b"tEXt", b"zTXt")]
    with av.open(str(path)) as container:
        return [bytes(packet) for packet in container.demux() if packet.size]
