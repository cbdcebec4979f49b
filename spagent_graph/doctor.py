"""Can each tool run here: are its weights on this machine, and how much GPU memory does it need?

`spagent doctor` prints `format_readiness(readiness(...))` for a registry's
tools; `spagent run` calls `require_weights` before it generates anything, so
that a run whose tools lack weights stops with one line per tool and the
command that fetches them, instead of failing (or downloading tens of GB) in
the middle of a route.

Weights, checked without any network
------------------------------------
A diffusers tool's `model` is a local folder or a hub id. A hub id is looked
up in the Hugging Face cache (`HF_HUB_CACHE`, else `HF_HOME/hub`, else
`~/.cache/huggingface/hub`, read when the check runs) through the snapshot
that `refs/main` names. A pipeline folder is complete when it has
`model_index.json` and every component listed there that holds weights (not a
scheduler, tokenizer or processor) has its weight files: the entry's
`variant` ones (`*.fp16.safetensors`) where the component has them, else the
plain ones, as diffusers loads them, and every shard an index names. A
component that the entry loads from another model (AnimateDiff's motion
adapter) is checked in its own folder. `demo://` models are built in code and
always present; a research-repository entry is present once `repo_dir` is an
existing folder (and `model`, where its command takes the {checkpoint}).

Memory estimate
---------------
All sizes are at the request fitted to the tool's own rules (frames, sides):

    weights    = sum over components of parameters x bytes of the component's dtype
    decode     = K x frames decoded at once x pixels decoded at once x (VAE dtype bytes / 2)
    denoise    = D x latent positions    (latent frames x height/s x width/s)
    peak       = weights + max(decode, denoise)

Parameters come from the local weights' safetensors headers (shapes only,
nothing is loaded) or else from the registry's `parameters`; a dtype of
`auto` is float16, which is what the tool loads on a GPU. The VAE's decode is
the largest activation of every model measured; the denoiser's only overtakes
it when the decode is split into small chunks. Text and image encoders add
under 0.3 GiB and are left out. The decoder's constants depend on its
architecture, which follows from the pipeline class (`DECODERS`):

    decoder     K (bytes/pixel)  s   frames decoded at once             tile (vae_tiling)
    SD-like     2150             8   `decode_chunk_size`, else all      -
    CogVideoX   5200             8   9 (3 latent frames)                360x240
    Wan         2950             8   4 (1 latent frame)                 256x256
    LTX-Video    102            32   all                                -
    HunyuanVideo 1.5  303       16   all                                - (its tiles not modelled)
    D = 36 kB per latent position (SVD's UNet, classifier-free guidance pair included)

The SD-like and CogVideoX values of K are fitted to the three peaks measured
in benchmarks/results/tools_gpu_h100.md (torch.cuda.max_memory_allocated over
the bare pipeline call, random weights at real sizes, bf16, everything on the
GPU; VAE tiling was off in all three, CogVideoX's too):

    model      request                         params   measured    estimated   error
    sd3        1 frame, 1024x1024              6.53B    14.60 GiB   14.26 GiB   -2.3%
    svd        14 frames, 1024x576, chunk 8    2.25B    13.30 GiB   13.65 GiB   +2.6%
    cogvideox  49 frames, 720x480              6.71B    27.50 GiB   27.55 GiB   +0.2%

sd3 and svd share one K (both decoders are SD's), so their errors test the
formula; cogvideox's K is its own. Wan's and LTX-Video's K and D come from a
second measurement of the same kind, per pipeline stage, on an H200 (torch
2.11, diffusers 0.42, 2 steps; a one-off probe of 2026-12-02 over the
real-size builds of benchmarks/tools_gpu.py, which issue 17 folds into that
benchmark), which also shows how the formula follows the size, measured /
estimated in GiB:

    sd3 at 512x512                       12.83 / 12.69
    svd 25 frames; 14 at 512x320         15.07 / 13.65;  7.27 / 6.82
    svd 14 frames, decode chunk 2         8.66 / 8.53   (the UNet's activations lead)
    cogvideox tiled; at 480x320          16.32 / 16.26; 19.11 / 19.19
    cogvideox 25 frames                  27.28 / 27.55
    wan 2.1 1.3B (fp32 VAE), 81; 33 f    22.57 / 22.48; 22.32 / 22.48
    ltx-video 704x480, 121; 41 frames    17.13 / 17.12; 14.61 / 14.55

The newer library entries at their usual size, all on the GPU
(benchmarks/library_gpu.py, benchmarks/results/library_gpu_h200.md; the peak over
a 2- or 3-step call with its decode, so the denoiser's and the decode's
activations both count), measured / estimated in GiB:

    wan22-5b-t2v      121 x 1280x704   43.75 / 42.33   (Wan constants, 16x VAE)
    wan22-a14b-t2v     81 x 1280x720   84.93 / 84.54;  model offload 34.91 / 36.75
    wan22-a14b-i2v     81 x 1280x720   84.98 / 84.54
    skyreels-v2-t2v    97 x 960x544    49.47 / 49.15
    skyreels-v2-i2v    97 x 960x544    54.61 / 54.25
    skyreels-v2-df     97 x 960x544    25.41 / 25.21
    sana-video         81 x 832x480    18.13 / 17.95
    ltx-2             121 x 768x512    69.56 / 67.53   (LTX-Video constants)
    kandinsky5-t2v    121 x 768x512    24.44 / 26.26
    kandinsky5-i2v    121 x 768x512    61.45 / 58.49
    hunyuanvideo-1.5  121 x 848x480    45.30 / 45.33   (its K fitted to this peak, tiled VAE;
    hunyuanvideo-1.5-i2v               46.10 / 46.13    the i2v peak tests it)

The same SVD call peaked at 15.00 GiB there against 13.30 on the H100 (its
decode took 18% more; why was not established), so for SVD the estimate may
be 10% low. tests/unit/test_doctor.py checks each figure here within 15%.

Offloading (the tool's fallback after running out of memory is
`low_memory`: model offload with VAE tiling):

    model offload       max(encoders together, denoiser + denoise, VAE + decode)
                        (of a two-expert denoiser, Wan 2.2 A14B's, the larger expert)
    sequential offload  max(decode, denoise) + the largest single weight tensor

with the decode tiled where the entry's `low_memory` (or `memory`) tiles. The
encoders count together because a pipeline may call them out of the offload
order (SD3's negative prompt brings CLIP-G back beside T5). Measured with
model offload and no tiling on the H200 / estimated, in GiB: SD3 10.21 / 10.39,
CogVideoX 15.21 / 15.46, Wan 10.89 / 10.58, SVD 10.93 / 9.63. The largest
tensor comes from the headers, else it is taken as 0.5 GiB (sequential
offload measured: SD3 2.44, CogVideoX 14.87, SVD 10.75; estimated 2.60, 15.56,
9.95).

A tool fits a GPU when its need is at most 90% of the GPU's memory: the rest
is for the CUDA context, the allocator's cache and fragmentation, which
max_memory_allocated does not see. The verdict is the first of: everything on
the GPU, model offload, sequential offload, that fits.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Literal

from .errors import ConfigError
from .principles import output_kind
from .tool_adapters.registry import ToolSpec

__all__ = [
    "DECODERS",
    "Decoder",
    "Fit",
    "FittedSize",
    "Gpu",
    "MemoryEstimate",
    "MissingWeightsError",
    "Readiness",
    "WeightsCheck",
    "check_weights",
    "decoder_for",
    "estimate_memory",
    "fit_on",
    "fit_request",
    "format_readiness",
    "hub_cache_dir",
    "local_weights",
    "parse_gpu_sizes",
    "readiness",
    "require_weights",
    "visible_gpus",
]

GiB = 2**30
DEMO_SCHEME = "demo://"
USABLE_SHARE = 0.9  # of a GPU's memory; see the module docstring
LAYER_ALLOWANCE = GiB // 2  # one layer on the GPU under sequential offload, when the headers are not at hand
DENOISE_BYTES_PER_LATENT = 36_000  # D


# GPUs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gpu:
    name: str
    total_bytes: int
    index: int | None = None  # None for a simulated GPU

    @property
    def label(self) -> str:
        if self.index is None:
            return self.name  # a simulated GPU's name already gives its size
        return f"cuda:{self.index} {self.name} ({self.total_bytes / GiB:.0f} GiB)"


def visible_gpus() -> list[Gpu]:
    """The CUDA devices torch sees, with their total memory; none without CUDA."""
    import torch

    if not torch.cuda.is_available():
        return []
    return [
        Gpu(name=torch.cuda.get_device_name(i), total_bytes=torch.cuda.get_device_properties(i).total_memory, index=i)
        for i in range(torch.cuda.device_count())
    ]


_UNITS = {"": GiB, "gib": GiB, "gb": 10**9, "mib": 2**20, "mb": 10**6, "tib": 2**40, "tb": 10**12}


def parse_gpu_sizes(text: str) -> list[Gpu]:
    """Simulated GPUs from sizes such as "24,80" or "24GiB,80GB" (a bare number is GiB; GB is 10^9 bytes)."""
    gpus = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", part)
        unit = match.group(2).lower() if match else None
        if not match or unit not in _UNITS or float(match.group(1)) <= 0:
            raise ValueError(
                f"GPU size {part.strip()!r} in {text!r} is not a memory size; "
                "give sizes like 24, 24GiB or 80GB, separated by commas."
            )
        number, written_unit = match.groups()
        gpus.append(Gpu(name=f"simulated {number} {written_unit or 'GiB'}",
                        total_bytes=int(float(number) * _UNITS[unit])))
    return gpus


# Weights ----------------------------------------------------------------------------


@dataclass(frozen=True)
class WeightsCheck:
    present: bool
    found: list[str]  # local folders found (snapshot folders or local paths)
    missing: list[str]  # hub ids or paths not present
    download: str | None  # the shell command that fetches everything missing, where it can be fetched
    hint: str | None = None


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache as the environment names it now.

    huggingface_hub reads these variables once, when it is imported; reading
    them here instead means a cache chosen later (by a test, or a server that
    sets it after start-up) is the one checked.
    """
    env = os.environ
    home = env.get("HF_HOME") or os.path.join(env.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "huggingface")
    hub = env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE") or os.path.join(home, "hub")
    return Path(os.path.expandvars(os.path.expanduser(hub)))


