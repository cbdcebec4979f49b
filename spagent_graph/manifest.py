"""What made a run's videos: the manifest, kept so that anyone can make them again.

A run records, for every step that ran, the tool's registry entry, the weights it
loaded (the hub revision and each file's hash as the Hugging Face cache names it,
or a local folder's files and their hashes), its pipeline class, dtype, device and
levers, the options after fitting and the seed; for the run, the versions of the
libraries that decide the numbers, the GPU, the MLLM and its answers, and the
settings in force. It lives in three places:

- the state (`result["manifest"]`, a `RunManifest`) and `report.json`;
- `manifest.json` in the run's folder, which `spagent runs` lists and
  `spagent replay` reads;
- inside every MP4 and PNG a run writes (`MediaManifest`, the steps that made
  that one file): an MP4's metadata tag `spagent_manifest` (ffprobe and PyAV
  show it), a PNG's text chunk of the same name (PIL's `Image.info`). A file
  handed on alone still says how to make it again.

Paths in a manifest are relative to the run's folder, so a run folder can be
moved or shared; `read_manifest` refuses one that names a file outside it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import re
import sys
import threading
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import SpagentError

__all__ = [
    "MANIFEST_FILE",
    "MANIFEST_FORMAT",
    "MANIFEST_TAG",
    "CandidateRecord",
    "Environment",
    "FileRecord",
    "GpuRecord",
    "ManifestError",
    "MediaManifest",
    "MLLMRecord",
    "RunManifest",
    "StepManifest",
    "ToolRecord",
    "WeightsRecord",
    "environment",
    "file_sha256",
    "inside_folder",
    "read_manifest",
    "weights_record",
]

MANIFEST_FORMAT = 1  # raised whenever a reader of the old format would misread the new one
MANIFEST_FILE = "manifest.json"
MANIFEST_TAG = "spagent_manifest"
# The libraries whose versions decide a video's numbers (or, for langgraph, the run's decisions).
PACKAGES = ("spagent-graph", "torch", "diffusers", "transformers", "accelerate", "safetensors", "langgraph",
            "langchain-core", "numpy", "av", "pillow", "torchao")  # torchao: FP8 weights


class ManifestError(SpagentError, ValueError):
    """A file that holds no manifest of ours, or one this version cannot read or trust."""


class _Record(BaseModel):
    # Unknown keys are refused: a manifest is read back to make videos again, and a key this
    # version does not know would be silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileRecord(_Record):
    path: str = Field(description="Relative to the run's folder.")
    sha256: str


class WeightsRecord(_Record):
    """Where one model's weights came from on the machine that ran it."""

    model: str = Field(description="As the registry names it: a hub id, a local folder or demo://NAME.")
    folder: str | None = Field(None, description="The folder loaded from, on the machine that ran it.")
    revision: str | None = Field(None, description="The hub snapshot's commit hash; none for a local folder.")
    files: dict[str, str] = Field(
        default_factory=dict, description="Each file, relative to the folder, and its hash: the name of its blob "
        "in the Hugging Face cache (the SHA-256 of a weight file), else its SHA-256.")


class ToolRecord(_Record):
    """The tool as it ran: its registry entry and how it was loaded."""

    name: str
    adapter: str
    entry: dict[str, Any] = Field(description="The registry entry in force, whole: a replay builds the tool from it.")
    pipeline: str | None = None
    dtype: str | dict[str, str] | None = None
    device: str | None = None
    memory: dict[str, Any] = Field(default_factory=dict, description="The memory options it was placed with.")
    weights: list[WeightsRecord] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class StepManifest(_Record):
    key: str = Field(description="The step's identity (the artifact store's key).")
    index: int
    task: str
    tool: str
    prompt: str = ""
    inputs: dict[str, str] = Field(default_factory=dict, description="image/video -> its file, relative to the "
                                   "run's folder: the request's input or an earlier step's output.")
    options: dict[str, Any] = Field(description="Every generation option after fitting, the seed among them.")
    levers: dict[str, Any] = Field(default_factory=dict, description="The levers of the run's profile.")
    acceleration: str | None = Field(None, description="The levers in words and why, with the bench they rest on.")
    bench: dict[str, Any] | None = Field(None, description="The capability store's bench of the tool's profile that "
                                         "let its levers run (or made it run exact), as recorded.")
    made_with: ToolRecord
    output: str = Field(description="The file it wrote, relative to the run's folder.")
    output_sha256: str | None = Field(None, description="Of the file as written, its manifest included.")


