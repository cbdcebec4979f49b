"""Runs any diffusers pipeline named in the registry.

The pipeline class comes from the registry entry, so a new diffusers model is
a few lines of YAML. Our standard arguments (prompt, image, video, frames,
size, steps, generator) are passed only where the pipeline's `__call__`
takes them, and the entry's `call` mapping adds the rest.
"""

from __future__ import annotations

import inspect
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from pydantic import PrivateAttr

from spagent_graph.errors import ConfigError, ToolError
from spagent_graph.media import read_frames, write_image, write_video

from .base import GenerationArgs, GenerativeTool
from .registry import ToolSpec

__all__ = ["DiffusersTool", "pick_device", "pick_dtype"]

DEMO_SCHEME = "demo://"

# `from_pretrained` builds modules on the meta device by patching torch process-wide
# while it loads, so two loads in two threads corrupt each other ("Cannot copy out
# of meta tensor"). Loads are therefore serialised across all tools; calls are not.
_LOADING = threading.Lock()


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def pick_dtype(name: str, device: torch.device) -> torch.dtype:
    if name == "auto":
        # Half precision is the norm for these models on a GPU, and slow or unsupported on a CPU.
        return torch.float16 if device.type == "cuda" else torch.float32
    return getattr(torch, name)


class DiffusersTool(GenerativeTool):
    """A registry entry whose `adapter` is `diffusers`."""

    device: str = "auto"
    cache_dir: Path = Path.home() / ".cache" / "spagent_graph"

    _pipeline: Any = PrivateAttr(default=None)
    _load_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _call_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def __init__(self, spec: ToolSpec, **kwargs: Any) -> None:
        super().__init__(spec, **kwargs)
        import diffusers

        if not hasattr(diffusers, spec.pipeline):
            raise ConfigError(
                f"Tool `{spec.name}`: diffusers {diffusers.__version__} has no pipeline class `{spec.pipeline}`."
            )

    # Loading -------------------------------------------------------------------

    def pipeline(self) -> Any:
        """The loaded pipeline; the first call loads it, later calls reuse it."""
        with self._load_lock:  # two routes asking at once must not load the weights twice
            if self._pipeline is None:
                with _LOADING:
                    self._pipeline = self._load()
            return self._pipeline

    def _load(self) -> Any:
        import diffusers

        device = pick_device(self.device)
        dtype = pick_dtype(self.spec.torch_dtype, device)
        source = self._resolve_model(self.spec.model)
        components = {
            name: _component_class(component.cls).from_pretrained(
                self._resolve_model(component.model), subfolder=component.subfolder, dtype=dtype
            )
            for name, component in self.spec.components.items()
        }
        pipeline_cls = getattr(diffusers, self.spec.pipeline)
        extra = {"variant": self.spec.variant} if self.spec.variant else {}
        pipeline = pipeline_cls.from_pretrained(source, dtype=dtype, **components, **extra)
        pipeline.set_progress_bar_config(disable=True)
        return pipeline.to(device)

    def _resolve_model(self, model: str) -> str:
        if not model.startswith(DEMO_SCHEME):
            return model
        from .demo_pipelines import ensure_demo_pipeline

        return str(ensure_demo_pipeline(model.removeprefix(DEMO_SCHEME), self.cache_dir / "demo"))

    def unload(self) -> None:
        with self._load_lock:
            self._pipeline = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    # Calling -------------------------------------------------------------------

    def _generate(self, args: GenerationArgs) -> Path:
        pipeline = self.pipeline()
        accepted = inspect.signature(pipeline.__call__).parameters

        # 1. Fit the request to the pipeline: sizes it can take, and its own step default.
        multiple = self.spec.size_multiple
        height, width = max(multiple, args.height // multiple * multiple), max(multiple, args.width // multiple * multiple)
        steps = args.num_inference_steps or self.spec.defaults.get("num_inference_steps")

        # 2. Read the inputs the previous step wrote.
        image = Image.open(args.image).convert("RGB").resize((width, height)) if args.image else None
        video = [frame.resize((width, height)) for frame in read_frames(args.video, args.num_frames)] if args.video else None

        # 3. Offer our standard arguments; keep those this pipeline's __call__ takes.
        offered = {
            "prompt": args.prompt,
            "image": image,
            "video": video,
            "height": height,
            "width": width,
            "num_frames": args.num_frames,
            "num_inference_steps": steps,
            "generator": torch.Generator(device="cpu").manual_seed(args.seed),
            "output_type": "pil",
        }
        kwargs = {k: v for k, v in {**self.spec.defaults, **offered}.items() if k in accepted and v is not None}
        kwargs.update(self.spec.call)

        # 4. Run; one call at a time per pipeline, since a pipeline object is not re-entrant.
        with self._call_lock, torch.inference_mode():
            result = pipeline(**kwargs)

        # 5. Write the artifact.
        output = Path(args.output_path)
        if self.output_suffix == ".mp4":
            return write_video(_first_video(result, self.name), output, fps=args.fps)
        return write_image(_first_image(result, self.name), output)


def _component_class(name: str) -> Any:
    import diffusers
    import transformers

    for module in (diffusers, transformers):
        if hasattr(module, name):
            return getattr(module, name)
    raise ConfigError(f"Component class `{name}` is in neither diffusers nor transformers.")


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


def _first_image(result: Any, tool: str) -> Any:
    images = getattr(result, "images", None)
    if images is None:
        raise ToolError(tool, f"pipeline output {type(result).__name__} has no `images`; is the task right?")
    return images[0]
