"""Faster pipeline calls, per model family: the levers, the profiles that use them, and the gate.

A registry names, per model family, which of diffusers' levers each profile pulls:

    acceleration:                       # a registry file's top level: one entry per family
      cogvideox:
        balanced: {compile: blocks}
        fast:
          compile: [norm1, norm2, ff]    # compiled inside each block, below the cache's hooks
          cache: {kind: taylorseer, config: {cache_interval: 5, disable_cache_before_step: 3, max_order: 1}}
    tools:
      cogvideox: {..., acceleration: cogvideox}

- `compile`: regional compilation of the denoiser's repeated blocks (`blocks`),
  or of the named submodules inside each block. Compiling whole blocks under a
  cache hook inside them (TaylorSeer on each block's attn1) recompiles at every
  step, so such a cache goes with submodules; the "lite" layout, whose hooks
  skip the blocks themselves and predict the output projection, goes with the
  blocks compiled (Wan, HunyuanVideo 1.5: measured without recompiles). A
  model that declares no repeated blocks (a UNet) names the classes to compile
  in `blocks` (SVD: `{target: unet, compile: blocks, blocks: [TransformerSpatioTemporalModel]}`).
- `cache`: one of diffusers' caching hooks (TaylorSeer, Pyramid Attention
  Broadcast, FasterCache, First Block Cache, MagCache) with its settings.
- `attention_backend`: a diffusers attention backend, for models whose
  attention goes through diffusers' dispatcher (CogVideoX calls PyTorch's
  `scaled_dot_product_attention` itself, so it ignores this).
- `quantize: float8`: the linear layers of the denoiser's repeated blocks
  get FP8 weights and dynamically scaled FP8 activations (one scale per row,
  torchao; the `fp8` extra), so their matrix products run on FP8 tensor cores
  and the weights take half the memory. It needs a GPU that has them
  (compute capability 8.9: Ada, Hopper and later); elsewhere, or without
  torchao, the profile runs without it and says so.

A run picks a profile (`Context.acceleration`): `exact` pulls nothing and is
the plain pipeline call, bit for bit. Compilation and the attention kernel
keep the math; a cache changes it (it predicts some steps instead of
computing them), and so do FP8 weights, and what is harmless for one model ruins another. So a cache
or FP8 is used only for a tool whose output with it was measured against the exact
output on the user's own weights (`spagent bench`, recorded in the capability
store) and passed the fidelity thresholds; a tool never benched uses only the
levers that keep the math; a tool that failed its bench runs exact. The
choice and its reason are recorded with every step.

Compiled code is kept on disk: the first compile of a levers set points PyTorch's persistent caches
(inductor's FX graph cache and autotuning results, and the Triton kernels it builds, under
`TORCHINDUCTOR_CACHE_DIR`) at the tool's cache folder (`<cache_dir>/torch-compile`), so a restarted
server or a new `spagent run` process on the same machine finds the kernels compiled and only traces the
blocks again (`use_compile_cache`). A folder the user set in `TORCHINDUCTOR_CACHE_DIR` is kept.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:  # torch is imported where levers are pulled: planning and serving need none of it
    import torch

__all__ = [
    "Acceleration",
    "FidelityRecord",
    "AcceleratedProfile",
    "CacheLever",
    "Levers",
    "Profile",
    "apply_levers",
    "choose_levers",
    "FLOAT8_NEEDS",
    "float8_runs_on",
    "quantize_blocks",
    "set_attention_backend",
    "use_compile_cache",
]

Profile = Literal["exact", "balanced", "fast"]
AcceleratedProfile = Literal["balanced", "fast"]
CacheKind = Literal["taylorseer", "pyramid_attention_broadcast", "faster_cache", "first_block_cache", "mag_cache"]

_CACHE_CONFIGS = {
    "taylorseer": "TaylorSeerCacheConfig",
    "pyramid_attention_broadcast": "PyramidAttentionBroadcastConfig",
    "faster_cache": "FasterCacheConfig",
    "first_block_cache": "FirstBlockCacheConfig",
    "mag_cache": "MagCacheConfig",
}


class CacheLever(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: CacheKind
    config: dict[str, Any] = Field(default_factory=dict, description="The diffusers config class's arguments.")

    def build(self, pipeline: Any) -> Any:
        """The diffusers config object; dtype names become dtypes and ranges tuples, as YAML cannot say them."""
        import diffusers
        import torch

        arguments = {}
        for name, value in self.config.items():
            if isinstance(value, str) and name.endswith("dtype"):
                value = getattr(torch, value)
            elif isinstance(value, list) and name.endswith("range"):
                value = tuple(value)
            arguments[name] = value
        if self.kind in ("pyramid_attention_broadcast", "faster_cache"):
            # Both ask where the denoising is; the pipeline keeps its current timestep.
            arguments.setdefault("current_timestep_callback", lambda: pipeline.current_timestep)
        return getattr(diffusers, _CACHE_CONFIGS[self.kind])(**arguments)


class Levers(BaseModel):
    """What one profile pulls for one model family; all empty is the plain call."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    target: str = Field("transformer", description="The pipeline component the levers act on (its denoiser).")
    compile: Literal["none", "blocks", "whole"] | tuple[str, ...] = Field(
        "none", description="blocks: torch.compile each repeated block; whole: the whole target (a model that "
        "declares no repeated blocks); a list: those submodules of each block.")
    blocks: tuple[str, ...] = Field(
        (), description="Class names of the blocks to compile, for a denoiser that declares no `_repeated_blocks` "
        "of its own (a UNet's attention and resnet blocks); empty: the denoiser's own, or its largest ModuleList.")
    cache: CacheLever | None = None
    attention_backend: str | None = None
    quantize: Literal["float8"] | None = Field(
        None, description="float8: FP8 weights and activations (one scale per row) in the linear layers of the "
        "repeated blocks, through torchao; needs a GPU of compute capability 8.9 or later.")

    @model_validator(mode="after")
    def _blocks_only_where_blocks_compile(self) -> Levers:
        if self.blocks and self.compile in ("none", "whole"):
            raise ValueError(f"`blocks` names the blocks to compile, but `compile` is {self.compile!r}: "
                             "use `compile: blocks` (or a list of submodules inside those blocks)")
        return self

    @property
    def changes_math(self) -> bool:
        return self.cache is not None or self.quantize is not None

    @property
    def is_plain(self) -> bool:
        return (self.compile == "none" and self.cache is None and self.attention_backend is None
                and self.quantize is None)

    def keeping_the_math(self) -> Levers:
        return self.model_copy(update={"cache": None, "quantize": None})

    def math_in_words(self) -> str:
        """The levers that change the math, as a reason names them ("its taylorseer cache and FP8 weights")."""
        parts = [f"{self.cache.kind.replace('_', ' ')} cache"] if self.cache is not None else []
        if self.quantize is not None:
            parts.append("FP8 weights")
        return " and ".join(parts) or "none"

    def key(self) -> str:
        """A short name for this set of levers: pipelines loaded with different levers are different objects."""
        if self.is_plain:
            return "exact"
        # A set without FP8 hashes as it did before the lever existed, so that benches already recorded and
        # the steps of runs to resume keep their keys.
        dumped = self.model_dump_json(exclude={"quantize"} if self.quantize is None else None)
        return hashlib.sha256(dumped.encode()).hexdigest()[:10]

    def in_words(self) -> str:
        if self.is_plain:
            return "none (the plain pipeline call)"
        parts = []
        if self.cache is not None:
            parts.append(f"{self.cache.kind.replace('_', ' ')} cache")
        if self.compile == "whole":
            parts.append(f"the {self.target} compiled")
        elif self.compile == "blocks" and self.blocks:
            parts.append(f"each {', '.join(self.blocks)} of the {self.target} compiled")
        elif self.compile == "blocks":
            parts.append(f"the {self.target}'s repeated blocks compiled")
        elif self.compile != "none":
            parts.append(f"{', '.join(self.compile)} compiled in each block of the {self.target}")
        if self.attention_backend:
            parts.append(f"{self.attention_backend} attention")
        if self.quantize:
            parts.append(f"{self.quantize} linears in the blocks (torchao)")
        return "; ".join(parts)


