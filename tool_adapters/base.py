"""The LangChain tool every generative model is wrapped in.

A tool takes the request's prompt and the previous step's artifact (an image
or a video file), writes its own artifact to the path it is given, and
returns that path. Subclasses implement `_generate`; the base class checks
inputs, retries transient failures and checks that the artifact exists.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any

from langchain_core.tools import BaseTool
from pydantic import BaseModel, Field
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from spagent_graph.errors import ToolError
from spagent_graph.principles import input_kind, output_kind

from .registry import ToolSpec

__all__ = ["ARGS_BY_INPUT", "GenerationArgs", "GenerativeTool", "TRANSIENT_ERRORS"]

# Failures worth another try: a hub or network hiccup while loading, a file
# system that was briefly busy. Errors in the model itself are not retried.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError, BlockingIOError)


class GenerationArgs(BaseModel):
    """What every generative tool takes; the prompt or input file its task needs is required."""

    output_path: str = Field(description="Where to write the artifact (.mp4 for video, .png for image).")
    prompt: str | None = Field(None, description="What to generate, or the edit to make.")
    image: str | None = Field(None, description="Path of the input image, for image_to_* tasks.")
    video: str | None = Field(None, description="Path of the input video, for video_to_video.")
    num_frames: int = Field(16, ge=1)
    height: int = Field(320, ge=8)
    width: int = Field(512, ge=8)
    fps: int = Field(8, ge=1)
    num_inference_steps: int | None = Field(None, ge=1)
    seed: int = Field(0, ge=0)


class TextArgs(GenerationArgs):
    prompt: str = Field(description="What to generate.")


class ImageArgs(GenerationArgs):
    image: str = Field(description="Path of the input image.")


class VideoArgs(GenerationArgs):
    video: str = Field(description="Path of the input video.")


ARGS_BY_INPUT: dict[str, type[GenerationArgs]] = {"text": TextArgs, "image": ImageArgs, "video": VideoArgs}


class GenerativeTool(BaseTool, abc.ABC):
    """A generative model as a LangChain tool; one instance per registry entry."""

    spec: ToolSpec

    def __init__(self, spec: ToolSpec, **kwargs: Any) -> None:
        super().__init__(
            spec=spec,
            name=spec.name,
            description=spec.description or f"{spec.task} with {spec.pipeline} ({spec.model}).",
            args_schema=ARGS_BY_INPUT[input_kind(spec.task)],
            **kwargs,
        )

    @property
    def output_suffix(self) -> str:
        return ".mp4" if output_kind(self.spec.task) == "video" else ".png"

    def _run(self, output_path: str, run_manager: Any = None, **inputs: Any) -> str:
        args = GenerationArgs(output_path=output_path, **inputs)
        retrying = Retrying(
            retry=retry_if_exception_type(TRANSIENT_ERRORS),
            stop=stop_after_attempt(self.spec.max_retries + 1),
            wait=wait_exponential(multiplier=0.5, max=8),
            reraise=True,
        )
        try:
            path = retrying(self._generate, args)
        except ToolError:
            raise
        except Exception as exc:
            raise ToolError(self.name, f"{type(exc).__name__}: {exc}") from exc
        if not Path(path).is_file() or Path(path).stat().st_size == 0:
            raise ToolError(self.name, f"finished but wrote no artifact at {path}.")
        return str(path)

    @abc.abstractmethod
    def _generate(self, args: GenerationArgs) -> Path:
        """Runs the model and writes the artifact to `args.output_path`."""

    def unload(self) -> None:
        """Frees whatever the tool holds (weights on a device); the next call loads again."""
