"""How much GPU memory a tool needs for a request, from its weights' sizes and its decoder's constants.

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

Acceleration profiles (a cache's extra memory)
----------------------------------------------
Compiling keeps the math and, measured, no memory (the compiled blocks' peaks were 0-2 GiB *under* the
plain call's). A cache keeps tensors between steps, on top of the plain peak:

    TaylorSeer            hooked modules x (max_order + 1) factors x branches x tokens x width x factor bytes
    FasterCache           2 x blocks x branches x tokens x width x 2 bytes   (two past attention outputs)
    PAB                   1 x blocks x branches x tokens x width x 2 bytes
    First Block / MagCache 2 x branches x tokens x width x 2 bytes           (two residuals)

where a block output's tokens are the latent positions over the denoiser's patch (plus the text tokens a
joint-attention block returns with them: CogVideoX's 226), `width` is the block width, and `branches` the
guidance passes whose activations a cache keeps apart (conditional and unconditional, as one batch or as two
cache contexts; LTX-2's spatio-temporal guidance is a third). A TaylorSeer pattern that names a module in
every block (`blocks.N.attn1`) hooks one module per block (two for the generic `.*attn`: self and
cross attention); one that names the output projection (`proj_out`, the "lite" layout, whose blocks are
skipped and keep only their output's shape) keeps tensors of the latent's size, which count for nothing
here. A two-expert model (Wan 2.2 A14B) keeps both experts' caches. The shapes come from each model's
published config (`DENOISER_SHAPES`, by hub id). Measured on an H200 (random weights at real size, the
same peaks as above; benchmarks/results/), measured / estimated in GiB, the cache's share in brackets:

    wan22-5b-t2v  TaylorSeer on attn1 (the old fast row)   62.4 / 61.1   (+18.7 / +18.7)
    wan22-5b-t2v  TaylorSeer lite, +/- compiled blocks     43.7 / 42.3   (+0.0 / 0)
    ltx-2         TaylorSeer on attn1                       87.4 / 81.0   (+18.0 / +13.5)
    ltx-2         TaylorSeer lite                           69.4 / 67.5   (+0.0 / 0)
    cogvideox     TaylorSeer on attn1 (its fast row)        process peaks 70.0 against 62.4 (+7.6 / +7.6)
    hunyuanvideo-1.5, 33 frames, TaylorSeer lite + compiled blocks   35.2 / 35.2   (+0.0 / 0; H100)

and diffusers' own figure for FasterCache on CogVideoX-5B, 24.4 -> 40.7 GB (+16.3 GB; estimated +18.4 GB).
tests/unit/test_doctor.py checks each within 10%. `spagent doctor` gives each profile's peak, and a profile
whose cache would not fit a GPU runs there without it (`profile_fits`; acceleration.choose_levers takes the
same test as `fits`).

FP8 weights (`quantize: float8`) take the blocks' linear layers (FLOAT8_SHARE of the denoiser) from two
bytes a parameter to one: 4.6 GiB less for Wan 2.2 TI2V-5B. Its `fast` row (FP8 with TaylorSeer lite and the
blocks compiled) peaked at 43.7 GiB with the bf16 copy's weights counted (levers_gpu_wan22_fp8_h100.md),
so 39.1 GiB in a deployment that holds the FP8 copy alone; estimated 37.8 GiB. Under model offload (where
the tool's `memory` asks for it, and so the levers are pulled) each expert comes onto the GPU quantized: Wan
2.2 T2V A14B's fast row peaked at 24.5 GiB against 37.7 for the plain call (H100; estimated 23.7 and 36.8).
LTX-2's fast row, its transformer quantized in place, 52.1 GiB (estimated 50.3); Kandinsky 5's (FP8 and the
compiled blocks) 22.5 GiB at 61 frames (estimated 21.3), 22.7 at its usual 121 (estimated 24.4, 7.6% over,
as its plain estimate is 8% over). Linears a model keeps in float32 (Kandinsky 5's modulations, 14% of its
transformer) are not quantized, and their share is not taken off FLOAT8_SHARE here: the estimate takes
1.83 GiB off Kandinsky 5's weights where FP8 takes 1.60.
The `low_memory` fallback runs without levers, so its estimate is that of the plain call.

A tool fits a GPU when its need is at most 90% of the GPU's memory: the rest
is for the CUDA context, the allocator's cache and fragmentation, which
max_memory_allocated does not see. The verdict is the first of: everything on
the GPU, model offload, sequential offload, that fits.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from spagent_graph.errors import ConfigError
from spagent_graph.principles import output_kind

from .acceleration import Levers, denoiser_names
from .gpus import GiB, Gpu
from .registry import DEMO_SCHEME, ToolSpec
from .weights import component_weight_files

__all__ = ["DECODERS", "DECODE_CHUNK_DEFAULTS", "DENOISER_SHAPES", "Decoder", "DenoiserShape", "Fit", "FittedSize",
           "MemoryEstimate", "USABLE_SHARE", "cache_bytes", "decoder_for", "estimate_memory", "fit_on", "fit_request",
           "levers_fit", "profile_fits"]

USABLE_SHARE = 0.9  # of a GPU's memory; see the module docstring
#: The share of a video denoiser's parameters in the linear layers of its repeated blocks, which FP8 weights
#: change (counted on the real configs: 98.2% of Wan 2.2 TI2V-5B's, 98.3% of each A14B expert's).
FLOAT8_SHARE = 0.98
LAYER_ALLOWANCE = GiB // 2  # one layer on the GPU under sequential offload, when the headers are not at hand
DENOISE_BYTES_PER_LATENT = 36_000  # D


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
_EXPERTS = denoiser_names("transformer")
_DENOISERS = ("unet", *_EXPERTS, "motion_adapter")


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
    cache_bytes: int = 0  # what the levers' cache keeps between steps, included in peak_bytes
    float8_saved_bytes: int = 0  # what FP8 weights (`quantize`) take off the denoisers', taken off peak_bytes


@dataclass(frozen=True)
class _Counts:
    parameters: dict[str, float]  # by component, or {"all": total}
    largest_tensor: int | None  # parameters of the largest single tensor, where known
    basis: str


def estimate_memory(spec: ToolSpec, *, frames: int, height: int, width: int,
                    levers: Levers | None = None) -> MemoryEstimate | None:
    """GPU memory of one call at the fitted request, with `levers` pulled (their cache's extra memory and
    FP8's saving, all on the GPU and under model offload, which a tool's `memory` may ask for; the
    `low_memory` fallback runs without levers: its figures are those of `levers=None`); None for tools whose
    size nothing tells."""
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
    cached = cache_bytes(spec, levers, size) if levers is not None else 0
    # FP8 keeps one byte a parameter in the blocks' linears where the registry's dtype keeps two or four.
    saved_by = {name: weights.get(name, 0) * FLOAT8_SHARE * (1 - 1 / _bytes_per_parameter(spec, name))
                for name in _DENOISERS} if levers is not None and levers.quantize else {}
    saved = sum(saved_by.values())
    vae = weights.get("vae", 0)
    encoders = sum(weights.values()) - vae - sum(weights.get(name, 0) for name in _DENOISERS)
    if "all" in weights:  # one total: nothing to offload in parts
        model_offload = weights["all"] + max(decode_fallback, denoise + cached)
    else:
        # A tool whose `memory` offloads the model pulls its levers: the denoiser comes onto the GPU as
        # quantized, beside its cache (one expert at a time for a two-expert model).
        denoisers = {name: weights.get(name, 0) - saved_by.get(name, 0) for name in _DENOISERS}
        one_expert = (sum(bytes_ for name, bytes_ in denoisers.items() if name not in _EXPERTS)
                      + max(denoisers[name] for name in _EXPERTS))
        model_offload = max(encoders, one_expert + denoise + cached, vae + decode_fallback)
    layer = (counts.largest_tensor * _bytes_per_parameter(spec, "default")
             if counts.largest_tensor is not None else LAYER_ALLOWANCE)
    return MemoryEstimate(
        weights_bytes=int(sum(weights.values())),
        activations_bytes=int(activations),
        peak_bytes=int(sum(weights.values()) + activations + cached - saved),
        model_offload_peak_bytes=int(model_offload),
        sequential_offload_peak_bytes=int(max(decode_fallback, denoise) + layer),
        basis=counts.basis,
        cache_bytes=int(cached),
        float8_saved_bytes=int(saved),
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
    files = component_weight_files(spec)
    if files is None:
        return None
    parameters, largest, guessed = {}, 0, False
    for name, (paths, variant) in files.items():
        count, biggest, from_size = _count_files(paths, variant)
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


@dataclass(frozen=True)
class DenoiserShape:
    """What a cache's tensors are made of, from a denoiser's published config."""

    blocks: int  # repeated blocks (a double- and a single-stream stack: the two together)
    width: int  # a block output's channels
    frames_per_token: int  # video frames per latent token along time (the first frame kept apart)
    pixels_per_token: int  # pixels per token along a side (VAE compression x patch)
    branches: int  # guidance passes whose activations a cache keeps apart
    text_tokens: int = 0  # text tokens a joint-attention block returns with the video's
    experts: int = 1  # denoisers with a cache each (Wan 2.2 A14B: 2)


_COGVIDEOX_2B = DenoiserShape(30, 1920, 4, 16, 2, text_tokens=226)
_COGVIDEOX_5B = DenoiserShape(42, 3072, 4, 16, 2, text_tokens=226)
_WAN_1_3B = DenoiserShape(30, 1536, 4, 16, 2)
_WAN_14B = DenoiserShape(40, 5120, 4, 16, 2)
_HUNYUANVIDEO_15 = DenoiserShape(54, 2048, 4, 16, 2)
#: By hub id: the library's models whose family has a cache, or could.
DENOISER_SHAPES: dict[str, DenoiserShape] = {
    "THUDM/CogVideoX-2b": _COGVIDEOX_2B,
    "THUDM/CogVideoX-5b": _COGVIDEOX_5B,
    "THUDM/CogVideoX-5b-I2V": _COGVIDEOX_5B,
    "Wan-AI/Wan2.1-T2V-1.3B-Diffusers": _WAN_1_3B,
    "Wan-AI/Wan2.1-VACE-1.3B-diffusers": _WAN_1_3B,
    "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers": _WAN_14B,
    "Wan-AI/Wan2.1-VACE-14B-diffusers": _WAN_14B,
    "Wan-AI/Wan2.2-TI2V-5B-Diffusers": DenoiserShape(30, 3072, 4, 32, 2),  # 16x VAE, 2x2 patches
    "Wan-AI/Wan2.2-T2V-A14B-Diffusers": DenoiserShape(40, 5120, 4, 16, 2, experts=2),
    "Wan-AI/Wan2.2-I2V-A14B-Diffusers": DenoiserShape(40, 5120, 4, 16, 2, experts=2),
    "Skywork/SkyReels-V2-T2V-14B-540P-Diffusers": _WAN_14B,
    "Skywork/SkyReels-V2-I2V-14B-540P-Diffusers": _WAN_14B,
    "Skywork/SkyReels-V2-DF-1.3B-540P-Diffusers": _WAN_1_3B,
    # Classifier-free and spatio-temporal guidance: three passes a step.
    "Lightricks/LTX-2": DenoiserShape(48, 4096, 8, 32, 3),
    "hunyuanvideo-community/HunyuanVideo-1.5-Diffusers-480p_t2v": _HUNYUANVIDEO_15,
    "hunyuanvideo-community/HunyuanVideo-1.5-Diffusers-480p_i2v": _HUNYUANVIDEO_15,
    # 19 double- and 38 single-stream blocks; guidance is distilled into one pass.
    "black-forest-labs/FLUX.1-dev": DenoiserShape(57, 3072, 1, 16, 1, text_tokens=512),
    "black-forest-labs/FLUX.1-Kontext-dev": DenoiserShape(57, 3072, 1, 16, 1, text_tokens=512),
}


def cache_bytes(spec: ToolSpec, levers: Levers, size: FittedSize) -> int:
    """What `levers`' cache keeps between steps at the fitted request (module docstring): 0 without a cache,
    or for a model whose denoiser's shape is not in `DENOISER_SHAPES`."""
    cache = levers.cache
    shape = DENOISER_SHAPES.get(spec.model)
    if cache is None or shape is None:
        return 0
    latent_frames = (size.frames - 1) // shape.frames_per_token + 1 if size.frames > 1 else 1
    tokens = latent_frames * math.ceil(size.height / shape.pixels_per_token) * math.ceil(
        size.width / shape.pixels_per_token) + shape.text_tokens
    one = tokens * shape.width * shape.branches * shape.experts  # one tensor of a block's output, every branch
    config = cache.config
    if cache.kind == "taylorseer":
        if config.get("use_lite_mode"):
            return 0
        patterns = config.get("cache_identifiers") or [r"^blocks.*attn", r"^transformer_blocks.*attn"]
        per_block = max((_modules_per_block(pattern) for pattern in patterns), default=0)
        factor_bytes = 4 if config.get("taylor_factors_dtype") == "float32" else 2
        return int(shape.blocks * per_block * (config.get("max_order", 1) + 1) * one * factor_bytes)
    if cache.kind == "faster_cache":
        return int(2 * shape.blocks * one * 2)
    if cache.kind == "pyramid_attention_broadcast":
        return int(shape.blocks * one * 2)
    return int(2 * one * 2)  # first_block_cache, mag_cache


def _modules_per_block(pattern: str) -> int:
    """How many modules of each block a TaylorSeer cache pattern hooks: none for one outside the blocks
    (the output projection), two for a generic `.*attn` (self and cross attention), else one."""
    if "block" not in pattern:
        return 0
    return 2 if pattern.rstrip("$").endswith(".*attn") else 1


def levers_fit(spec: ToolSpec, levers: Levers, gpu: Gpu, *, frames: int, height: int, width: int) -> bool:
    """Whether the tool with `levers` pulled, everything on the GPU as levered pipelines run, needs at most
    USABLE_SHARE of `gpu` (True where nothing tells its size)."""
    memory = estimate_memory(spec, frames=frames, height=height, width=width, levers=levers)
    return memory is None or memory.peak_bytes <= USABLE_SHARE * gpu.total_bytes


def profile_fits(spec: ToolSpec, profile: str, gpu: Gpu, *, frames: int, height: int, width: int) -> bool:
    """Whether the profile's levers (the registry's, cache included) fit `gpu` at the request."""
    levers = spec.acceleration.get(profile) or (spec.acceleration.get("balanced") if profile == "fast" else None)
    return levers is None or levers_fit(spec, levers, gpu, frames=frames, height=height, width=width)


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