class FidelityRecord(BaseModel):
    """One bench of a tool's profile against its exact output, as the capability store keeps it
    (defined here, beside the gate that reads it; the store keeps and returns it)."""

    model_config = ConfigDict(extra="forbid")
    tool: str
    profile: Literal["balanced", "fast"]
    levers: str = Field(description="The levers' key when benched: a change of levers needs a new bench.")
    speedup: float
    psnr_db: float
    ssim: float
    judge_delta: float | None = Field(None, description="Accelerated minus exact judge score, when an MLLM judged.")
    probes: int
    measured_at: str

    def passes(self, min_psnr_db: float, min_ssim: float) -> bool:
        return self.psnr_db >= min_psnr_db and self.ssim >= min_ssim

    def in_words(self) -> str:
        return (f"PSNR {self.psnr_db:.1f} dB, SSIM {self.ssim:.3f} against the exact output, "
                f"{self.speedup:.2f}x as fast, over {self.probes} probes ({self.measured_at[:10]})")


@dataclass(frozen=True)
class Acceleration:
    """The levers a tool's call uses under a profile, and why those."""

    profile: Profile
    levers: Levers
    reason: str
    bench: FidelityRecord | None = None  # the bench the decision rests on, where one was read


def choose_levers(
    tool: str,
    acceleration: dict[str, Levers],
    profile: Profile,
    fidelity: FidelityRecord | None,
    *,
    min_psnr_db: float,
    min_ssim: float,
    fits: Callable[[Levers], bool] | None = None,
    float8_runs: bool = False,
) -> Acceleration:
    """The gate: a lever that changes the math runs only for a tool whose bench passed. A family
    with no `fast` levers, or whose `fast` cache is not benched, is as fast as its `balanced` ones.

    `fits` tells whether a set of levers fits the GPU at the request (memory.levers_fit): a cache
    keeps tensors between steps (18.7 GiB for TaylorSeer on each block of Wan 2.2 TI2V-5B at 720p), so
    a profile whose cache would not fit runs without it, as its balanced levers or those that keep
    the math; compiling costs no memory.

    `float8_runs` tells whether FP8 weights run where the tool does (`float8_runs_on`): where they do not,
    the profiles are taken without them, and so is the bench that gates them (`spagent bench` on such a
    machine measures the set without FP8 too)."""
    wanted = _wanted(acceleration, profile)
    if not float8_runs and any(levers.quantize for levers in acceleration.values()):
        acceleration = {name: levers.model_copy(update={"quantize": None}) for name, levers in acceleration.items()}
    chosen = _gated(tool, acceleration, profile, fidelity, min_psnr_db=min_psnr_db, min_ssim=min_ssim)
    if wanted is not None and wanted.quantize is not None and not float8_runs:
        chosen = Acceleration(chosen.profile, chosen.levers, f"{chosen.reason} (without FP8 weights, which need "
                              f"{FLOAT8_NEEDS})", chosen.bench)
    if fits is None or chosen.levers.cache is None or fits(chosen.levers):
        return chosen
    balanced = acceleration.get("balanced")
    fallback = (balanced if profile == "fast" and balanced is not None and not balanced.changes_math
                else chosen.levers.keeping_the_math())
    return Acceleration(profile, fallback, f"its {chosen.levers.cache.kind.replace('_', ' ')} cache would not fit "
                                           "the GPU at this size, so the levers that keep the math", chosen.bench)


