"""Runs any diffusers pipeline named in the registry.

The pipeline class comes from the registry entry, so a new diffusers model is
a few lines of YAML. How it is called is the entry's `call_style`
(`pipeline_calls.py`); most use `generic`, which passes our standard
arguments where the pipeline's `__call__` takes them.

Pipelines live in the shared `PipelinePool`: loaded once, reused by every
step, route and request; a component on the same weights as one another
pipeline holds is handed to it rather than loaded again (`sharing.py`).
Memory, by the doctor's estimates (`memory.py`): a call its GPU could not hold
even alone runs with the entry's `low_memory` settings (CPU offload, VAE
tiling and slicing; no levers) from the start; a smaller one later runs as
placed. Before each call the pool makes room on the GPU for what the call will
allocate beyond its weights, evicting other idle pipelines there. A CUDA
out-of-memory error all the same first evicts every other idle pipeline on
that GPU and, where that freed what the failed allocation asked for, runs the
call again as it was; else it reloads the tool with its `low_memory` settings
and retries once, and that set of levers keeps them for later calls (another
set, the `fast` row's, say, which may fit, stays as it is). The step's
adjustments say which. A pool made with `manage_memory=False` (its caller
places the pipelines) turns all of this off.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import re
import time
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps
from pydantic import ConfigDict, PrivateAttr

from spagent_graph.quiet import quiet_loading
from spagent_graph.errors import ConfigError, SpagentError, ToolError
from spagent_graph.manifest import ToolRecord, WeightsRecord, weights_record
from spagent_graph.media import read_frames, resample, write_image, write_video

from .acceleration import Levers, apply_levers, denoiser_names, set_attention_backend
from .base import TRANSIENT_ERRORS, GenerationArgs, GenerativeTool, StepControl
from .gpus import GiB, gpu_for_device
from .memory import USABLE_SHARE, MemoryEstimate, estimate_memory, fit_on
from .pipeline_calls import CALL_STYLES
from .pool import PipelinePool, Resident
from .registry import DEMO_SCHEME, ComponentSpec, MemoryOptions, ToolSpec
from .sharing import files_identity, remember_encodings

__all__ = ["COMPILE_CACHE_FOLDER", "DiffusersTool", "pick_dtype", "resolve_dtypes"]

_log = logging.getLogger(__name__)

#: Under the tool's cache folder: PyTorch's persistent compile caches (acceleration.use_compile_cache).
COMPILE_CACHE_FOLDER = "torch-compile"



def pick_dtype(name: str, device: torch.device) -> torch.dtype:
    if name == "auto":
        # Half precision is the norm for these models on a GPU, and slow or unsupported on a CPU.
        return torch.float16 if device.type == "cuda" else torch.float32
    return getattr(torch, name)


def resolve_dtypes(setting: str | dict[str, str], device: torch.device) -> torch.dtype | dict[str, torch.dtype]:
    """A registry's `torch_dtype` as diffusers' `from_pretrained` takes it: one dtype, or a
    mapping by component name whose `default` covers the components not named."""
    if isinstance(setting, str):
        return pick_dtype(setting, device)
    resolved = {name: pick_dtype(value, device) for name, value in setting.items()}
    resolved.setdefault("default", pick_dtype("auto", device))
    return resolved


class DiffusersTool(GenerativeTool):
    """A registry entry whose `adapter` is `diffusers`."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    device: str = "auto"
    cache_dir: Path = Path.home() / ".cache" / "spagent_graph"
    pool: PipelinePool

    # The sets of levers (by pool key) whose calls run with the low-memory settings and no levers since one
    # ran out of memory, with the reason in words for each call's record.
    _low_memory: dict[str, str] = PrivateAttr(default_factory=dict)
    _estimates: dict[tuple, MemoryEstimate | None] = PrivateAttr(default_factory=dict)
    _keys: set[str] = PrivateAttr(default_factory=set)
    _weights: dict[str, WeightsRecord] = PrivateAttr(default_factory=dict)

    def __init__(self, spec: ToolSpec, **kwargs: Any) -> None:
        kwargs.setdefault("pool", PipelinePool())
        super().__init__(spec, **kwargs)
        import diffusers

        with quiet_loading():  # the class's module is imported here, with the libraries' notices
            known = hasattr(diffusers, spec.pipeline)
        if not known:
            raise ConfigError(
                f"Tool `{spec.name}`: diffusers {diffusers.__version__} has no pipeline class `{spec.pipeline}`."
            )
        if spec.call_style not in CALL_STYLES:
            raise ConfigError(f"Tool `{spec.name}`: unknown call_style `{spec.call_style}`; known: {sorted(CALL_STYLES)}.")

    # Loading -------------------------------------------------------------------

    def pool_key(self, levers: Levers | None = None) -> str:
        """One resident pipeline per set of levers: a cache's hooks and compiled blocks belong to
        the modules they were put on, so an exact call never runs through them. Calls with the
        low-memory settings share one pipeline without levers."""
        return self._placement(levers).key

    def _placement(self, levers: Levers | None, *, low_memory: bool | None = None) -> Placement:
        """Where and how a call with `levers` runs: as the entry places it, or (`low_memory`, by default
        where these levers ran out of memory before) with the low-memory settings and no levers."""
        levers = levers or Levers()
        levered = self.name if levers.is_plain else f"{self.name}@{levers.key()}"
        if low_memory is None:
            low_memory = levered in self._low_memory
        if low_memory:
            return Placement(f"{self.name}@low-memory", self.spec.low_memory, Levers(), levered,
                             low_memory=True)
        return Placement(levered, self.spec.memory, levers, levered)

    def pipeline(self, levers: Levers | None = None) -> Any:
        """The resident pipeline; the first call loads it, later calls reuse it."""
        return self._resident(self._placement(levers)).pipeline

    def _resident(self, placement: Placement, *, hold: bool = False) -> Resident:
        self._keys.add(placement.key)
        return self.pool.get(placement.key, lambda device: self._quietly_loaded(device, placement),
                             device=self.device, estimate_bytes=self._estimate_bytes, hold=hold)

    @contextlib.contextmanager
    def _held(self, placement: Placement) -> Iterator[Resident]:
        """The resident pipeline, held until the block ends: another call's room-making leaves it be."""
        resident = self._resident(placement, hold=True)
        try:
            yield resident
        finally:
            self.pool.release(resident)

    def _quietly_loaded(self, device: torch.device, placement: Placement) -> Any:
        with quiet_loading():
            return self._load(device, placement)

    def _load(self, device: torch.device, placement: Placement) -> Any:
        import diffusers

        levers, options = placement.levers, placement.options
        dtype = resolve_dtypes(self.spec.torch_dtype, device)
        model = self._resolve_model(self.spec.model)
        identities = self._component_identities(model, dtype, device, options, levers)
        # Components another resident pipeline already holds are handed in rather than loaded again.
        given = {name: module for name, identity in identities.items()
                 if (module := self.pool.shared_component(identity)) is not None}
        for name, component in self.spec.components.items():
            if name not in given:
                given[name] = _load_component(component, self._resolve_model(component.model or self.spec.model),
                                              _dtype_of(dtype, name))
        extra = {"variant": self.spec.variant} if self.spec.variant else {}
        pipeline_cls = getattr(diffusers, self.spec.pipeline)
        pipeline = pipeline_cls.from_pretrained(model, dtype=dtype, **given, **extra)
        pipeline.set_progress_bar_config(disable=True)
        for name, identity in identities.items():
            self.pool.keep_component(identity, pipeline.components.get(name))
        for name, component in pipeline.components.items():
            if name.startswith("text_encoder") and isinstance(component, torch.nn.Module):
                remember_encodings(component)
        pipeline = _place(pipeline, options, device)
        # A shared denoiser was levered by the pipeline that loaded it, with these same levers.
        if not any(name in given for name in _lever_targets(levers)):
            apply_levers(pipeline, levers, compile_cache=self.cache_dir / COMPILE_CACHE_FOLDER)
        return pipeline

    def _component_identities(self, model: str, dtype: Any, device: torch.device, options: MemoryOptions,
                              levers: Levers) -> dict[str, Hashable]:
        """Per component with weights: what makes two loads of it the same module (sharing.py), or nothing
        where it must not be shared."""
        from .weights import local_weights

        if options.cpu_offload != "none" and device.type == "cuda":
            return {}  # offload hooks belong to one pipeline
        placement = (str(device), options.model_dump_json())
        _, files = local_weights(model, variant=self.spec.variant)
        for name, component in self.spec.components.items():  # loaded from where the entry says
            source = self._resolve_model(component.model or self.spec.model)
            files[name] = local_weights(source, component.subfolder, pipeline=False)[1].get("", [])
        identities = {}
        for name, weight_files in files.items():
            weights = files_identity(weight_files)
            if weights is None:
                continue
            component = self.spec.components.get(name)
            how = (component.cls, json.dumps(component.config, sort_keys=True)) if component else ()
            if name in _lever_targets(levers):
                if levers.cache is not None:
                    continue  # its hooks read their own pipeline's timestep
                how += (levers.key(),)
            identities[name] = (weights, str(_dtype_of(dtype, name)), placement, how)
        return identities

    def _resolve_model(self, model: str) -> str:
        if not model.startswith(DEMO_SCHEME):
            return model
        from .demo_pipelines import ensure_demo_pipeline

        return str(ensure_demo_pipeline(model.removeprefix(DEMO_SCHEME), self.cache_dir / "demo"))

    def _estimate_bytes(self) -> int:
        # Only a local folder can be measured before loading; a hub id is learnt on first load.
        folder = Path(self.spec.model)
        if not folder.is_dir():
            return 0
        return sum(f.stat().st_size for f in folder.rglob("*") if f.suffix in (".safetensors", ".bin"))

    def unload(self) -> None:
        for key in self._keys:
            self.pool.evict(key)

    def made_with(self, levers: Levers) -> ToolRecord:
        placement = self._placement(levers)
        return self._record(self._resident(placement), placement)

    def _record(self, resident: Resident, placement: Placement) -> ToolRecord:
        from .weights import local_weights

        dtype = resolve_dtypes(self.spec.torch_dtype, resident.device)
        # The pipeline's own folder, and each other model a component is loaded from.
        sources = {self.spec.model: (None, True)}
        for component in self.spec.components.values():
            if component.model and component.model != self.spec.model:
                sources.setdefault(component.model, (component.subfolder, False))
        weights = []
        for model, (subfolder, pipeline) in sources.items():
            folder, _ = local_weights(self._resolve_model(model), subfolder, pipeline=pipeline)
            if folder is not None:
                weights.append(self._weights_of(model, folder))
        return ToolRecord(
            name=self.name, adapter=self.spec.adapter, entry=self.spec.model_dump(mode="json"),
            pipeline=type(resident.pipeline).__name__, device=str(resident.device),
            dtype={k: str(v) for k, v in dtype.items()} if isinstance(dtype, dict) else str(dtype),
            memory=placement.options.model_dump(mode="json"),
            weights=weights)

    def _weights_of(self, model: str, folder: Path) -> WeightsRecord:
        # Listed once per folder and process: a tool's files do not change under a loaded pipeline.
        key = str(folder)
        if key not in self._weights:
            self._weights[key] = weights_record(model, folder, self.cache_dir)
        return self._weights[key]

    # Calling -------------------------------------------------------------------

    def _generate(self, args: GenerationArgs, control: StepControl) -> Path:
        placement = self._placement(control.levers)
        why = self._low_memory.get(placement.levered)
        if why is None and (why := self._too_big_for_its_gpu(args, placement)):
            placement = self._placement(control.levers, low_memory=True)  # this call only: it is its size
        if why:
            control.notes.append(f"{why}: ran with its low-memory settings ({self._low_memory_settings()}) "
                                 "and no acceleration levers")
        try:
            return self._generate_once(args, control, placement)
        except torch.OutOfMemoryError as error:
            if placement.low_memory:
                raise
            # Only the message is kept: the exception's frames hold the failed call's tensors.
            out_of_memory, asked = _first_sentences(error), _bytes_asked(error)
        # The other pipelines idle on this GPU go first: a reload of theirs later costs less than a call
        # with everything offloaded. A rerun repeats every step, so only where they freed what the failed
        # allocation asked for (a pipeline whose modules the caller shares frees nothing).
        freed = self.pool.evict_neighbours(placement.key)
        if freed.keys and (freed.bytes is None or freed.bytes >= asked):
            try:
                path = self._generate_once(args, control, placement)
            except torch.OutOfMemoryError as error:
                out_of_memory = _first_sentences(error)
            else:
                control.notes.append(f"ran out of memory ({out_of_memory}); ran again after unloading "
                                     f"{self._pipelines_in_words(freed.keys)} from its GPU")
                return path
        # Then its own pipeline, unless another call has it in hand, and once more with the low-memory
        # settings (and no levers: compiled blocks and cache hooks are not made for offloaded weights).
        self.pool.evict(placement.key, only_idle=True)
        self._low_memory[placement.levered] = f"an earlier call ran out of memory ({out_of_memory})"
        try:
            path = self._generate_once(args, control, self._placement(control.levers, low_memory=True))
        except (torch.OutOfMemoryError, SpagentError, *TRANSIENT_ERRORS):
            raise  # each says what it is, and a transient error is retried whole
        except Exception as error:
            # Reported alone, the retry's failure (a reload from a path that is gone, say) would hide
            # that the first call ran out of memory.
            raise ToolError(self.name, f"ran out of memory ({out_of_memory}), and the retry with its "
                            f"low-memory settings failed: {type(error).__name__}: {error}") from error
        control.notes.append(f"ran out of memory ({out_of_memory}); ran again with its low-memory settings "
                             f"({self._low_memory_settings()}) and no acceleration levers")
        return path

    def _too_big_for_its_gpu(self, args: GenerationArgs, placement: Placement) -> str | None:
        """Why the call would not fit its GPU as placed, even alone there (the doctor's estimate and
        verdict: memory.fit_on), which it would find out only at the decode, after every step; None where
        it fits, where nothing tells, or where the pool's caller places the pipelines itself."""
        if (placement.options.cpu_offload != "none" or not self.pool.manage_memory
                or (gpu := gpu_for_device(self.device)) is None):
            return None
        memory = self._estimate(args.num_frames, args.height, args.width, placement.levers)
        if memory is None or fit_on(memory, gpu).verdict == "fits":
            return None
        return (f"would need about {memory.peak_bytes / GiB:.1f} GiB with everything on {gpu.label}, "
                f"more than the {USABLE_SHARE:.0%} of it a call may count on (the doctor's estimate)")

    def _estimate(self, frames: int | None, height: int, width: int, levers: Levers) -> MemoryEstimate | None:
        """The doctor's estimate of a call, kept per size and levers (it reads the weights' headers); None
        where nothing tells or it cannot be made: a call's placement is no reason to fail the call."""
        key = (frames or 1, height, width, levers.key())
        if key not in self._estimates:
            try:
                self._estimates[key] = estimate_memory(self.spec, frames=frames or 1, height=height,
                                                       width=width, levers=levers)
            except Exception:  # noqa: BLE001 - the load reports unreadable weights in full
                self._estimates[key] = None
        return self._estimates[key]

    def _pipelines_in_words(self, keys: list[str]) -> str:
        """Pool keys as a user knows them: the tools' names, this tool's own other pipelines as such."""
        words = ["its own pipeline with other levers" if key.split("@")[0] == self.name else key.split("@")[0]
                 for key in keys]
        return ", ".join(dict.fromkeys(words))

    def _low_memory_settings(self) -> str:
        return ", ".join(f"{name} {value}" for name, value in self.spec.low_memory.model_dump(
            exclude_defaults=True).items()) or "none set"

    def _generate_once(self, args: GenerationArgs, control: StepControl, placement: Placement) -> Path:
        with self._held(placement) as resident:
            path = self._generate_with(resident, placement, args, control)
            try:  # now, while the pipeline cannot have been evicted: afterwards a record would load it again
                control.made_with = self._record(resident, placement)
            except Exception:  # noqa: BLE001 - the artifact is written; the step records what it can
                pass
            return path

    def _generate_with(self, resident: Resident, placement: Placement, args: GenerationArgs,
                       control: StepControl) -> Path:
        # 1. Read the inputs the previous step wrote, fitted to this model's size and frame count.
        size = (args.width, args.height)
        image = ImageOps.fit(Image.open(args.image).convert("RGB"), size) if args.image else None
        video = [ImageOps.fit(f, size) for f in resample(read_frames(args.video), args.num_frames)] if args.video else None

        # 2. Offer our standard arguments; the call style picks what this pipeline takes.
        steps = args.num_inference_steps or self.spec.defaults.get("num_inference_steps")

        def on_step_end(pipe, step, timestep, tensors):
            control.step(step + 1, getattr(pipe, "num_timesteps", None) or steps or 0)
            return tensors

        control.check_deadline()
        result = self._call(resident, {
            "prompt": args.prompt, "image": image, "video": video, "height": args.height, "width": args.width,
            "num_frames": args.num_frames, "num_inference_steps": steps, "seed": args.seed,
            "callback_on_step_end": on_step_end,
        }, placement)

        # 4. Write the artifact.
        output = Path(args.output_path)
        if self.output_suffix == ".mp4":
            frames = _first_video(result, self.name)
            soundtrack = _soundtrack(result, resident.pipeline, self.spec, len(frames), args.fps, control)
            return write_video(frames, output, fps=args.fps, **soundtrack)
        return write_image(_first_image(result, self.name), output)

    def _call(self, resident: Resident, offered: dict[str, Any], placement: Placement,
              output_type: str = "pil") -> Any:
        """3. Run; one call at a time per pipeline object and per module it shares (PipelinePool.calling).
        The call style runs under the same lock: some (LEdits++) keep inversion state on the pipeline."""
        pipeline = resident.pipeline
        generator = torch.Generator(device="cpu").manual_seed(offered["seed"])
        need = self._call_bytes(offered, placement)
        offered = {**self.spec.defaults, **offered, "output_type": output_type, "generator": generator}
        del offered["seed"]
        with self.pool.gpu_slot(resident.device):
            # Inside the GPU's slot, so that (with one call per GPU, the pool's default) no other call there
            # allocates between the count and this call.
            self.pool.make_room(resident.device, need, keep=resident.key)
            with self.pool.calling(pipeline), torch.inference_mode():
                kwargs = CALL_STYLES[self.spec.call_style](pipeline, offered, self.spec)
                return pipeline(**kwargs)

    def _call_bytes(self, offered: dict[str, Any], placement: Placement) -> int:
        """What a call at `offered`'s size allocates on its GPU beyond the weights resident there, as the
        doctor estimates it (0 where nothing tells the tool's size): its activations and its levers' cache,
        or under CPU offload the offloaded peak, since the weights come to the GPU as the call runs."""
        memory = self._estimate(offered.get("num_frames"), offered["height"], offered["width"],
                                placement.levers)
        if memory is None:
            return 0
        if placement.options.cpu_offload == "model":
            return memory.model_offload_peak_bytes
        if placement.options.cpu_offload == "sequential":
            return memory.sequential_offload_peak_bytes
        return memory.activations_bytes + memory.cache_bytes

    def warm_up(self, levers: Levers | None = None, *, steps: int = 2) -> float:
        """Loads the pipeline `levers` ask for, placed as a call at the entry's usual size would be, and,
        when they compile, runs it for `steps` steps at that size without decoding, so that the compile
        happens now and not in a user's call. The seconds it took. A request of another shape still
        compiles for that shape."""
        started = time.perf_counter()
        placement = self._placement(levers)
        usual = self.spec.usual
        args = usual and self.fit({"output_path": "unused", "prompt": "warm-up", "num_frames": usual.frames,
                                   "height": usual.height, "width": usual.width}).args
        if args is not None and (why := self._too_big_for_its_gpu(args, placement)):
            _log.info("%s %s: it runs with its low-memory settings", self.name, why)
            placement = self._placement(levers, low_memory=True)
        with self._held(placement) as resident:
            if args is not None and placement.levers.compile != "none":
                grey = Image.new("RGB", (args.width, args.height), (128, 128, 128))
                task = self.spec.task
                self._call(resident, {
                    "prompt": args.prompt, "height": args.height, "width": args.width, "num_frames": args.num_frames,
                    "image": grey if task.startswith("image_to") else None,
                    "video": [grey] * args.num_frames if task.startswith("video_to") else None,
                    "num_inference_steps": steps, "seed": 0,
                }, placement, output_type="latent")
        return time.perf_counter() - started


