"""Loaded pipelines kept resident and shared, placed over the visible GPUs.

A pipeline, once loaded, serves every step, route and request that needs its
tool. Loads of one tool are serialised (two routes never load the same
weights twice), and so are all loads in the process: `from_pretrained`
builds modules on the meta device by patching torch process-wide, and two
loads in two threads corrupt each other.

Calls: at most `calls_per_gpu` pipeline calls run on one GPU at a time (one by
default: two large models denoising side by side on one GPU mostly add up
their activations and risk running out of memory); more queue in arrival
order. Pipelines on different GPUs run in parallel; on a CPU there is no queue.

Shared components: pipelines built on the same weights hold the same modules
(`sharing.py` says which). The pool keeps a weak index of the loaded ones, so
a module lives as long as some resident pipeline holds it, and pipelines
that share a module never run at once (`calling`).

Placement: a new pipeline goes to the visible GPU with the most free memory.
When its estimated size does not fit there, resident pipelines on that GPU are
evicted, least recently used first, until it does. A call makes room the same
way for what it will allocate beyond its weights (`make_room`, from the
doctor's estimate), and a call that runs out of memory all the same may ask
for every other idle pipeline on its GPU to go (`evict_neighbours`) before it
tries again. Only idle pipelines go: one a call holds (`get(..., hold=True)`,
from the moment the call has it until it ends) stays, and so does one whose
weights are all off the GPU (CPU offload), whose eviction would free nothing
there. Free memory counts what PyTorch's allocator holds cached but unused,
which a new allocation takes before asking CUDA. `manage_memory=False` turns
all of this off (and the tools' own moves to their low-memory settings before
a call), for a caller that places and holds its pipelines itself (the
benchmarks). `max_resident` caps the number of resident pipelines regardless
of memory (useful on a CPU).
"""

from __future__ import annotations

import contextlib
import gc
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["Freed", "PipelinePool", "Resident"]

# Kept free on a GPU beside the weights for activations; a rough share, refined by OOM handling.
_ACTIVATION_HEADROOM = 1.3


@dataclass
class Resident:
    key: str
    pipeline: Any
    device: torch.device
    bytes: int
    loaded_at: float = field(default_factory=time.time)
    uses: int = 0
    holders: int = 0  # calls holding it now (`PipelinePool.get`'s `hold`)


@dataclass(frozen=True)
class Freed:
    """What `evict_neighbours` did: the keys it evicted, and the GPU memory that freed (None where the
    device's free memory is not known)."""

    keys: list[str]
    bytes: int | None