def _wanted(acceleration: dict[str, Levers], profile: Profile) -> Levers | None:
    """The registry's set for `profile`: a family without `fast` levers is as fast as its `balanced` ones."""
    if profile == "exact":
        return None
    return acceleration.get(profile) or (acceleration.get("balanced") if profile == "fast" else None)


def _gated(
    tool: str,
    acceleration: dict[str, Levers],
    profile: Profile,
    fidelity: FidelityRecord | None,
    *,
    min_psnr_db: float,
    min_ssim: float,
) -> Acceleration:
    wanted = _wanted(acceleration, profile)
    if wanted is None or wanted.is_plain:
        reason = "the exact profile" if profile == "exact" else f"the registry gives {tool} no {profile} levers"
        return Acceleration(profile, Levers(), reason)
    if not wanted.changes_math:
        return Acceleration(profile, wanted, "these levers keep the math")
    bench = f"`spagent bench --tool {tool} --profile {profile}`"
    math = wanted.math_in_words()
    if fidelity is None or fidelity.levers != wanted.key():
        why = "never benched" if fidelity is None else "benched with other levers"
        # The family's balanced levers are its measured best that keep the math; what is left of a
        # fast set without its cache is often less (nothing at all, for a cache-only set).
        balanced = acceleration.get("balanced")
        if profile == "fast" and balanced is not None and not balanced.is_plain and not balanced.changes_math:
            return Acceleration(profile, balanced, f"its {math}: {why} on these weights ({bench} measures "
                                                   "that), so the balanced levers, which keep the math")
        return Acceleration(profile, wanted.keeping_the_math(), f"its {math}: {why} on these weights ({bench} "
                                                                "measures that), so only the levers that keep the math")
    if fidelity.passes(min_psnr_db, min_ssim):
        return Acceleration(profile, wanted, f"benched: {fidelity.in_words()}", fidelity)
    return Acceleration("exact", Levers(), f"its bench failed the fidelity thresholds (PSNR at least "
                                           f"{min_psnr_db:g} dB, SSIM at least {min_ssim:g}): "
                                           f"{fidelity.in_words()}; it runs exact", fidelity)


