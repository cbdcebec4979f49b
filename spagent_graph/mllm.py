"""A client for any OpenAI-compatible multimodal LLM endpoint (vLLM first).

Every question goes out with a JSON schema generated from a pydantic type
(`response_format` of type `json_schema`, which vLLM enforces with its
structured-output backend) and comes back parsed into that type. Images go as
data URLs; a video goes as evenly sampled frames, or as one `video_url` for
servers whose model takes video.
"""

from __future__ import annotations

import base64
import collections
import io
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Literal, TypeVar

import httpx
from PIL import Image
from pydantic import BaseModel, ValidationError
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from .errors import MLLMResponseError, MLLMUnavailableError
from .media import read_frames

__all__ = ["Answer", "CallRecord", "MLLMClient", "Visual"]

SchemaT = TypeVar("SchemaT", bound=BaseModel)


def _transient_errors() -> tuple[type[Exception], ...]:
    """Worth retrying: the server was unreachable for a moment, slow, overloaded or restarting."""
    import openai

    return (openai.APIConnectionError, openai.APITimeoutError, openai.InternalServerError, openai.RateLimitError)


@dataclass(frozen=True)
class Visual:
    """A visual input to show the MLLM: a still image, or a video (sampled to frames)."""

    path: Path
    kind: Literal["single image", "video"]


@dataclass(frozen=True)
class Answer(Generic[SchemaT]):
    parsed: SchemaT
    raw: str
    seconds: float


@dataclass(frozen=True)
class CallRecord:
    """One request as it went out and came back; kept so callers can audit every call."""

    schema_name: str
    response_format: dict
    content_types: tuple[str, ...]
    raw: str | None
    parsed: bool
    seconds: float
    error: str | None = None


@dataclass
class MLLMClient:
    """Structured questions to an OpenAI-compatible endpoint.

    `model=None` asks the server for its first model; `api_key=None` sends
    $OPENAI_API_KEY, or a placeholder (vLLM asks for none). The settings come
    from a run's `Context` through `Services.mllm`.
    """

    base_url: str
    model: str | None = None
    api_key: str | None = None
    timeout_s: float = 120.0
    max_retries: int = 3
    max_frames: int = 8
    max_images_per_request: int = 8
    max_image_side: int = 448
    video_input: Literal["frames", "video_url"] = "frames"
    max_tokens: int = 512
    history_size: int = 256
    http_client: httpx.Client | None = field(default=None, repr=False)
    calls: collections.deque[CallRecord] = field(init=False, repr=False)
    _client: openai.OpenAI = field(init=False, repr=False)
    _model_lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        import openai  # here, not at the top: the graph and the CLI import this module without asking anything

        self.base_url = self.base_url.rstrip("/")
        self.calls = collections.deque(maxlen=self.history_size)
        key = self.api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        # Retries are ours (tenacity, below), so the SDK's own are off.
        self._client = openai.OpenAI(
            base_url=self.base_url, api_key=key, timeout=self.timeout_s, max_retries=0, http_client=self.http_client
        )

    @property
    def model_id(self) -> str:
        with self._model_lock:
            if self.model is None:
                models = self._with_retries(lambda: self._client.models.list().data)
                if not models:
                    raise MLLMUnavailableError(self.base_url, RuntimeError("the server lists no models"))
                self.model = models[0].id
            return self.model

    def ask(
        self,
        prompt: str,
        schema: type[SchemaT],
        visuals: Sequence[Visual] = (),
        *,
        system: str | None = None,
        max_frames: int | None = None,
    ) -> Answer[SchemaT]:
        """Asks one question and returns the answer parsed into `schema`.

        `max_frames` overrides the client's frames per video for this question,
        still within the request's image budget.
        """
        import openai

        content = [{"type": "text", "text": prompt}, *self._visual_parts(visuals, max_frames or self.max_frames)]
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": content}]
        response_format = {
            "type": "json_schema",
            "json_schema": {"name": schema.__name__, "schema": schema.model_json_schema(), "strict": True},
        }
        content_types = tuple(part["type"] for part in content)
        started = time.perf_counter()
        raw: str | None = None
        try:
            completion = self._with_retries(
                lambda: self._client.chat.completions.create(
                    model=self.model_id,
                    messages=messages,
                    response_format=response_format,
                    max_tokens=self.max_tokens,
                    temperature=0.0,
                )
            )
            raw = completion.choices[0].message.content or ""
            parsed = schema.model_validate_json(raw)
        except ValidationError as exc:
            error = MLLMResponseError(schema.__name__, raw or "", f"{exc.error_count()} validation errors")
            self._log(schema, response_format, content_types, raw, started, error)
            raise error from exc
        except openai.APIStatusError as exc:
            error = MLLMResponseError(schema.__name__, raw or "", f"HTTP {exc.status_code}: {exc.message}")
            self._log(schema, response_format, content_types, raw, started, error)
            raise error from exc
        except MLLMUnavailableError as exc:
            self._log(schema, response_format, content_types, raw, started, exc)
            raise
        seconds = time.perf_counter() - started
        self._log(schema, response_format, content_types, raw, started, None)
        return Answer(parsed=parsed, raw=raw, seconds=seconds)

    def _with_retries(self, call):
        import openai

        retrying = Retrying(
            retry=retry_if_exception_type(_transient_errors()),
            stop=stop_after_attempt(self.max_retries + 1),
            wait=wait_exponential(multiplier=0.5, max=8),
            reraise=True,
        )
        try:
            return retrying(call)
        except (openai.APIConnectionError, openai.APITimeoutError) as exc:
            raise MLLMUnavailableError(self.base_url, exc) from exc

    def _log(self, schema, response_format, content_types, raw, started, error) -> None:
        self.calls.append(
            CallRecord(
                schema_name=schema.__name__,
                response_format=response_format,
                content_types=content_types,
                raw=raw,
                parsed=error is None,
                seconds=time.perf_counter() - started,
                error=str(error) if error else None,
            )
        )

    # Media ---------------------------------------------------------------------

    def _visual_parts(self, visuals: Sequence[Visual], max_frames: int) -> list[dict]:
        # Servers cap images per prompt (vLLM's --limit-mm-per-prompt): stills take one
        # image each and the videos share what is left, each at most `max_frames`.
        stills = sum(1 for visual in visuals if visual.kind == "single image")
        videos = len(visuals) - stills
        frames_per_video = min(max_frames, max(1, (self.max_images_per_request - stills) // max(videos, 1)))
        parts: list[dict] = []
        for visual in visuals:
            if visual.kind == "video" and self.video_input == "video_url" and Path(visual.path).suffix in (".mp4", ".webm"):
                mime = "video/mp4" if Path(visual.path).suffix == ".mp4" else "video/webm"
                data = base64.b64encode(Path(visual.path).read_bytes()).decode()
                parts.append({"type": "video_url", "video_url": {"url": f"data:{mime};base64,{data}"}})
                continue
            if visual.kind == "single image":
                frames = [Image.open(visual.path).convert("RGB")]
            else:
                frames = read_frames(visual.path, max_frames=frames_per_video)
            parts.extend({"type": "image_url", "image_url": {"url": self._data_url(frame)}} for frame in frames)
        return parts

    def _data_url(self, image: Image.Image) -> str:
        image = image.convert("RGB")
        image.thumbnail((self.max_image_side, self.max_image_side))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
