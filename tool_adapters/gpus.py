"""The GPUs a tool may run on: the ones torch sees, or sizes given to plan for a machine not at hand."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["GiB", "Gpu", "gpu_for_device", "parse_gpu_sizes", "visible_gpus"]

GiB = 2**30


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


def gpu_for_device(device: str) -> Gpu | None:
    """The GPU a `device` setting runs tools on, if any: under "auto" the largest one torch sees, as the
    pipeline pool places a model where most memory is free and that is usually the largest when idle."""
    if not (device == "auto" or device.startswith("cuda")):
        return None
    gpus = visible_gpus()
    if not gpus:
        return None
    if device == "auto":
        return max(gpus, key=lambda gpu: gpu.total_bytes)
    import torch

    index = torch.device(device).index
    return gpus[index if index is not None else torch.cuda.current_device()]


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