#: The variable PyTorch's inductor reads its cache folder from (the FX graph and autotune caches; Triton's
#: kernels go in its `triton` subfolder unless TRITON_CACHE_DIR says otherwise).
COMPILE_CACHE_VARIABLE = "TORCHINDUCTOR_CACHE_DIR"


def use_compile_cache(folder: str | Path) -> Path:
    """Points PyTorch's persistent compile caches at `folder` for this process, unless the user set another
    folder in `TORCHINDUCTOR_CACHE_DIR`; the folder in use.

    Inductor's FX graph cache and autotune cache are on by default in PyTorch 2.5 and later, but in a
    folder under /tmp named by the user, which a container or a reboot loses; here they live with the
    rest of the tool's cache. A new process then compiles a levers set's blocks from that cache: dynamo
    traces them again (seconds), inductor and Triton compile nothing. (Importing diffusers already writes
    inductor's default folder into the variable, so that one counts as unset.)"""
    current = os.environ.get(COMPILE_CACHE_VARIABLE)
    if current and Path(current) != _default_compile_cache():
        return Path(current)
    folder = Path(folder).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    os.environ[COMPILE_CACHE_VARIABLE] = str(folder)
    return folder


def _default_compile_cache() -> Path | None:
    try:
        from torch._inductor.runtime.cache_dir_utils import default_cache_dir
    except ImportError:  # an older torch, or none: nothing to tell apart
        return None
    return Path(os.path.abspath(default_cache_dir()))


def apply_levers(pipeline: Any, levers: Levers, *, compile_cache: str | Path | None = None) -> None:
    """Pulls `levers` on a freshly loaded pipeline (the pool keeps one object per set of levers); where they
    compile, the compiled code is kept in `compile_cache` (`use_compile_cache`)."""
    if levers.is_plain:
        return
    if levers.compile != "none" and compile_cache is not None:
        use_compile_cache(compile_cache)
    if getattr(pipeline, levers.target, None) is None:
        raise ValueError(f"the pipeline has no `{levers.target}` to accelerate")
    for denoiser in denoisers_of(pipeline, levers.target):
        _pull(pipeline, denoiser, levers)


def denoiser_names(target: str) -> tuple[str, str]:
    """The component `target` and the name a two-expert model (Wan 2.2 A14B) gives its second expert, which
    the same levers fit."""
    return target, f"{target}_2"


def denoisers_of(pipeline: Any, target: str) -> list[Any]:
    """The denoisers of `pipeline` that levers aimed at `target` act on: the target, and its second expert
    where it has one."""
    return [module for name in denoiser_names(target) if (module := getattr(pipeline, name, None)) is not None]