@dataclass
class _Location:
    """One place a tool's weights come from: its own model, or a component loaded from another model."""

    model: str
    component: str | None = None  # the pipeline component it is loaded as; None for the pipeline itself
    subfolder: str | None = None
    pipeline: bool = False  # a whole pipeline (model_index.json), else a single model
    variant: str | None = None
    skip: frozenset[str] = frozenset()  # pipeline components the entry loads from elsewhere
    folder: Path | None = None  # the local folder, when there is one
    gaps: list[str] = field(default_factory=list)  # what the folder lacks

    @property
    def is_hub_id(self) -> bool:
        return not Path(self.model).expanduser().exists() and _looks_like_hub_id(self.model)

    @property
    def complete(self) -> bool:
        return self.folder is not None and not self.gaps


def _looks_like_hub_id(model: str) -> bool:
    # What diffusers does too: an existing folder wins, anything else of the form org/name is a hub id.
    return not model.startswith(("/", "./", "../", "~")) and re.fullmatch(r"[\w.-]+/[\w.-]+", model) is not None


def _locations(spec: ToolSpec) -> list[_Location]:
    """Where the weights of a diffusers tool come from, each looked up on this machine."""
    own_model = {name for name, c in spec.components.items() if c.model and c.model != spec.model}
    locations = [_Location(spec.model, pipeline=True, variant=spec.variant, skip=frozenset(own_model))]
    for name in sorted(own_model):
        component = spec.components[name]
        # The adapter loads these without a variant, so their plain files are the ones needed.
        locations.append(_Location(component.model, component=name, subfolder=component.subfolder))
    for location in locations:
        _look_up(location)
    return locations