def _place(pipeline: Any, options: MemoryOptions, device: torch.device) -> Any:
    if options.attention_backend:
        for component in pipeline.components.values():
            set_attention_backend(component, options.attention_backend)
    vae = getattr(pipeline, "vae", None)
    for wanted, method in ((options.vae_tiling, "enable_tiling"), (options.vae_slicing, "enable_slicing")):
        if wanted and hasattr(vae, method):
            try:
                getattr(vae, method)()
            except NotImplementedError:
                pass  # some VAEs (SVD's temporal decoder) declare the method but cannot tile; run without
    # Offloading moves weights between the CPU and a GPU; with no GPU there is nothing to offload.
    if device.type == "cuda" and options.cpu_offload == "model":
        pipeline.enable_model_cpu_offload(device=device)
        return pipeline
    if device.type == "cuda" and options.cpu_offload == "sequential":
        pipeline.enable_sequential_cpu_offload(device=device)
        return pipeline
    return pipeline.to(device)


def _dtype_of(dtype: torch.dtype | dict[str, torch.dtype], component: str) -> torch.dtype:
    return dtype.get(component, dtype["default"]) if isinstance(dtype, dict) else dtype


def _lever_targets(levers: Levers) -> tuple[str, ...]:
    return () if levers.is_plain else denoiser_names(levers.target)