class PipelinePool:
    """`gpus` and `free_bytes` read the devices and their free memory (None where it is not known, as on a
    CPU); they default to CUDA's own answers and are parameters so that placement can be exercised
    anywhere."""

    def __init__(
        self,
        *,
        max_resident: int | None = None,
        gpus: Callable[[], list[torch.device]] | None = None,
        free_bytes: Callable[[torch.device], int | None] | None = None,
        calls_per_gpu: int | None = 1,
        manage_memory: bool = True,
    ) -> None:
        self.max_resident = max_resident
        self.manage_memory = manage_memory
        self.calls_per_gpu = calls_per_gpu
        self._gpu_slots: dict[torch.device, threading.Semaphore] = {}
        self._gpus = gpus or _visible_gpus
        self._free_bytes = free_bytes or _free_bytes
        self._residents: OrderedDict[str, Resident] = OrderedDict()  # least recently used first
        self._placed: dict[str, torch.device] = {}  # where each key was last placed
        self._lock = threading.RLock()
        self._key_locks: dict[str, threading.Lock] = {}
        self._loading = threading.Lock()
        self.loads: dict[str, int] = {}
        self.evictions: list[str] = []
        self._components: weakref.WeakValueDictionary[Hashable, Any] = weakref.WeakValueDictionary()
        self._call_locks: weakref.WeakKeyDictionary[Any, threading.Lock] = weakref.WeakKeyDictionary()

    def get(
        self,
        key: str,
        load: Callable[[torch.device], Any],
        *,
        device: str = "auto",
        estimate_bytes: Callable[[], int] = lambda: 0,
        hold: bool = False,
    ) -> Resident:
        """The resident pipeline for `key`, loading it with `load(device)` when absent.

        `estimate_bytes` is asked only when a load is needed, to make room for it. With `hold`, the
        pipeline is held as it is handed over, so that no room-making evicts it before the caller's
        `release`.
        """
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                resident = self._residents.get(key)
                if resident is not None:
                    self._residents.move_to_end(key)
                    resident.uses += 1
                    resident.holders += hold
                    return resident
            target = self._place(estimate_bytes(), device)
            with self._lock:
                self._placed[key] = target  # kept should the load fail, for `evict_neighbours`
            with self._loading:
                pipeline = load(target)
            resident = Resident(key=key, pipeline=pipeline, device=target, bytes=_pipeline_bytes(pipeline),
                                uses=1, holders=int(hold))
            with self._lock:
                self._residents[key] = resident
                self.loads[key] = self.loads.get(key, 0) + 1
                self._enforce_count()
            return resident

    def release(self, resident: Resident) -> None:
        """Ends a hold that `get(..., hold=True)` took."""
        with self._lock:
            resident.holders -= 1

    def evict(self, key: str, *, only_idle: bool = False) -> bool:
        """Drops the pool's pipeline for `key` (its memory goes once no caller holds it any more); with
        `only_idle`, not while a call holds it. Whether it went."""
        with self._lock:
            resident = self._residents.get(key)
            if resident is None or (only_idle and resident.holders):
                return False
            del self._residents[key]
        self.evictions.append(key)
        del resident
        _free_memory()
        return True

    def clear(self) -> None:
        for key in list(self._residents):
            self.evict(key)

    def make_room(self, device: torch.device, needed_bytes: int, *, keep: str | None = None) -> list[str]:
        """Evicts idle pipelines on `device` (see the module docstring), least recently used first, until
        `needed_bytes` are free there or none is left that may go; the keys evicted. `keep` stays too."""
        evicted: list[str] = []
        if not self.manage_memory:
            return evicted
        while needed_bytes > 0 and (free := self._free_bytes(device)) is not None and free < needed_bytes:
            victims = self._idle_on(device, keep)
            if not victims:
                break
            if self.evict(victims[0], only_idle=True):
                evicted.append(victims[0])
        return evicted

    def evict_neighbours(self, key: str) -> Freed:
        """Evicts every idle pipeline but `key` on the device where `key` is, or was being loaded."""
        with self._lock:
            resident = self._residents.get(key)
            device = resident.device if resident is not None else self._placed.get(key)
        if device is None or not self.manage_memory:
            return Freed([], 0)
        before = self._free_bytes(device)
        evicted = [victim for victim in self._idle_on(device, key) if self.evict(victim, only_idle=True)]
        after = self._free_bytes(device)
        return Freed(evicted, None if before is None or after is None else after - before)

    def _idle_on(self, device: torch.device, keep: str | None) -> list[str]:
        """Keys of the pipelines on `device` that no call holds and that have weights on it, least
        recently used first."""
        with self._lock:
            residents = [resident for key, resident in self._residents.items()
                         if resident.device == device and key != keep and not resident.holders]
        return [resident.key for resident in residents
                if not self._in_call(resident.pipeline) and _has_weights_on(resident.pipeline, device)]

    def _in_call(self, pipeline: Any) -> bool:
        """Whether a call holds the pipeline's lock: one made through `calling` without a hold."""
        try:
            lock = self._call_locks.get(pipeline)
        except TypeError:  # an object no weak reference can name was never called through `calling`
            return False
        return lock is not None and lock.locked()

    @contextlib.contextmanager
    def gpu_slot(self, device: torch.device) -> Iterator[None]:
        """Holds one of `device`'s call slots while a pipeline runs there (see the module docstring)."""
        if device.type != "cuda" or self.calls_per_gpu is None:
            yield
            return
        with self._lock:
            slot = self._gpu_slots.setdefault(torch.device(device), threading.BoundedSemaphore(self.calls_per_gpu))
        with slot:
            yield

    @contextlib.contextmanager
    def calling(self, pipeline: Any) -> Iterator[None]:
        """Held while `pipeline` runs. A pipeline object is not re-entrant (some keep state between the
        steps of a call, or between an inversion and its edit), and neither is a module another pipeline
        shares: a VAE keeps its causal cache on itself while it decodes, a denoiser its cache hooks' state.
        So a call holds the lock of the pipeline and of each of its modules, taken in one global order so
        that two calls never wait on each other in a circle."""
        with contextlib.ExitStack() as held:
            for lock in self.call_locks(pipeline):
                held.enter_context(lock)
            yield

    def call_locks(self, pipeline: Any) -> list[threading.Lock]:
        modules = _modules(pipeline)
        owners = sorted({id(owner): owner for owner in (pipeline, *modules)}.items())
        with self._lock:
            return [self._call_locks.setdefault(owner, threading.Lock()) for _, owner in owners]

    def shared_component(self, identity: Hashable | None) -> Any | None:
        """The loaded module with this identity (`sharing.py`), if a pipeline still holds one."""
        if identity is None:
            return None
        with self._lock:
            return self._components.get(identity)

    def keep_component(self, identity: Hashable | None, module: Any) -> None:
        if identity is not None and module is not None:
            with self._lock:
                self._components.setdefault(identity, module)

    def resident_keys(self) -> list[str]:
        """Least recently used first."""
        with self._lock:
            return list(self._residents)

    # Placement -----------------------------------------------------------------

    def _place(self, estimated_bytes: int, device: str) -> torch.device:
        if device != "auto":
            chosen = torch.device(device)
            if chosen.type == "cuda" and chosen.index is None:  # one name per GPU, as placement compares them
                chosen = torch.device("cuda", torch.cuda.current_device())
            if chosen.type == "cuda":
                self._make_room(chosen, estimated_bytes)
            return chosen
        gpus = self._gpus()
        if not gpus:
            return torch.device("cpu")
        best = max(gpus, key=lambda gpu: self._free_bytes(gpu) or 0)
        self._make_room(best, estimated_bytes)
        return best

    def _make_room(self, device: torch.device, estimated_bytes: int) -> None:
        # Nothing left to evict is no error: the estimate is rough, and the load may fit all the same.
        self.make_room(device, int(estimated_bytes * _ACTIVATION_HEADROOM))

    def _enforce_count(self) -> None:
        while self.max_resident is not None and len(self._residents) > self.max_resident:
            oldest = next(iter(self._residents))
            resident = self._residents.pop(oldest)
            self.evictions.append(oldest)
            del resident
        _free_memory()


def _visible_gpus() -> list[torch.device]:
    if not torch.cuda.is_available():
        return []
    return [torch.device("cuda", index) for index in range(torch.cuda.device_count())]


def _free_bytes(device: torch.device) -> int | None:
    if device.type != "cuda":
        return None
    free, _total = torch.cuda.mem_get_info(device)
    # The allocator's cached blocks are free to PyTorch though CUDA counts them as used.
    return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)


def _free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _has_weights_on(pipeline: Any, device: torch.device) -> bool:
    """Whether evicting the pipeline could free memory on `device`: not where its modules all wait on
    another device (CPU offload between calls); always for a stand-in with no modules (placement's tests)."""
    modules = _modules(pipeline)
    if not modules:
        return True
    return any(parameter.device == device for module in modules for parameter in module.parameters())


def _pipeline_bytes(pipeline: Any) -> int:
    return sum(p.numel() * p.element_size() for module in _modules(pipeline) for p in module.parameters())


def _modules(pipeline: Any) -> list[torch.nn.Module]:
    """The pipeline's components that hold weights (none for a stand-in without components)."""
    return [c for c in getattr(pipeline, "components", {}).values() if isinstance(c, torch.nn.Module)]