def _look_up(location: _Location) -> None:
    root = Path(location.model).expanduser()
    if not root.is_dir():
        root = _snapshot(location) if location.is_hub_id else None
    if root is None:
        return
    location.folder = root
    if location.pipeline:
        location.gaps = _pipeline_gaps(root, location.variant, location.skip)
    else:
        folder = root / location.subfolder if location.subfolder else root
        location.gaps = [] if _weight_files(folder, None) else ["weights"]


def _snapshot(location: _Location) -> Path | None:
    """The cached snapshot that refs/main points to, found through the file that marks it complete."""
    from huggingface_hub import try_to_load_from_cache

    marker = "model_index.json" if location.pipeline else "config.json"
    if location.subfolder and not location.pipeline:
        marker = f"{location.subfolder}/{marker}"
    found = try_to_load_from_cache(location.model, marker, cache_dir=hub_cache_dir())
    if not isinstance(found, str):  # None, or the cache's record that the file does not exist
        return None
    return Path(found).parents[marker.count("/")]


def local_weights(model: str, subfolder: str | None = None, *, variant: str | None = None,
                  pipeline: bool = True) -> tuple[Path | None, dict[str, list[Path]]]:
    """Where a model's weights are on this machine, with no network: its folder (a local one, or the
    cached hub snapshot) and the weight files `from_pretrained` would read for each component that has
    weights (a pipeline's, by its model_index.json; a single model's under the key ""). The folder is
    None when the model is not here."""
    location = _Location(model, subfolder=subfolder, pipeline=pipeline, variant=variant)
    root = Path(model).expanduser()
    root = root if root.is_dir() else (_snapshot(location) if location.is_hub_id else None)
    if root is None:
        return None, {}
    if not pipeline:
        return root, {"": _weight_files(root / subfolder if subfolder else root, None)}
    try:
        model_index = json.loads((root / "model_index.json").read_text())
    except (OSError, ValueError):
        return root, {}
    return root, {name: _weight_files(root / name, variant) for name in _components_with_weights(model_index)}