class GpuRecord(_Record):
    index: int
    name: str
    memory_gib: float


class Environment(_Record):
    python: str
    platform: str
    packages: dict[str, str | None] = Field(description="Installed version of each library; none where absent.")
    cuda: str | None = Field(None, description="The CUDA version torch was built with.")
    driver: str | None = Field(None, description="The NVIDIA driver's version.")
    gpus: list[GpuRecord] = Field(default_factory=list)


class MediaManifest(_Record):
    """What is embedded in one file: the steps that made it, in order, ending with its own."""

    format: int = MANIFEST_FORMAT
    kind: Literal["media"] = "media"
    run_id: str
    environment: Environment
    inputs: dict[str, FileRecord] = Field(default_factory=dict, description="The request's own input files.")
    steps: list[StepManifest]


class CandidateRecord(_Record):
    id: str
    steps: list[StepManifest] = Field(default_factory=list)
    video: str | None = None
    error: str | None = None


class MLLMRecord(_Record):
    url: str | None = None
    model: str | None = None
    answers: list[dict[str, Any]] = Field(default_factory=list, description="Each answer: stage, and for whom.")


class RunManifest(_Record):
    """Exactly what a run did and made, enough to make its videos again."""

    format: int = MANIFEST_FORMAT
    kind: Literal["run"] = "run"
    run_id: str
    thread_id: str | None = None
    created_at: str
    seconds: float | None = Field(None, description="From the run's start to this record.")
    request: dict[str, Any] = Field(description="The text and options; a visual input as its file in `inputs`.")
    inputs: dict[str, FileRecord] = Field(default_factory=dict)
    environment: Environment
    candidates: list[CandidateRecord] = Field(default_factory=list)
    winner: str | None = Field(None, description="The winning candidate's id.")
    decisions: dict[str, Any] = Field(default_factory=dict, description="Intent, plan, models, scores and choice "
                                      "as decided, with who decided each: a replay follows them.")
    mllm: MLLMRecord = Field(default_factory=MLLMRecord)
    settings: dict[str, Any] = Field(default_factory=dict)
    setting_sources: dict[str, str] = Field(default_factory=dict)

    @property
    def run_folder(self) -> Path | None:
        """The run's folder on the machine that made it (where `manifest.json` and the steps are)."""
        folder = self.settings.get("artifacts_dir")
        return Path(folder).expanduser() / self.run_id if folder else None

    def write(self, folder: Path | str) -> Path:
        """Writes `manifest.json` into the run's folder, whole or not at all."""
        path = Path(folder) / MANIFEST_FILE
        partial = path.with_name(f".{MANIFEST_FILE}.{os.getpid()}.partial")
        partial.write_text(self.model_dump_json(indent=2))
        partial.replace(path)
        return path


# The environment ----------------------------------------------------------------------------


@functools.cache
def environment() -> Environment:
    """This process's libraries and GPUs (read once: neither changes while it runs)."""
    packages = {}
    for name in PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    cuda = driver = None
    gpus: list[GpuRecord] = []
    if "torch" in sys.modules or packages["torch"]:
        import torch

        cuda = torch.version.cuda
        if torch.cuda.is_available():
            for index in range(torch.cuda.device_count()):
                properties = torch.cuda.get_device_properties(index)
                gpus.append(GpuRecord(index=index, name=properties.name,
                                      memory_gib=round(properties.total_memory / 2**30, 1)))
            driver = _driver_version()
    return Environment(python=platform.python_version(), platform=platform.platform(terse=True),
                       packages=packages, cuda=cuda, driver=driver, gpus=gpus)


