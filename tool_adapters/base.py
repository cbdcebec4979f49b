"""The LangChain tool every generative model is wrapped in.

A tool takes the request's prompt and the previous step's artifact (an image
or a video file), writes its own artifact to the path it is given, and
returns that path. Before it runs, the request is fitted to what the model
can make (`fit`): frame counts to the model's rule, sizes to its multiple and
largest side, input images cropped and scaled, input videos resampled.
Invoked with a tool call, the tool answers a `ToolMessage` whose `artifact`
lists those changes (`{"adjustments": [...]}`), so the caller can record them.

During a run the tool reports each denoising step to an optional progress
callback (passed as `config["configurable"]["progress"]`) and stops a step
that runs past the entry's `timeout_s`.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from PIL import Image
from pydantic import BaseModel, Field
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from spagent_graph.errors import SpagentError, ToolError, ToolTimeoutError
from spagent_graph.manifest import ToolRecord
from spagent_graph.media import inspect_media
from spagent_graph.principles import input_kind, output_kind

from .acceleration import Levers
from .registry import ToolSpec

__all__ = ["ARGS_BY_INPUT", "Fitted", "GenerationArgs", "GenerativeTool", "StepControl", "TRANSIENT_ERRORS"]

# Failures worth another try: a hub or network hiccup while loading, a file
# system that was briefly busy. Errors in the model itself are not retried.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError, BlockingIOError)

Progress = Callable[[dict[str, Any]], None]


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


@dataclass(frozen=True)
class Fitted:
    args: GenerationArgs
    adjustments: tuple[str, ...]


@dataclass
class StepControl:
    """Reports denoising steps and enforces the step's deadline."""

    tool: str
    progress: Progress | None = None
    deadline: float | None = None
    timeout_s: float | None = None
    levers: Levers = field(default_factory=Levers)  # the run's acceleration for this tool; plain by default
    notes: list[str] = field(default_factory=list)  # what the call changed from the request, found as it ran
    made_with: ToolRecord | None = None  # set as the call ends (or learnt from elsewhere: a Ray replica)

    def step(self, step: int, total: int) -> None:
        if self.progress is not None:
            self.progress({"tool": self.tool, "step": step, "total": total})
        self.check_deadline()

    def check_deadline(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise ToolTimeoutError(self.tool, self.timeout_s or 0.0)


class GenerativeTool(BaseTool, abc.ABC):
    """A generative model as a LangChain tool; one instance per registry entry."""

    spec: ToolSpec
    response_format: str = "content_and_artifact"

    def __init__(self, spec: ToolSpec, **kwargs: Any) -> None:
        super().__init__(
            spec=spec,
            name=spec.name,
            description=spec.description or f"{spec.task} with {spec.pipeline or spec.command} ({spec.model}).",
            args_schema=ARGS_BY_INPUT[input_kind(spec.task)],
            **kwargs,
        )

    @property
    def output_suffix(self) -> str:
        return ".mp4" if output_kind(self.spec.task) == "video" else ".png"

    def fit(self, args: GenerationArgs | dict[str, Any]) -> Fitted:
        """The request as this model will run it, and a note for every change."""
        if isinstance(args, dict):
            args = GenerationArgs(**args)
        frames, height, width, notes = self.spec.fit_size(args.num_frames, args.height, args.width)
        if args.image:
            with Image.open(args.image) as image:
                if image.size != (width, height):
                    notes.append(f"input image {image.size[0]}x{image.size[1]} -> {width}x{height} (scaled, centre-cropped)")
        if args.video:
            info = inspect_media(args.video, "video")
            if info.frame_count != frames:
                notes.append(f"input video {info.frame_count} frames -> {frames} (resampled evenly)")
            if (info.width, info.height) != (width, height):
                notes.append(f"input video {info.width}x{info.height} -> {width}x{height} (scaled, centre-cropped)")
        fitted = args.model_copy(update={"height": height, "width": width, "num_frames": frames})
        return Fitted(args=fitted, adjustments=tuple(notes))

    def _run(
        self, output_path: str, config: RunnableConfig, run_manager: Any = None, **inputs: Any
    ) -> tuple[str, dict[str, list[str]]]:
        fitted = self.fit(GenerationArgs(output_path=output_path, **inputs))
        configurable = config.get("configurable") or {}
        timeout = self.spec.timeout_s
        control = StepControl(
            tool=self.name, progress=configurable.get("progress"), timeout_s=timeout,
            deadline=time.monotonic() + timeout if timeout else None,
            levers=(configurable.get("levers") or {}).get(self.name) or Levers(),
        )
        retrying = Retrying(
            retry=retry_if_exception_type(TRANSIENT_ERRORS),
            stop=stop_after_attempt(self.spec.max_retries + 1),
            wait=wait_exponential(multiplier=0.5, max=8),
            reraise=True,
        )
        try:
            path = retrying(self._generate, fitted.args, control)
        except SpagentError:  # already says what went wrong and where
            raise
        except Exception as exc:
            raise ToolError(self.name, f"{type(exc).__name__}: {exc}") from exc
        if not Path(path).is_file() or Path(path).stat().st_size == 0:
            raise ToolError(self.name, f"finished but wrote no artifact at {path}.")
        # A retried attempt may note the same thing again; what made the file goes to the run's manifest.
        return str(path), {"adjustments": list(dict.fromkeys([*fitted.adjustments, *control.notes])),
                           "options": fitted.args.model_dump(mode="json", exclude={"output_path"}),
                           "made_with": self._described(control)}

    def _described(self, control: StepControl) -> dict[str, Any]:
        try:
            return (control.made_with or self.made_with(control.levers)).model_dump(mode="json")
        except Exception as exc:  # noqa: BLE001 - the video is made; a gap in its record must not lose it
            return ToolRecord(name=self.name, adapter=self.spec.adapter, entry=self.spec.model_dump(mode="json"),
                              notes=[f"not fully recorded: {type(exc).__name__}: {exc}"]).model_dump(mode="json")

    def made_with(self, levers: Levers) -> ToolRecord:
        """What this tool ran as, for the run's manifest: its registry entry, and where an adapter knows
        them, its pipeline class, dtype, device and weights."""
        return ToolRecord(name=self.name, adapter=self.spec.adapter, entry=self.spec.model_dump(mode="json"))

    @abc.abstractmethod
    def _generate(self, args: GenerationArgs, control: StepControl) -> Path:
        """Runs the model on fitted `args` and writes the artifact to `args.output_path`."""

    def warm_up(self, levers: Levers | None = None, *, steps: int = 2) -> float:
        """Gets ready for a first call before one comes (a diffusers tool loads, and compiles what its
        levers compile); the seconds it took. Nothing to do by default."""
        return 0.0

    def unload(self) -> None:
        """Frees whatever the tool holds (weights on a device); the next call loads again."""