_WEIGHTLESS = ("Scheduler", "Tokenizer", "Processor", "FeatureExtractor")


def _components_with_weights(model_index: dict) -> list[str]:
    """The components of a model_index.json that load weights (an absent one is [null, null])."""
    return [
        name
        for name, value in model_index.items()
        if not name.startswith("_") and isinstance(value, list) and len(value) == 2 and isinstance(value[1], str)
        and not any(word in value[1] for word in _WEIGHTLESS)
    ]


def _pipeline_gaps(root: Path, variant: str | None, skip: frozenset[str]) -> list[str]:
    try:
        model_index = json.loads((root / "model_index.json").read_text())
    except (OSError, ValueError):
        return ["a readable model_index.json"]
    components = [name for name in _components_with_weights(model_index) if name not in skip]
    gaps = [f"{name}'s weights" for name in components if not _weight_files(root / name, variant)]
    # diffusers takes plain files for a component that lacks the variant, but refuses a folder with none of it.
    if variant and not gaps and not any(_variant_files(root / name, variant) for name in components):
        gaps.append(f"any {variant} weights")
    return gaps


def _variant_files(folder: Path, variant: str) -> list[Path]:
    tag = re.compile(rf"\.{re.escape(variant)}(?:[.-]|$)")
    return [f for f in _all_weight_files(folder) if tag.search(f.name.removesuffix(f.suffix))]


def _all_weight_files(folder: Path) -> list[Path]:
    # is_file() follows the snapshot's links into blobs/, so a link whose blob never arrived does not count.
    if not folder.is_dir():
        return []
    return sorted(f for f in folder.iterdir() if f.suffix in (".safetensors", ".bin") and f.is_file())


def _weight_files(folder: Path, variant: str | None) -> list[Path]:
    """The weight files from_pretrained would read, [] when they are absent or a shard is missing."""
    chosen = _variant_files(folder, variant) if variant else []
    if not chosen:
        # Plain names carry no dotted tag: model.safetensors, diffusion_pytorch_model-00001-of-00002.safetensors.
        chosen = [f for f in _all_weight_files(folder) if "." not in f.name.removesuffix(f.suffix)]
    safetensors = [f for f in chosen if f.suffix == ".safetensors"]
    chosen = safetensors or chosen
    for index in folder.glob("*.index*.json") if chosen else []:
        try:
            shards = set(json.loads(index.read_text()).get("weight_map", {}).values())
        except (OSError, ValueError):
            return []
        names = {f.name for f in chosen}
        if shards & names and not shards <= names:
            return []
    return chosen


@cache
def _hub_cli() -> str:
    """`hf` where huggingface_hub ships it (0.34 and later), else the older `huggingface-cli`."""
    try:
        scripts = {ep.name for ep in distribution("huggingface_hub").entry_points if ep.group == "console_scripts"}
    except PackageNotFoundError:
        scripts = set()
    return "hf" if "hf" in scripts else "huggingface-cli"


def _download_command(location: _Location) -> str:
    """The command that fetches what `location` needs into the hub cache, and no more.

    A pipeline takes model_index.json and its component folders: the files at
    the root of many repositories are single-file checkpoints of tens of GB
    that diffusers never reads (FLUX.1-dev, LTX-Video, SVD). With a variant,
    only that variant's weights and the small files beside them.
    """
    if location.pipeline and location.variant:
        patterns = ["model_index.json", "*/*.json", "*/*.txt", "*/*.model", f"*/*.{location.variant}*.safetensors"]
    elif location.pipeline:
        patterns = ["model_index.json", "*/*"]
    elif location.subfolder:
        patterns = [f"{location.subfolder}/*"]
    else:
        patterns = []
    cli = _hub_cli()
    words = [cli, "download", location.model]
    if patterns and cli == "hf":
        words += [word for pattern in patterns for word in ("--include", pattern)]
    elif patterns:  # the older CLI takes several patterns after one --include
        words += ["--include", *patterns]
    return shlex.join(words)