def set_attention_backend(model: Any, backend: str) -> None:
    """Gives `model`'s attention layers `backend`, and no other model's.

    diffusers' `set_attention_backend` also makes the backend the process's default, which every model whose
    layers name none (the other tools in the toolbox, the next pipeline loaded) then dispatches to; a pool
    holding a plain and a levered copy of one model would run both with the lever. The layers keep the
    backend by name, so the default is put back as it was."""
    if not hasattr(model, "set_attention_backend"):
        return
    from diffusers.models.attention_dispatch import _AttentionBackendRegistry

    default = _AttentionBackendRegistry._active_backend
    try:
        model.set_attention_backend(backend)
    finally:
        _AttentionBackendRegistry.set_active_backend(default)


#: What FP8 weights need, in the words a step's record and a bench's report give where they are left out.
FLOAT8_NEEDS = ("torchao (the `fp8` extra), a GPU of compute capability 8.9 or later, and a tool whose "
                "memory settings do not offload it layer by layer")


def float8_runs_on(device: str, cpu_offload: str = "none") -> bool:
    """Whether FP8 weights (`quantize: float8`) run on `device` for a tool placed as `cpu_offload` says (its
    `memory.cpu_offload`): torchao is installed, the GPU has FP8 tensor cores (compute capability 8.9 or
    later), and the tool is not offloaded layer by layer. Sequential offload keeps each layer's weights on
    the host and accelerate's hooks copy those originals to the GPU at every call, so quantized layers
    would never run; model offload moves the quantized denoiser whole, and they do."""
    if cpu_offload == "sequential" or not (device == "auto" or device.startswith("cuda")):
        return False
    try:  # installed is not enough: a torchao built for another torch fails at import
        import torchao.quantization  # noqa: F401
    except Exception:  # noqa: BLE001 - any failure to import means it cannot run here
        return False
    import torch

    if not torch.cuda.is_available():
        return False
    # Under "auto" the pool may place the model on any GPU, so every one must have FP8 tensor cores.
    indices = range(torch.cuda.device_count()) if device == "auto" else [torch.device(device).index]
    try:
        return all(torch.cuda.get_device_capability(index) >= (8, 9) for index in indices)
    except (AssertionError, RuntimeError, ValueError):  # a device index that is not there
        return False


def quantize_blocks(denoiser: Any, how: Literal["float8"] = "float8", *, on: Any = None) -> int:
    """FP8 through torchao, in place: the linear layers inside the denoiser's repeated blocks get float8
    weights and dynamically scaled float8 activations, one scale per row (the embeddings, the norms and the
    output projection stay as they are); how many parameters changed. The blocks' linears hold nearly all of
    a video DiT (98% of Wan 2.2's), so the denoiser's weights take about half the memory. Linears the model
    keeps in float32 (its `_keep_in_fp32_modules`, such as Kandinsky 5's modulation in every block) stay
    as they are: torchao scales per row from bfloat16 weights only, and the model asked for their precision.

    `on`: the GPU that runs the denoiser. Blocks that wait elsewhere (on the host, under model offload) visit
    it one at a time to be quantized and go back: the host's cores take seconds a block at a 14B model's
    size (2.0 s on 2 cores), minutes for a whole model, where a GPU takes a fraction of that."""
    import torch

    blocks = _repeated_blocks(denoiser)
    changed = sum(m.weight.numel() for block in blocks for m in block.modules() if _takes_float8(m))
    if blocks and not changed:
        dtypes = sorted({str(p.dtype).removeprefix("torch.") for block in blocks for p in block.parameters()})
        raise ValueError(f"FP8 weights (`quantize: {how}`) quantize the bfloat16 linears of the "
                         f"{type(denoiser).__name__}'s blocks, and they hold none (their weights are "
                         f"{', '.join(dtypes)}): load the model in bfloat16 (`torch_dtype`) or leave "
                         "`quantize` out")
    try:
        from torchao.quantization import Float8DynamicActivationFloat8WeightConfig, PerRow, quantize_
    except ImportError as error:
        raise ImportError("FP8 weights (`quantize: float8`) need torchao: pip install 'spagent-graph[fp8]'") from error
    _let_float8_weights_change_device()
    # torchao would otherwise set its recommended inductor options for the whole process, for good: every
    # other model's compile would change with them (and its compile cache's keys).
    config = Float8DynamicActivationFloat8WeightConfig(granularity=PerRow(), set_inductor_config=False)
    gpu = torch.device(on) if on is not None and torch.device(on).type == "cuda" else None
    for block in blocks:
        visits = gpu is not None and all(p.device.type == "cpu" for p in block.parameters())
        if visits:
            block.to(gpu)
        quantize_(block, config, filter_fn=_takes_float8)
        if visits:
            block.to("cpu")
    return changed


