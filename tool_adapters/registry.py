"""The tool registry: a YAML file that names each tool, its task and how to run it.

    tools:
      svd:
        task: image_to_video
        adapter: diffusers
        pipeline: StableVideoDiffusionPipeline
        model: stabilityai/stable-video-diffusion-img2vid-xt   # hub id or local folder
        torch_dtype: float16
        call: {decode_chunk_size: 8}        # fixed keyword arguments of the pipeline call
        defaults: {num_inference_steps: 25} # used when the request leaves them open
        prior_strengths: 1374                # or {sports: 1400, ...}; seeds the capability store

`model: demo://NAME` names one of the tiny random-weight pipelines that
`demo_pipelines` builds in code, so the whole graph runs with no downloads.

Three fields only inform `spagent doctor` (tool_adapters/weights.py, memory.py) and change
nothing about how a tool runs: `parameters` (the model's size, for a memory
estimate before its weights are downloaded), `gated` (the hub asks for an
accepted licence and a login) and `repo_url` (where a research repository is
cloned from).
"""

from __future__ import annotations

import difflib

from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from spagent_graph.errors import ConfigError, UnknownToolError

from .acceleration import AcceleratedProfile, Levers
from spagent_graph.state import SUBJECTS, Subject, Task

__all__ = [
    "DEMO_SCHEME",
    "RayOptions",
    "BUILTIN_REGISTRIES",
    "ComponentSpec",
    "FrameRule",
    "MemoryOptions",
    "ToolRegistry",
    "ToolSpec",
    "resolve_registry_path",
]

BUILTIN_REGISTRIES = ("demo", "paper", "library", "research")
# A `model` of this scheme names one of the demo pipelines, built in code (always present, no weights).
DEMO_SCHEME = "demo://"


DtypeName = Literal["auto", "float32", "float16", "bfloat16"]


class ComponentSpec(BaseModel):
    """A pipeline component loaded on its own: AnimateDiff's motion adapter, or a
    scheduler with settings other than the ones saved beside the weights."""

    model_config = ConfigDict(extra="forbid")
    cls: str = Field(alias="class", description="A class exported by diffusers or transformers.")
    model: str | None = Field(None, description="Hub id or folder; default the tool's own `model`.")
    subfolder: str | None = None
    config: dict[str, Any] = Field(
        default_factory=dict, description="Overrides of the component's saved config, e.g. a scheduler's beta_schedule."
    )