def _login_hint(model: str) -> str:
    login = "hf auth login" if _hub_cli() == "hf" else "huggingface-cli login"
    return f"{model} is gated: accept its licence at https://huggingface.co/{model}, then log in (`{login}`)"


def check_weights(spec: ToolSpec) -> WeightsCheck:
    """Whether the weights `spec` loads are on this machine; looks at files only, never at the network."""
    if spec.adapter == "research_repo":
        return _check_research_repo(spec)
    if spec.model.startswith(DEMO_SCHEME):
        return WeightsCheck(present=True, found=[], missing=[], download=None)
    locations = _locations(spec)
    found = [str(location.folder) for location in locations if location.complete]
    absent = [location for location in locations if not location.complete]
    if not absent:
        return WeightsCheck(present=True, found=found, missing=[], download=None)
    hints = [f"{location.folder} lacks {', '.join(location.gaps)}" for location in absent if location.folder]
    local = [location.model for location in absent if not location.is_hub_id and location.folder is None]
    hints += [f"{model} is neither a folder here nor a hub id" for model in local]
    if spec.gated:
        hints += [_login_hint(location.model) for location in absent if location.is_hub_id]
    # What is missing from a local folder cannot be fetched for it: then the hint says what to do.
    fetchable = all(location.is_hub_id for location in absent)
    download = " && ".join(_download_command(location) for location in absent) if fetchable else None
    return WeightsCheck(
        present=False, found=found, missing=[location.model for location in absent], download=download,
        hint="; ".join(hints) or None,
    )


def _check_research_repo(spec: ToolSpec) -> WeightsCheck:
    source = spec.repo_url or "the authors' repository"
    if not spec.repo_dir:
        return WeightsCheck(False, [], [spec.repo_url or "repo_dir"], None,
                            hint=f"clone {source} and set `repo_dir` of `{spec.name}` to the clone")
    clone = Path(spec.repo_dir).expanduser()
    if not clone.is_dir():
        return WeightsCheck(False, [], [spec.repo_dir], None,
                            hint=f"`repo_dir` of `{spec.name}` is not a folder: clone {source} there")
    takes_checkpoint = "{checkpoint}" in json.dumps([spec.command, spec.prepare, spec.config])
    if takes_checkpoint and not (spec.model and Path(spec.model).expanduser().exists()):
        return WeightsCheck(False, [str(clone)], [spec.model or "`model` (its checkpoint)"], None,
                            hint=f"set `model` of `{spec.name}` to its weights (see the entry's comments)")
    found = [str(clone)] + ([spec.model] if takes_checkpoint else [])
    return WeightsCheck(True, found, [], None)


# Memory -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FittedSize:
    frames: int
    height: int
    width: int

    def __str__(self) -> str:
        return f"{self.width}x{self.height}" if self.frames == 1 else f"{self.frames} x {self.width}x{self.height}"


def fit_request(spec: ToolSpec, *, frames: int, height: int, width: int) -> FittedSize:
    """The request as the tool will run it (an image tool makes one frame)."""
    frames, height, width, _ = spec.fit_size(frames, height, width)
    return FittedSize(frames=frames if output_kind(spec.task) == "video" else 1, height=height, width=width)


@dataclass(frozen=True)
class Decoder:
    """How a family of VAEs decodes, as far as its memory goes (constants: see the module docstring)."""

    name: str
    bytes_per_pixel: float  # K: activation bytes per decoded pixel of one frame, at 16 bits
    spatial: int  # pixels per latent along a side
    temporal: int  # frames per latent frame (the first frame is kept apart)
    frames_at_once: int | None  # None: the pipeline's decode_chunk_size, else every frame
    tile: tuple[int, int] | None  # (width, height) decoded at once under VAE tiling


DECODERS = {
    "sd": Decoder("SD-like image VAE", 2150, 8, 1, None, None),
    "cogvideox": Decoder("CogVideoX VAE", 5200, 8, 4, 9, (360, 240)),
    "wan": Decoder("Wan VAE", 2950, 8, 4, 4, (256, 256)),
    "ltx": Decoder("LTX-Video VAE", 102, 32, 8, None, None),
    "hunyuan15": Decoder("HunyuanVideo 1.5 VAE", 303, 16, 4, None, None),
}
_DECODER_BY_PIPELINE_PREFIX = {
    "CogVideoX": "cogvideox", "Wan": "wan", "LTX": "ltx",
    # Wan's VAE, or (Kandinsky 5: HunyuanVideo's) a 3D causal VAE of the same kind that Wan's constants
    # estimate within 8% (benchmarks/results/library_gpu_h200.md).
    "SkyReelsV2": "wan", "SanaVideo": "wan", "SanaImageToVideo": "wan", "Kandinsky5": "wan",
    "HunyuanVideo15": "hunyuan15",
}
# The pipelines' own decode_chunk_size defaults (diffusers 0.42); others decode every frame at once.
DECODE_CHUNK_DEFAULTS = {"AnimateDiffPipeline": 16, "AnimateDiffVideoToVideoPipeline": 16, "LattePipeline": 14,
                         "I2VGenXLPipeline": 1}