def _takes_float8(module: Any, _name: str = "") -> bool:
    """Whether per-row FP8 takes `module`; torchao's `filter_fn` (which also passes the module's name)."""
    import torch

    return isinstance(module, torch.nn.Linear) and module.weight.dtype == torch.bfloat16


def _let_float8_weights_change_device() -> None:
    """Model CPU offload (where a tool's `memory` asks for it) moves the denoiser between the host and the GPU
    on every call. torchao's FP8 weights (0.18, under torch 2.11) answer such a move with a copy on the
    other device and then try to make it share the original's storage, which torch refuses ("Attempted to
    set the storage of a tensor on device cuda:0 to a storage on different device cpu"). A move between
    devices is a copy, never an alias: answer it with the moved data alone; anything else (no device
    change) goes to torchao's own handler. Idempotent."""
    import torch
    from torchao.quantization import Float8Tensor

    # A torchao that keeps its handlers elsewhere, or has none for this op, is left as it is.
    handlers = getattr(Float8Tensor, "_ATEN_OP_TABLE", {}).get(Float8Tensor)
    op = torch.ops.aten.to.dtype_layout
    torchaos_own = handlers.get(op) if isinstance(handlers, dict) else None
    if torchaos_own is None or getattr(torchaos_own, "moves_without_alias", False):
        return

    def move(func, types, args, kwargs):
        (weight,) = args
        device = kwargs.get("device")
        same_dtype = kwargs.get("dtype", weight.dtype) == weight.dtype
        only_device = same_dtype and set(kwargs) <= {"dtype", "layout", "device"}
        if device is not None and torch.device(device) != weight.device and only_device:
            return weight._apply_fn_to_data(lambda data: data.to(device=device))
        return torchaos_own(func, types, args, kwargs)

    move.moves_without_alias = True
    handlers[op] = move


def _pull(pipeline: Any, target: Any, levers: Levers) -> None:
    # Before the rest: a cache hooks, and a compile traces, the quantized layers.
    if levers.quantize is not None:
        quantize_blocks(target, levers.quantize, on=getattr(pipeline, "_execution_device", None))
    if levers.attention_backend:
        set_attention_backend(target, levers.attention_backend)
    if levers.cache is not None:
        target.enable_cache(levers.cache.build(pipeline))
    if levers.compile == "whole":
        target.compile()
    elif levers.compile == "blocks":
        for block in _repeated_blocks(target, levers.blocks):
            block.compile()
    elif levers.compile != "none":
        for block in _repeated_blocks(target, levers.blocks):
            for name in levers.compile:
                submodule = block.get_submodule(name)
                submodule.compile()


def _repeated_blocks(module: torch.nn.Module, classes: tuple[str, ...] = ()) -> list[torch.nn.Module]:
    """The instances of `classes`, else of the classes a diffusers model declares as `_repeated_blocks`
    (its transformer blocks); for a model that declares none (CogVideoX, SD3), the items of its own
    ModuleList that holds the most parameters (`transformer_blocks`)."""
    import torch

    names = set(classes or getattr(module, "_repeated_blocks", None) or ())
    blocks = [m for m in module.modules() if type(m).__name__ in names]
    if blocks:
        return blocks
    if classes:
        raise ValueError(f"the {type(module).__name__} has no block of the classes {', '.join(classes)}")
    lists = [m for m in module.children() if isinstance(m, torch.nn.ModuleList)]
    return list(max(lists, key=lambda m: sum(p.numel() for p in m.parameters()))) if lists else []