class FrameRule(BaseModel):
    """The frame counts a model can make: `offset + k * step`, from `min` to `max`.

    CogVideoX and LTX-Video take 8k+1 frames, Wan 4k+1: their video VAEs
    compress time by 4 or 8 and keep the first frame apart.
    """

    model_config = ConfigDict(extra="forbid")
    min: int = Field(1, ge=1)
    max: int | None = Field(None, ge=1)
    step: int = Field(1, ge=1)
    offset: int = Field(0, ge=0)

    def fit(self, wanted: int) -> int:
        """The valid count nearest to `wanted`, rounding up so that nothing asked for is lost."""
        k = max(0, -(-(wanted - self.offset) // self.step))
        count = max(self.offset + k * self.step, self.min)
        while count < self.min:
            count += self.step
        if self.max is not None and count > self.max:
            count = self.offset + (self.max - self.offset) // self.step * self.step
        return count


class UsualSize(BaseModel):
    """What the model is usually run at: its model card's frame count and size."""

    model_config = ConfigDict(extra="forbid")
    frames: int = Field(1, ge=1)
    width: int = Field(ge=8)
    height: int = Field(ge=8)

    def __str__(self) -> str:
        return f"{self.width}x{self.height}" if self.frames == 1 else f"{self.frames} x {self.width}x{self.height}"


class MemoryOptions(BaseModel):
    """How a pipeline is placed: offloading, VAE tiling and slicing, attention backend."""

    model_config = ConfigDict(extra="forbid")
    cpu_offload: Literal["none", "model", "sequential"] = "none"
    vae_tiling: bool = False
    vae_slicing: bool = False
    attention_backend: str | None = Field(None, description="A diffusers attention backend, e.g. flash, sage, native.")


class RayOptions(BaseModel):
    """A `backend: ray` entry's Serve deployment: replicas and what each replica needs."""

    model_config = ConfigDict(extra="forbid")
    num_replicas: int = Field(1, ge=1)
    num_gpus: float = Field(0, ge=0, description="GPUs per replica (1 for most video models; 0 on a CPU).")
    num_cpus: float | None = Field(None, ge=0)
    memory: int | None = Field(None, ge=0, description="Bytes of RAM per replica.")
    max_ongoing_requests: int = Field(1, ge=1, description="Calls one replica takes at once; more queue.")


class ToolSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    task: Task
    adapter: Literal["diffusers", "research_repo"] = "diffusers"
    backend: Literal["in_process", "ray"] = Field(
        "in_process", description="Run in this process, or through a Ray Serve deployment (see ray_backend.py)."
    )
    ray: RayOptions = Field(default_factory=RayOptions)
    pipeline: str | None = Field(None, description="A pipeline class exported by diffusers, e.g. AnimateDiffPipeline.")
    model: str | None = Field(None, description="Hub id, local folder, or demo://NAME.")
    components: dict[str, ComponentSpec] = Field(default_factory=dict)
    torch_dtype: DtypeName | dict[str, DtypeName] = Field(
        "auto",
        description="One dtype, or one per component with a `default` for the rest (e.g. Wan's VAE in float32).",
    )
    variant: str | None = None
    call: dict[str, Any] = Field(default_factory=dict)
    call_style: str = Field("generic", description="How the pipeline is called; see tool_adapters/pipeline_calls.py.")
    defaults: dict[str, Any] = Field(default_factory=dict)
    usual: UsualSize | None = Field(None, description="The frames and size the model card runs it at (docs, estimates).")
    size_multiple: int = Field(8, ge=1, description="Height and width are rounded down to a multiple of this.")
    max_side: int | None = Field(None, ge=8, description="Longest side the model is meant for; larger asks are scaled down.")
    fixed_size: tuple[int, int] | None = Field(None, description="(width, height) for models that run at one size only.")
    frames: FrameRule = Field(default_factory=FrameRule)
    native_fps: int | None = Field(None, ge=1, description="The frame rate the model was trained for, if it has one.")
    memory: MemoryOptions = Field(default_factory=MemoryOptions)
    low_memory: MemoryOptions = Field(
        default_factory=lambda: MemoryOptions(cpu_offload="model", vae_tiling=True, vae_slicing=True),
        description="Settings to fall back to after a CUDA out-of-memory error.",
    )
    acceleration: dict[AcceleratedProfile, Levers] = Field(
        default_factory=dict, description="The levers of the balanced and fast profiles (acceleration.py); in a "
        "file, usually the name of a family under the file's top-level `acceleration`.")
    timeout_s: float | None = Field(None, gt=0, description="A step running longer than this is stopped.")
    max_retries: int = Field(2, ge=0, le=10, description="Retries of transient failures (I/O, connection).")
    # research_repo adapter: the authors' own inference command.
    repo_dir: str | None = Field(None, description="The user's clone of the research repository.")
    command: list[str] | None = Field(None, description="Argument list with {placeholders}; never run through a shell.")
    prepare: list[list[str]] = Field(
        default_factory=list, description="Commands run before `command`, in order (e.g. an inversion step)."
    )
    output_glob: str = Field("**/*.mp4", description="Where the command leaves its video, relative to its output folder.")
    python: str | None = Field(None, description="Interpreter for {python}; default the one running spagent-graph.")
    config: dict[str, Any] = Field(default_factory=dict, description="Written to {config_file}, placeholders filled.")
    env: dict[str, str] = Field(default_factory=dict)
    prior_strengths: float | dict[Subject, float] | None = None
    description: str = ""
    # What `spagent doctor` reports; none of these changes how the tool runs.
    parameters: float | dict[str, float] | None = Field(
        None,
        description="Parameter count, in total or by pipeline component (transformer, text_encoder, vae, ...): "
        "the memory estimate's weights while the weights themselves are not here.",
    )
    gated: bool = Field(False, description="The hub repository asks for an accepted licence and a login first.")
    repo_url: str | None = Field(None, description="research_repo: where the repository is cloned from.")

    @model_validator(mode="after")
    def _adapter_has_what_it_needs(self):
        if self.adapter == "diffusers" and (not self.pipeline or not self.model):
            raise ValueError("a diffusers tool needs `pipeline` and `model`")
        if self.adapter == "research_repo":
            if not self.command:
                raise ValueError("a research_repo tool needs `command` (an argument list)")
            # The program position never takes anything derived from a request.
            for argv in [self.command, *self.prepare]:
                program = argv[0] if argv else ""
                if not program or ("{" in program and program != "{python}"):
                    raise ValueError(f"a command's program must be {{python}} or a fixed name, not {program!r}")
        return self

    @property
    def is_runnable(self) -> bool:
        """False for a research-repository template whose `repo_dir` the user has not set."""
        return self.adapter != "research_repo" or bool(self.repo_dir)

    @field_validator("parameters")
    @classmethod
    def _parameters_are_counts(cls, value):
        counts = value.values() if isinstance(value, dict) else [value] if value is not None else []
        if any(count <= 0 for count in counts):
            raise ValueError(f"parameter counts must be positive, got {value}")
        return value

    @field_validator("prior_strengths")
    @classmethod
    def _strengths_on_scale(cls, value):
        values = value.values() if isinstance(value, dict) else [value] if value is not None else []
        for strength in values:
            if not 100 <= strength <= 2000:
                raise ValueError(f"prior strengths are on the 100-2000 scale, got {strength}")
        return value

    def fit_size(self, frames: int, height: int, width: int) -> tuple[int, int, int, list[str]]:
        """(frames, height, width) as this model runs them, and a note for every change."""
        from spagent_graph.principles import output_kind

        notes: list[str] = []
        wanted_height, wanted_width = height, width
        if self.max_side and max(height, width) > self.max_side:
            scale = self.max_side / max(height, width)
            height, width = round(height * scale), round(width * scale)
        multiple = self.size_multiple
        height, width = max(multiple, height // multiple * multiple), max(multiple, width // multiple * multiple)
        if self.fixed_size:
            width, height = self.fixed_size
        if (height, width) != (wanted_height, wanted_width):
            limit = f", longest side at most {self.max_side}" if self.max_side else ""
            rule = f"runs at {width}x{height} only" if self.fixed_size else f"sides a multiple of {multiple}{limit}"
            notes.append(f"size {wanted_width}x{wanted_height} -> {width}x{height} ({rule})")
        if output_kind(self.task) == "video":
            fitted = self.frames.fit(frames)
            if fitted != frames:
                rule = self.frames
                notes.append(f"num_frames {frames} -> {fitted} (makes {rule.offset} + k x {rule.step} frames, "
                             f"{rule.min} to {rule.max or 'any'})")
            frames = fitted
        return frames, height, width, notes

    def prior_by_subject(self) -> dict[Subject, float]:
        if self.prior_strengths is None:
            return {}
        if isinstance(self.prior_strengths, dict):
            return dict(self.prior_strengths)
        return {subject: float(self.prior_strengths) for subject in SUBJECTS}


def resolve_registry_path(registry: str | Path) -> Path:
    """A built-in registry name (`demo`, `paper`) or a path to a YAML file."""
    if str(registry) in BUILTIN_REGISTRIES:
        return Path(str(files(__package__) / "registries" / f"{registry}.yaml"))
    path = Path(registry)
    if not path.is_file():
        nearest = difflib.get_close_matches(str(registry), BUILTIN_REGISTRIES, n=1, cutoff=0.6)
        hint = f" Did you mean `{nearest[0]}`?" if nearest else ""
        raise ConfigError(
            f"Tool registry {registry!r} is neither a built-in registry ({', '.join(BUILTIN_REGISTRIES)}) "
            f"nor an existing YAML file.{hint}"
        )
    return path


class ToolRegistry:
    """Tool specs by name, read from one or more registry files."""

    def __init__(self, specs: dict[str, ToolSpec], source: str = "code", families: dict[str, Any] | None = None) -> None:
        self._specs = dict(specs)
        self.source = source
        self.families = dict(families or {})  # acceleration families, for files that include this one

    @classmethod
    def from_yaml(cls, registry: str | Path, _seen: tuple[Path, ...] = ()) -> ToolRegistry:
        """Reads a registry file.

        Besides `tools`, a file may `include` other registries (built-in names
        or paths relative to it), whose entries its own `tools` extend or
        replace, and may keep `only` some of the names.

        An include stays inside the including file's folder unless the file
        says otherwise with `includes_outside_folder: true`, so a registry
        dropped into a folder cannot quietly pull in files from elsewhere.

        A file's top-level `acceleration` names the levers of each model
        family's profiles (acceleration.py); an entry's `acceleration` may name
        one of these families, its own or an included file's.
        """
        path = resolve_registry_path(registry).resolve()
        if path in _seen:
            raise ConfigError(f"Tool registry {path} includes itself (through {' -> '.join(map(str, _seen))}).")
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise ConfigError(f"Tool registry {path} is not valid YAML: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("tools", {}), dict) or not (
            "tools" in data or "include" in data
        ):
            raise ConfigError(f"Tool registry {path} must be a mapping with a `tools` mapping (or an `include` list).")
        specs: dict[str, ToolSpec] = {}
        families: dict[str, Any] = {}
        for included in data.get("include", []):
            target = included if included in BUILTIN_REGISTRIES else (path.parent / included).resolve()
            if (not isinstance(target, str) and not target.is_relative_to(path.parent)
                    and data.get("includes_outside_folder") is not True):
                raise ConfigError(
                    f"Tool registry {path}: `include: {included}` leaves the registry's folder ({path.parent}); "
                    "set `includes_outside_folder: true` in the file to allow it."
                )
            included_registry = cls.from_yaml(target, (*_seen, path))
            specs.update(included_registry._specs)
            families.update(included_registry.families)
        families.update(data.get("acceleration") or {})
        for name, entry in (data.get("tools") or {}).items():
            if not isinstance(entry, dict):
                raise ConfigError(f"Tool registry {path}: entry `{name}` must be a mapping.")
            family = entry.get("acceleration")
            if isinstance(family, str):
                if family not in families:
                    raise ConfigError(f"Tool registry {path}: entry `{name}` names the acceleration family "
                                      f"`{family}`, which is not among the file's `acceleration` families "
                                      f"({', '.join(sorted(families)) or 'none'}).")
                entry = {**entry, "acceleration": families[family]}
            try:
                specs[name] = ToolSpec(name=name, **entry)
            except ValidationError as exc:
                raise ConfigError(f"Tool registry {path}: entry `{name}` is invalid:\n{exc}") from exc
        merged = cls(specs, source=str(path), families=families)
        if "only" in data:
            merged = cls({name: merged.get(name) for name in data["only"]}, source=str(path), families=families)
        return merged

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[ToolSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def names(self) -> list[str]:
        return sorted(self._specs)

    def get(self, name: str) -> ToolSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownToolError(name, self.names(), where=f"tool registry {self.source}") from None

    def for_task(self, task: Task) -> list[ToolSpec]:
        return [spec for spec in self._specs.values() if spec.task == task]

    def restricted_to(self, names: list[str]) -> ToolRegistry:
        """Only the named tools; every name must exist."""
        return ToolRegistry({name: self.get(name) for name in names}, source=f"{self.source} (restricted)")