def _load_component(component: ComponentSpec, model: str, dtype: torch.dtype) -> Any:
    cls = _component_class(component.cls)
    # Schedulers hold no weights and take no dtype.
    weights = {} if cls.__name__.endswith("Scheduler") else {"dtype": dtype}
    return cls.from_pretrained(model, subfolder=component.subfolder, **weights, **component.config)


def _component_class(name: str) -> Any:
    import diffusers
    import transformers

    for module in (diffusers, transformers):
        if hasattr(module, name):
            return getattr(module, name)
    raise ConfigError(f"Component class `{name}` is in neither diffusers nor transformers.")


@dataclass(frozen=True)
class Placement:
    """How one call runs: the pool key of its pipeline, the memory options it was loaded with, the levers
    pulled on it, and the key of the levers asked for (which `_low_memory` remembers)."""

    key: str
    options: MemoryOptions
    levers: Levers
    levered: str
    low_memory: bool = False


def _bytes_asked(error: BaseException) -> int:
    """What the failed allocation asked for, from CUDA's message; 1 where it does not say."""
    found = re.search(r"Tried to allocate (\d+(?:\.\d+)?) (GiB|MiB|KiB|B)\b", str(error))
    if found is None:
        return 1
    return int(float(found.group(1)) * {"GiB": 2**30, "MiB": 2**20, "KiB": 2**10, "B": 1}[found.group(2)])