# The motion adapter joins the UNet when loaded; a two-expert model's second transformer is a denoiser too,
# but model offload brings the experts to the GPU one at a time.
_DENOISERS = ("unet", "transformer", "transformer_2", "motion_adapter")
_EXPERTS = ("transformer", "transformer_2")


def decoder_for(spec: ToolSpec) -> Decoder:
    for prefix, name in _DECODER_BY_PIPELINE_PREFIX.items():
        if spec.pipeline.startswith(prefix):
            return DECODERS[name]
    return DECODERS["sd"]


@dataclass(frozen=True)
class MemoryEstimate:
    weights_bytes: int
    activations_bytes: int
    peak_bytes: int  # everything on the GPU
    model_offload_peak_bytes: int  # enable_model_cpu_offload
    sequential_offload_peak_bytes: int  # enable_sequential_cpu_offload
    basis: str  # where the parameter counts came from, in words


@dataclass(frozen=True)
class _Counts:
    parameters: dict[str, float]  # by component, or {"all": total}
    largest_tensor: int | None  # parameters of the largest single tensor, where known
    basis: str


def estimate_memory(spec: ToolSpec, *, frames: int, height: int, width: int) -> MemoryEstimate | None:
    """GPU memory of one call at the fitted request; None for tools whose size nothing tells."""
    if spec.adapter != "diffusers" or spec.model.startswith(DEMO_SCHEME):
        return None
    counts = _counts_from_headers(spec) or _counts_from_registry(spec)
    if counts is None:
        return None
    size = fit_request(spec, frames=frames, height=height, width=width)
    decoder = decoder_for(spec)
    weights = {name: count * _bytes_per_parameter(spec, name) for name, count in counts.parameters.items()}
    decode = _decode_bytes(spec, decoder, size, tiled=spec.memory.vae_tiling)
    denoise = _denoise_bytes(decoder, size)
    activations = max(decode, denoise)

    # Offloading is the tool's fallback, which tiles the VAE where `low_memory` says so.
    decode_fallback = _decode_bytes(spec, decoder, size, tiled=spec.memory.vae_tiling or spec.low_memory.vae_tiling)
    vae = weights.get("vae", 0)
    denoiser = sum(weights.get(name, 0) for name in _DENOISERS)
    encoders = sum(weights.values()) - vae - denoiser
    if "all" in weights:  # one total: nothing to offload in parts
        model_offload = weights["all"] + max(decode_fallback, denoise)
    else:
        one_expert = denoiser - sum(weights.get(name, 0) for name in _EXPERTS) + max(
            weights.get(name, 0) for name in _EXPERTS)
        model_offload = max(encoders, one_expert + denoise, vae + decode_fallback)
    layer = (counts.largest_tensor * _bytes_per_parameter(spec, "default")
             if counts.largest_tensor is not None else LAYER_ALLOWANCE)
    return MemoryEstimate(
        weights_bytes=int(sum(weights.values())),
        activations_bytes=int(activations),
        peak_bytes=int(sum(weights.values()) + activations),
        model_offload_peak_bytes=int(model_offload),
        sequential_offload_peak_bytes=int(max(decode_fallback, denoise) + layer),
        basis=counts.basis,
    )


def _bytes_per_parameter(spec: ToolSpec, component: str) -> int:
    dtype = spec.torch_dtype
    if isinstance(dtype, dict):
        dtype = dtype.get(component, dtype.get("default", "auto"))
    # "auto" loads as float16 on a GPU (diffusers_adapter.pick_dtype), whatever the files hold.
    return 4 if dtype == "float32" else 2


def _decode_bytes(spec: ToolSpec, decoder: Decoder, size: FittedSize, *, tiled: bool) -> float:
    frames = decoder.frames_at_once or spec.call.get("decode_chunk_size") or DECODE_CHUNK_DEFAULTS.get(spec.pipeline)
    frames = min(frames or size.frames, size.frames)
    height, width = size.height, size.width
    if tiled and decoder.tile:
        width, height = min(width, decoder.tile[0]), min(height, decoder.tile[1])
    return decoder.bytes_per_pixel * frames * height * width * _bytes_per_parameter(spec, "vae") / 2


