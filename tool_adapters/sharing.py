"""What the pipelines of one process share: loaded weights, and the text encodings made with them.

The two routes of a request often run pipelines built on the same weights:
LTX-2 text-to-video beside LTX-2 image-to-video, Wan 2.2 TI2V 5B in both
roles, SD3 and its img2img pipeline, the exact and the compiled pipelines of
one tool, or two checkpoints that ship the same UMT5 or T5 encoder. Each
pipeline is its own object (its own class, scheduler and levers), but a
component whose weight files, dtype, device and placement are the same is
loaded once and handed to every pipeline that needs it, as diffusers'
`from_pipe` does by hand. The VAE is then one module for both decodes, and
a 19B transformer is not resident twice.

Weight files are told apart by content where the Hugging Face cache names
them so (a blob's name is its SHA-256: two repos that ship the same encoder
share it), else by path, size and modification time.

Not shared: anything offloaded (offload hooks belong to one pipeline), and a
denoiser carrying a cache (its hooks ask their own pipeline for the current
timestep). A compiled denoiser is shared only between pipelines compiled with
the same levers. Pipelines that share a module never run at the same time
(`PipelinePool.calling`): a VAE keeps its causal cache on itself as it decodes.

Text encodings: a text encoder remembers its last outputs by input, so the
same prompt (and above all the same negative prompt, encoded by every call
that uses classifier-free guidance) is encoded once per encoder, whichever
pipeline asks.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import torch

__all__ = ["EncodingMemo", "files_identity", "remember_encodings"]

#: Per text encoder: LLM encoders that return every layer's hidden states (LTX-2's Gemma 3) make ~0.4 GB
#: per prompt, so a budget by bytes and not only by count.
MEMO_ENTRIES = 16
MEMO_BYTES = 1 << 30


def files_identity(files: list[Path]) -> tuple[Hashable, ...] | None:
    """What a component's weight files are, for telling whether two loads would read the same weights."""
    if not files:
        return None
    identity = []
    for file in files:
        real = file.resolve()
        if real.parent.name == "blobs":  # the hub cache names a large file's blob by its SHA-256
            identity.append(("sha256", real.name))
        else:
            stat = real.stat()
            identity.append((str(real), stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(identity))


class EncodingMemo:
    """Stands in for a text encoder's `forward`: the same inputs give back the outputs computed the first
    time.

    Only calls without autograd are remembered, and only when every argument is a tensor or a plain value.
    What comes back is a copy, so a pipeline that edits its embeddings in place leaves the memo intact.
    """

    def __init__(self, forward: Callable[..., Any], *, entries: int = MEMO_ENTRIES,
                 max_bytes: int = MEMO_BYTES) -> None:
        self.forward = forward
        functools.update_wrapper(self, forward)  # inspect.signature still sees the encoder's own arguments
        self.entries = entries
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0
        self._outputs: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        key = _inputs_key(args, kwargs) if not torch.is_grad_enabled() else None
        if key is None:
            return self.forward(*args, **kwargs)
        with self._lock:
            remembered = self._outputs.get(key)
            if remembered is not None:
                self._outputs.move_to_end(key)
                self.hits += 1
                return _copy(remembered[0])
        output = self.forward(*args, **kwargs)
        size = _nbytes(output)
        with self._lock:
            self.misses += 1
            if size <= self.max_bytes and key not in self._outputs:
                self._outputs[key] = (_copy(output), size)
                self._bytes += size
                while len(self._outputs) > self.entries or self._bytes > self.max_bytes:
                    _, (_, freed) = self._outputs.popitem(last=False)
                    self._bytes -= freed
        return output

    def clear(self) -> None:
        with self._lock:
            self._outputs.clear()
            self._bytes = 0


def remember_encodings(encoder: torch.nn.Module) -> EncodingMemo:
    """Puts an `EncodingMemo` in front of `encoder` (once: a shared encoder keeps the one it has)."""
    memo = encoder.__dict__.get("forward")
    if isinstance(memo, EncodingMemo):
        return memo
    memo = EncodingMemo(encoder.forward)
    encoder.forward = memo  # nn.Module.__call__ looks `forward` up on the instance first
    return memo


def _inputs_key(args: tuple, kwargs: dict) -> str | None:
    digest = hashlib.sha256()
    for name, value in [(str(i), a) for i, a in enumerate(args)] + sorted(kwargs.items()):
        digest.update(name.encode())
        if isinstance(value, torch.Tensor):
            if value.requires_grad or value.is_nested:
                return None
            digest.update(f"{value.dtype}{tuple(value.shape)}{value.device}".encode())
            digest.update(value.detach().contiguous().cpu().view(torch.uint8).numpy().tobytes())
        elif value is None or isinstance(value, (bool, int, float, str)):
            digest.update(repr(value).encode())
        else:
            return None  # an argument we cannot compare (a cache object, a list of images): compute anew
    return digest.hexdigest()


def _copy(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, dict):  # transformers' ModelOutput is a dict too; keep its class and attributes
        copied = value.__class__(**{k: _copy(v) for k, v in value.items()})
        return copied
    if isinstance(value, (tuple, list)):
        return type(value)(_copy(v) for v in value)
    return value


def _nbytes(value: Any) -> int:
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, dict):
        return sum(_nbytes(v) for v in value.values())
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(v) for v in value)
    return 0