def _first_sentences(error: BaseException, count: int = 2) -> str:
    """CUDA's out-of-memory message opens with what was asked and what was free, then gives advice."""
    return ". ".join(str(error).split(". ")[:count])


def _first_video(result: Any, tool: str) -> list[Any]:
    frames = getattr(result, "frames", None)
    if frames is None:
        raise ToolError(tool, f"pipeline output {type(result).__name__} has no `frames`; is the task right?")
    video = frames[0]
    if isinstance(video, torch.Tensor):
        video = video.float().cpu().numpy()
    if isinstance(video, np.ndarray) and video.ndim == 4 and video.shape[1] in (1, 3) and video.shape[-1] not in (1, 3):
        video = video.transpose(0, 2, 3, 1)  # (frames, channels, h, w) -> (frames, h, w, channels)
    return list(video)


def _soundtrack(result: Any, pipeline: Any, spec: ToolSpec, frames: int, fps: int,
                control: StepControl) -> dict[str, Any]:
    """The audio an audio-video model (LTX-2) made with its frames, as `write_video` takes it.

    The audio follows the frames at the frame rate the model made them for (its `frame_rate` argument), so
    it is kept when the video is written at that rate, and otherwise left out with a note saying which rate
    keeps it (stretching speech or music to another frame rate would not make it right)."""
    audio = getattr(result, "audio", None)
    vocoder = getattr(pipeline, "vocoder", None)
    rate = getattr(getattr(vocoder, "config", None), "output_sampling_rate", None) or getattr(
        pipeline, "audio_sampling_rate", None)
    if audio is None or len(audio) == 0 or not rate:
        return {}
    track = audio[0]
    track = track.float().cpu().numpy() if isinstance(track, torch.Tensor) else np.asarray(track, dtype=np.float32)
    made_for = spec.call.get("frame_rate") or spec.defaults.get("frame_rate") or getattr(
        inspect.signature(pipeline.__call__).parameters.get("frame_rate"), "default", None)
    if not isinstance(made_for, (int, float)):
        made_for = frames / (track.shape[-1] / rate)  # no frame rate to read: the audio's length tells it
    if abs(made_for - fps) > 0.5:
        control.notes.append(f"its audio left out: made for {made_for:g} fps, the video is written at {fps} fps; "
                             f"ask for {made_for:g} fps to keep it")
        return {}
    return {"audio": track, "sample_rate": int(rate)}


def _first_image(result: Any, tool: str) -> Any:
    images = getattr(result, "images", None)
    if images is None:
        raise ToolError(tool, f"pipeline output {type(result).__name__} has no `images`; is the task right?")
    return images[0]
