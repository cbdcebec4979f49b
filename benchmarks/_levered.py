"""What the GPU benchmarks of acceleration share: a levered copy of a pipeline, one denoiser that takes each
variant's levers in turn, rounds in rotated order, and the device's clock and memory."""

from __future__ import annotations

import copy
import gc
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from spagent_graph.tool_adapters.acceleration import apply_levers, denoiser_names, denoisers_of


def levered_copy(pipeline: Any, levers: Any) -> Any:
    """`pipeline` with `levers` pulled on its own copy of the denoiser; the encoders and the VAE stay shared,
    as the tool's pool shares them between pipelines of one model (only the levered modules differ)."""
    if levers.is_plain:
        return pipeline
    check_room_for_copy(pipeline, levers.target)
    own = {name: copy.deepcopy(component) for name, component in pipeline.components.items()
           if name in (*denoiser_names(levers.target), "scheduler") and component is not None}
    # `components` leaves out the pipeline's settings that are not modules (Wan 2.2's `expand_timesteps` and
    # `boundary_ratio`), which a pipeline built again would otherwise take at their defaults.
    _, settings = pipeline._get_signature_keys(pipeline)
    kept = {name: pipeline.config[name] for name in settings if name in pipeline.config}
    variant = type(pipeline)(**{**pipeline.components, **own}, **kept)
    variant.set_progress_bar_config(disable=True)
    apply_levers(variant, levers)
    return variant


# What a copy needs beyond its own bytes: the quantizer's temporaries and the allocator's slack.
COPY_HEADROOM = 1.1


def denoiser_bytes(pipeline: Any, target: str) -> int:
    """The bytes of the denoiser `target`'s weights, with a second expert's (`<target>_2`) where there is
    one."""
    return sum(p.numel() * p.element_size() for m in denoisers_of(pipeline, target) for p in m.parameters())


def check_room_for_copy(pipeline: Any, target: str) -> None:
    """Raise MemoryError before a copy of the denoiser that cannot be made safely. A host that runs out of
    memory ends the process without a word (the kernel's OOM killer), as Wan 2.2 A14B's FP8 variant did
    under model offload on a 128 GiB host."""
    modules = denoisers_of(pipeline, target)
    # accelerate's offload hooks chain each model to the one offloaded before it: a deep copy of an
    # offloaded denoiser would take the pipeline's other models with it.
    if any(getattr(module, "_hf_hook", None) is not None for module in modules):
        raise MemoryError(f"the {target} is offloaded: a copy would take the pipeline's other models with "
                          "it; time this set on a GPU that holds the pipeline")
    weights = next((p for m in modules for p in m.parameters()), None)
    if weights is None:
        return
    size, free = denoiser_bytes(pipeline, target), free_memory(weights.device)
    if free is not None and size * COPY_HEADROOM > free:
        raise MemoryError(f"a copy of the {target} takes {size / 2**30:.1f} GiB (and a tenth more while it "
                          f"is made) and {weights.device} has {free / 2**30:.1f} GiB free: time this set on a "
                          "machine with more memory")


def free_memory(where: torch.device) -> int | None:
    """Bytes a new tensor on `where` can take: a GPU's free memory with what PyTorch holds unused, the host's
    available memory; None where it cannot be told."""
    if where.type == "cuda":
        free, _ = torch.cuda.mem_get_info(where)
        return free + torch.cuda.memory_reserved(where) - torch.cuda.memory_allocated(where)
    return host_memory_available() if where.type == "cpu" else None


def host_memory_available() -> int | None:
    """The host memory a new allocation can take without swapping (Linux's MemAvailable), None elsewhere."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class LeverSwitch:
    """One pipeline whose denoiser takes each variant's levers in turn, for a model too large for a copy of
    its denoiser per variant (LTX-2's is 35 GiB). Compiled code outlives the switch: it belongs to the
    block's class and shapes, so compiling a block again after a switch reuses it.

    FP8 weights cannot be taken off again: the first quantized set quantizes the denoiser in place, and from
    then on only quantized sets can use it (a caller times those after every other)."""

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline
        self.current: Any = None
        self.quantized: str | None = None

    def use(self, levers: Any) -> None:
        if levers == self.current:
            return
        if self.quantized and levers.quantize != self.quantized:
            raise ValueError(f"the denoiser holds {self.quantized} weights now: a set without them cannot "
                             "use it")
        if self.current is not None:
            self._take_off(self.current)
        # Once quantized, a set's other levers are pulled on the quantized blocks as they are.
        apply_levers(self.pipeline, levers.model_copy(update={"quantize": None}) if self.quantized
                     else levers)
        self.quantized = levers.quantize
        self.current = levers

    def _take_off(self, levers: Any) -> None:
        for denoiser in denoisers_of(self.pipeline, levers.target):
            if getattr(denoiser, "is_cache_enabled", False):
                denoiser.disable_cache()
            for module in denoiser.modules():
                if getattr(module, "_compiled_call_impl", None) is not None:
                    module._compiled_call_impl = None
                # A removed cache hook leaves the module's own forward behind as an attribute of the module,
                # which fails the guards of a block compiled before the hook came (a recompile, in a timed
                # call); without it the class's forward is found as before.
                forward = vars(module).get("forward")
                if getattr(forward, "__func__", None) is type(module).forward:
                    del module.forward
            if levers.attention_backend and hasattr(denoiser, "reset_attention_backend"):
                denoiser.reset_attention_backend()


def pulled_levers(levers: Any) -> dict[str, Any]:
    """Each lever `levers` pulls, with the levers less that one (a lever's share is what leaving it out costs)."""
    unpulled = {"cache": None, "compile": "none", "attention_backend": None, "quantize": None}
    return {lever: levers.model_copy(update={lever: unset, **({"blocks": ()} if lever == "compile" else {})})
            for lever, unset in unpulled.items() if getattr(levers, lever) != unset}


def rotated_rounds(variants: Sequence[str], repeats: int) -> Iterator[tuple[int, str]]:
    """Every variant once per round, the order rotated each round so that drift on a shared machine
    (a single 1 s call varies by 25% there) falls on none of them."""
    for round_index in range(repeats):
        turn = round_index % len(variants)
        for variant in [*variants[turn:], *variants[:turn]]:
            yield round_index, variant


class Device:
    """The GPU's clock, memory and name; on a CPU (a smoke test of this script) no-ops and zeros."""

    def __init__(self, name: str) -> None:
        self.device = torch.device(name)
        self.cuda = self.device.type == "cuda"

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def fresh_peak(self) -> int:
        """Frees what the last call left, starts a new peak, and gives what stays allocated."""
        gc.collect()
        if not self.cuda:
            return 0
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        return torch.cuda.memory_allocated()

    def peak(self) -> int:
        return torch.cuda.max_memory_allocated() if self.cuda else 0

    def free_and_total(self) -> tuple[int, int]:
        return torch.cuda.mem_get_info() if self.cuda else (2**40, 2**40)

    def name(self) -> str:
        return torch.cuda.get_device_name() if self.cuda else "cpu"

    def timed(self, fn: Any) -> tuple[float, Any]:
        """`fn()`'s seconds, the device's queued work included, and its result."""
        import time

        self.sync()
        started = time.perf_counter()
        result = fn()
        self.sync()
        return time.perf_counter() - started, result