def _driver_version() -> str | None:
    # The kernel module says it without NVML or nvidia-smi, which a container may lack.
    try:
        text = Path("/proc/driver/nvidia/version").read_text()
    except OSError:
        return None
    found = re.search(r"Kernel Module(?: for \S+)?\s+(\d+(?:\.\d+)+)", text)
    return found.group(1) if found else None


# Hashes ---------------------------------------------------------------------------------------

_HASH_LOCK = threading.Lock()


def file_sha256(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _HashCache:
    """SHA-256 of large files, kept by (path, size, modification time) in the cache folder: a local
    model of tens of GB is read once per machine, not once per run."""

    def __init__(self, cache_dir: Path | None) -> None:
        self.path = cache_dir / "file-hashes.json" if cache_dir else None
        try:
            self.known = json.loads(self.path.read_text()) if self.path else {}
        except (OSError, ValueError):
            self.known = {}
        self.changed = False

    def sha256(self, file: Path) -> str:
        stat = file.stat()
        key = f"{file.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        if key not in self.known:
            self.known[key] = file_sha256(file)
            self.changed = True
        return self.known[key]

    def save(self) -> None:
        if self.path is None or not self.changed:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(f".{os.getpid()}.partial")
        partial.write_text(json.dumps(self.known))
        partial.replace(self.path)


def weights_record(model: str, folder: Path, cache_dir: Path | None = None) -> WeightsRecord:
    """The files of a model folder and their hashes. In the Hugging Face cache a snapshot's files
    link to blobs named by their hash, and the snapshot folder is named by the revision: both are
    read from the names, nothing is hashed."""
    folder = Path(folder)
    revision = folder.name if folder.parent.name == "snapshots" else None
    files = {}
    with _HASH_LOCK:
        hashes = _HashCache(cache_dir)
        for file in sorted(folder.rglob("*")):
            relative = file.relative_to(folder)
            if not file.is_file() or any(part.startswith(".") for part in relative.parts):
                continue
            target = Path(os.path.realpath(file))
            blob = target.parent.name == "blobs" and re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", target.name)
            files[relative.as_posix()] = target.name if blob else hashes.sha256(file)
        hashes.save()
    return WeightsRecord(model=model, folder=str(folder), revision=revision, files=files)


# Reading ----------------------------------------------------------------------------------------


def inside_folder(folder: Path, relative: str, what: str) -> Path:
    """`folder / relative`, refused when it leads outside `folder` (an absolute path, `..`, a link)."""
    folder = Path(folder).resolve()
    if not relative or Path(relative).is_absolute():
        raise ManifestError(f"{what}: the manifest names {relative!r}; a manifest names files inside its run "
                            f"folder {folder} only, by relative paths.")
    path = (folder / relative).resolve()
    if not path.is_relative_to(folder):
        raise ManifestError(f"{what}: the manifest names {relative!r}, which is outside its run folder {folder}; "
                            f"a manifest names files inside that folder only.")
    return path


def _validated(document: Any, source: Path) -> RunManifest | MediaManifest:
    if not isinstance(document, dict) or document.get("kind") not in ("run", "media") or "format" not in document:
        raise ManifestError(f"{source}: holds no spagent-graph manifest; expected a run folder, its report.json or "
                            f"manifest.json, or a video or picture a run wrote.")
    written = document["format"]
    if not isinstance(written, int) or written > MANIFEST_FORMAT:
        raise ManifestError(f"{source}: its manifest is of format {written!r}, written by a newer spagent-graph; "
                            f"this one reads format {MANIFEST_FORMAT}: upgrade spagent-graph to read it.")
    model = RunManifest if document["kind"] == "run" else MediaManifest
    try:
        manifest = model.model_validate(document)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise ManifestError(f"{source}: its manifest is damaged at `{where}`: {problem['msg']}.") from None
    folder = run_folder_of(source, manifest)
    for what, relative in _paths_in(manifest):
        inside_folder(folder, relative, f"{source}: {what}")
    return manifest


def _paths_in(manifest: RunManifest | MediaManifest) -> list[tuple[str, str]]:
    paths = [(f"input {name}", record.path) for name, record in manifest.inputs.items()]
    chains = manifest.candidates if isinstance(manifest, RunManifest) else [CandidateRecord(id="", steps=manifest.steps)]
    for candidate in chains:
        for step in candidate.steps:
            paths.append((f"step {step.index + 1} ({step.tool}) output", step.output))
            paths += [(f"step {step.index + 1} ({step.tool}) {name}", value) for name, value in step.inputs.items()]
    return paths


def run_folder_of(source: Path, manifest: RunManifest | MediaManifest) -> Path:
    """The folder a manifest's relative paths start from: the folder of manifest.json; for a step's
    file, the folder above `steps/`; for a report or a copied video beside it, its own folder, or the
    run's folder where the report was written apart from the run's files."""
    source = Path(source)
    folder = source if source.is_dir() else source.parent
    if folder.name == "steps":
        return folder.parent
    if isinstance(manifest, RunManifest) and source.name != MANIFEST_FILE and not (folder / "steps").is_dir():
        # A report written elsewhere (`spagent run --out`): the files are in the run's own folder.
        kept = manifest.run_folder
        if kept is not None and kept.is_dir():
            return kept
    return folder


def read_manifest(path: Path | str) -> tuple[RunManifest | MediaManifest, Path]:
    """The manifest of a run folder, its `report.json` or `manifest.json`, or a video or picture a run
    wrote; and the run folder its paths are relative to. A clear `ManifestError` for anything else."""
    path = Path(path)
    if not path.exists():
        raise ManifestError(f"{path}: no such file or folder; expected a run folder, its report.json or "
                            f"manifest.json, or a video or picture a run wrote.")
    if path.is_dir():
        inside = path / MANIFEST_FILE
        if not inside.is_file():
            raise ManifestError(f"{path}: a folder with no {MANIFEST_FILE}; expected the folder of a run "
                                f"(`spagent runs` lists them).")
        path = inside
    document = _document(path)
    manifest = _validated(document, path)
    return manifest, run_folder_of(path, manifest)


def _document(path: Path) -> Any:
    head = path.open("rb").read(16)
    if head.startswith(b"\x89PNG"):
        from PIL import Image

        with Image.open(path) as picture:
            text = picture.info.get(MANIFEST_TAG)
        if text is None:
            raise ManifestError(f"{path}: this picture carries no spagent-graph manifest (a run writes one into "
                                f"every PNG it makes).")
        return _json(text, path)
    if head[4:8] == b"ftyp":
        import av

        try:
            with av.open(str(path)) as container:
                text = container.metadata.get(MANIFEST_TAG)
        except av.error.FFmpegError as exc:
            raise ManifestError(f"{path}: not a readable video ({exc}).") from None
        if text is None:
            raise ManifestError(f"{path}: this video carries no spagent-graph manifest (a run writes one into every "
                                f"MP4 it makes).")
        return _json(text, path)
    if path.suffix.lower() != ".json":
        raise ManifestError(f"{path}: not a file spagent-graph writes; expected a run folder, its report.json or "
                            f"manifest.json, or a video or picture a run wrote.")
    document = _json(path.read_text(errors="replace"), path)
    if isinstance(document, dict) and "manifest" in document and "run_id" in document:  # a report.json
        if document["manifest"] is None:
            raise ManifestError(f"{path}: a report of a run that recorded no manifest (it stopped before its end, "
                                f"or an older spagent-graph wrote it).")
        return document["manifest"]
    return document


def _json(text: str, path: Path) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ManifestError(f"{path}: its manifest is not valid JSON ({exc}).") from None


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