def _denoise_bytes(decoder: Decoder, size: FittedSize) -> float:
    latent_frames = (size.frames - 1) // decoder.temporal + 1 if decoder.temporal > 1 else size.frames
    positions = latent_frames * math.ceil(size.height / decoder.spatial) * math.ceil(size.width / decoder.spatial)
    return DENOISE_BYTES_PER_LATENT * positions


def _counts_from_registry(spec: ToolSpec) -> _Counts | None:
    if spec.parameters is None:
        return None
    by_component = spec.parameters if isinstance(spec.parameters, dict) else {"all": spec.parameters}
    return _Counts(dict(by_component), None, "the registry's parameter counts (weights not present)")


def _counts_from_headers(spec: ToolSpec) -> _Counts | None:
    """Parameters per component from the local weight files, or None unless every one of them is here."""
    locations = _locations(spec)
    if not all(location.complete for location in locations):
        return None
    folders: dict[str, tuple[Path, str | None]] = {}
    main, *components = locations
    model_index = json.loads((main.folder / "model_index.json").read_text())
    for name in _components_with_weights(model_index):
        if name not in main.skip:
            folders[name] = (main.folder / name, main.variant)
    for location in components:
        subfolder = location.folder / location.subfolder if location.subfolder else location.folder
        folders[location.component] = (subfolder, None)
    parameters, largest, guessed = {}, 0, False
    for name, (folder, variant) in folders.items():
        count, biggest, from_size = _count_files(_weight_files(folder, variant), variant)
        parameters[name], largest, guessed = count, max(largest, biggest), guessed or from_size
    basis = "parameter counts from the local weights' safetensors headers"
    if guessed:
        basis += " (.bin files: counted from their size)"
    return _Counts(parameters, largest or None, basis)


def _count_files(files: list[Path], variant: str | None) -> tuple[int, int, bool]:
    """(parameters, parameters of the largest tensor, whether any count was guessed from a file's size)."""
    total, largest, guessed = 0, 0, False
    for path in files:
        if path.suffix == ".safetensors":
            sizes = [math.prod(entry["shape"]) for entry in _safetensors_header(path).values()]
            total, largest = total + sum(sizes), max([largest, *sizes])
        else:  # a pickle can only be read by loading it: take 2 bytes a parameter for half-precision variants, else 4
            total += path.stat().st_size // (2 if variant in ("fp16", "bf16") else 4)
            guessed = True
    return total, largest, guessed


def _safetensors_header(path: Path) -> dict[str, dict]:
    """The tensors' dtypes and shapes: the file's first 8 bytes give the length of a JSON header."""
    try:
        with path.open("rb") as file:
            (length,) = struct.unpack("<Q", file.read(8))
            if length > 100 * 2**20:  # real headers are kilobytes; more means this is not one
                raise ValueError(f"a header of {length} bytes")
            header = json.loads(file.read(length))
    except (OSError, ValueError, struct.error) as exc:
        raise ConfigError(f"{path} is not a readable safetensors file ({exc}); download it again.") from exc
    header.pop("__metadata__", None)
    return header


# Fit and readiness ------------------------------------------------------------------

Verdict = Literal["fits", "fits with model offload", "fits with sequential offload", "does not fit"]


@dataclass(frozen=True)
class Fit:
    gpu: Gpu
    verdict: Verdict


def fit_on(memory: MemoryEstimate, gpu: Gpu) -> Fit:
    """The first way of placing the model that needs at most USABLE_SHARE of the GPU."""
    budget = USABLE_SHARE * gpu.total_bytes
    for verdict, need in (
        ("fits", memory.peak_bytes),
        ("fits with model offload", memory.model_offload_peak_bytes),
        ("fits with sequential offload", memory.sequential_offload_peak_bytes),
    ):
        if need <= budget:
            return Fit(gpu, verdict)
    return Fit(gpu, "does not fit")


@dataclass(frozen=True)
class Readiness:
    spec: ToolSpec
    weights: WeightsCheck
    memory: MemoryEstimate | None
    fits: list[Fit]
    size: FittedSize | None = None  # the request as this tool runs it

    @property
    def ready(self) -> bool:
        """Its weights are here, and it fits some GPU (or nothing says it does not)."""
        return self.weights.present and (not self.fits or any(f.verdict != "does not fit" for f in self.fits))


def readiness(specs: Iterable[ToolSpec], *, frames: int, height: int, width: int, gpus: list[Gpu]) -> list[Readiness]:
    """Weights, memory and a verdict per GPU for each tool, at the request as each tool fits it."""
    rows = []
    for spec in specs:
        memory = estimate_memory(spec, frames=frames, height=height, width=width)
        rows.append(Readiness(
            spec=spec,
            weights=check_weights(spec),
            memory=memory,
            fits=[fit_on(memory, gpu) for gpu in gpus] if memory else [],
            size=fit_request(spec, frames=frames, height=height, width=width),
        ))
    return rows


_SHORT_VERDICT = {"fits": "fits", "fits with model offload": "model offload",
                  "fits with sequential offload": "sequential offload", "does not fit": "does not fit"}


def format_readiness(rows: list[Readiness], gpus: list[Gpu]) -> str:
    """A table, one line per tool, then what to run for the missing weights."""
    header = ["tool", "task", "weights", "size (frames x WxH)", "weights GiB", "peak GiB", "model offload GiB",
              "sequential GiB"]
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
    lines += _fetch_lines(rows)
    return "\n".join(lines)


def _gib(value: int | None) -> str:
    return "-" if value is None else f"{value / GiB:.1f}"


def _table_row(row: Readiness) -> list[str]:
    memory = row.memory
    cells = [row.spec.name, row.spec.task, "present" if row.weights.present else "missing", str(row.size or "-")]
    if memory is None:
        cells += ["-"] * 4
    else:
        cells += [_gib(memory.weights_bytes), _gib(memory.peak_bytes), _gib(memory.model_offload_peak_bytes),
                  _gib(memory.sequential_offload_peak_bytes)]
    return cells + [_SHORT_VERDICT[fit.verdict] for fit in row.fits]


def _render(header: list[str], rows: list[list[str]]) -> str:
    width = len(header)
    rows = [row + ["-"] * (width - len(row)) for row in rows]  # tools with no estimate have no verdicts
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in [header, *rows])


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


# Before a run -----------------------------------------------------------------------


class MissingWeightsError(ConfigError):
    """Some tools a run would use have no weights on this machine; one line per tool, with its fix."""

    def __init__(self, missing: list[tuple[ToolSpec, WeightsCheck]]) -> None:
        self.missing = {spec.name: check for spec, check in missing}
        tools = "1 tool" if len(missing) == 1 else f"{len(missing)} tools"
        super().__init__(f"the weights of {tools} this run would use are not on this machine "
                         "(nothing was generated):\n" + "\n".join(_missing_line(spec, check) for spec, check in missing))


def _missing_line(spec: ToolSpec, check: WeightsCheck) -> str:
    fix = f"{check.download} ({check.hint})" if check.download and check.hint else check.download or check.hint
    return f"{spec.name} ({spec.task}): {', '.join(check.missing)} — {fix}"


def require_weights(specs: Iterable[ToolSpec]) -> None:
    """Raises MissingWeightsError naming every tool whose weights are not here.

    Research templates whose `repo_dir` is unset are skipped: selection never
    picks them, so they cannot stop a run.
    """
    checks = [(spec, check_weights(spec)) for spec in specs if spec.is_runnable]
    missing = [(spec, check) for spec, check in checks if not check.present]
    if missing:
        raise MissingWeightsError(missing)


# The README's table of the library -------------------------------------------------------

# Peaks measured on a GPU at the usual size (benchmarks/results/), by tool: shown instead of the estimate.
MEASURED_PEAK_GIB = {
    "sd3": 14.6, "cogvideox": 27.5, "wan22-5b-t2v": 43.7, "wan22-a14b-t2v": 84.9, "skyreels-v2-t2v": 49.5,
    "skyreels-v2-df": 25.4, "sana-video": 18.1, "ltx-2": 69.6, "kandinsky5-t2v": 24.4, "kandinsky5-i2v": 61.5,
    "hunyuanvideo-1.5": 45.3, "hunyuanvideo-1.5-i2v": 46.1, "skyreels-v2-i2v": 54.6, "wan22-a14b-i2v": 85.0,
}
MEASURED_MODEL_OFFLOAD_GIB = {"wan22-a14b-t2v": 34.9}


def library_table(registry: Iterable[ToolSpec]) -> str:
    """The Markdown table of a registry's diffusers tools at their usual size, as the README shows it:
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


if __name__ == "__main__":  # python -m spagent_graph.doctor: the README's table of the library
    from spagent_graph.tool_adapters.registry import ToolRegistry

    print(library_table(ToolRegistry.from_yaml("library")), end="")
