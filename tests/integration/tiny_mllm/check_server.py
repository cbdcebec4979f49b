"""Smoke-check a running tiny-mllm vLLM server through the ``openai`` client.

Usage::

    python check_server.py http://127.0.0.1:PORT/v1 [--model tiny-mllm] [--repeat N]

Sends chat completions with ``response_format`` = a strict JSON schema made
by pydantic (an enum, a bounded integer, a boolean and a string) and checks
that each reply parses and validates:

a. text only;
b. one image (base64 PNG data URL);
c. three images at once (how video is sent as sampled frames);
d. ``video_url``: a JPEG frame sequence (``data:video/jpeg;base64,F1,F2,..``,
   vLLM's own format) and, when PyAV is installed, a real MP4 data URL;
e. a plain chat completion without ``response_format`` (random text that
   must still stop by itself).

Prints the latency of each request and exits non-zero on the first failure.
"""

from __future__ import annotations

import argparse
import base64
import enum
import io
import json
import statistics
import sys
import time

from openai import OpenAI
from pydantic import BaseModel, ConfigDict, Field


class Color(str, enum.Enum):
    red = "red"
    green = "green"
    blue = "blue"


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    color: Color
    count: int = Field(ge=1, le=5)
    visible: bool
    note: str


SCHEMA = Answer.model_json_schema()
RESPONSE_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "x", "schema": SCHEMA, "strict": True},
}


def _png_data_url(seed: int, size: tuple[int, int] = (96, 64)) -> str:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, ((seed * 70) % 256, (seed * 130) % 256, (seed * 40) % 256))
    draw = ImageDraw.Draw(img)
    draw.rectangle((10 + seed * 5, 10, 40 + seed * 5, 40), fill=(255, 255, 255))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _frames(n: int, size: tuple[int, int] = (96, 64)):
    from PIL import Image, ImageDraw

    frames = []
    for i in range(n):
        img = Image.new("RGB", size, (20, 20, 60))
        ImageDraw.Draw(img).ellipse((5 + 8 * i, 20, 25 + 8 * i, 40), fill=(250, 200, 0))
        frames.append(img)
    return frames


def _jpeg_sequence_data_url(n: int = 4) -> str:
    parts = []
    for img in _frames(n):
        buf = io.BytesIO()
        img.save(buf, format="JPEG")
        parts.append(base64.b64encode(buf.getvalue()).decode())
    return "data:video/jpeg;base64," + ",".join(parts)


def _mp4_data_url(n: int = 8) -> str | None:
    try:
        import av  # PyAV
        import numpy as np
    except ImportError:
        return None
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        stream = None
        for codec in ("libx264", "h264", "mpeg4"):
            try:
                stream = container.add_stream(codec, rate=4)
                break
            except Exception:  # codec not built into this PyAV
                continue
        if stream is None:
            return None
        stream.width, stream.height = 96, 64
        stream.pix_fmt = "yuv420p"
        for img in _frames(n):
            frame = av.VideoFrame.from_ndarray(np.asarray(img), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return "data:video/mp4;base64," + base64.b64encode(buf.getvalue()).decode()


def _image_part(url: str) -> dict:
    return {"type": "image_url", "image_url": {"url": url}}


def _video_part(url: str) -> dict:
    return {"type": "video_url", "video_url": {"url": url}}


def _text_part(text: str) -> dict:
    return {"type": "text", "text": text}


class Failure(Exception):
    pass


def _whitespace_outside_strings(text: str) -> bool:
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in " \t\r\n":
            return True
    return False


def _structured(client: OpenAI, model: str, content, max_tokens: int | None) -> tuple[float, str, object]:
    kwargs = {} if max_tokens is None else {"max_tokens": max_tokens}
    t0 = time.perf_counter()
    resp = client.chat.completions.create(
        model=model,
        messages=[
            {"role": "system", "content": "Answer with JSON only."},
            {"role": "user", "content": content},
        ],
        response_format=RESPONSE_FORMAT,
        **kwargs,
    )
    dt = time.perf_counter() - t0
    choice = resp.choices[0]
    text = choice.message.content or ""
    if choice.finish_reason != "stop":
        raise Failure(f"finish_reason={choice.finish_reason!r}: {text!r}")
    try:
        json.loads(text)  # strict JSON: no raw control characters
        answer = Answer.model_validate_json(text)
    except Exception as exc:  # noqa: BLE001 - report any parse/validation error
        raise Failure(f"invalid reply {text!r}: {exc}") from exc
    if _whitespace_outside_strings(text):
        raise Failure(f"whitespace outside strings (disable_any_whitespace off?): {text!r}")
    usage = resp.usage
    return dt, f"prompt={usage.prompt_tokens} completion={usage.completion_tokens}", answer


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("base_url", help="e.g. http://127.0.0.1:8411/v1")
    ap.add_argument("--model", default="tiny-mllm")
    ap.add_argument("--repeat", type=int, default=3, help="requests per case (default 3)")
    ap.add_argument("--max-tokens", type=int, default=256,
                    help="max_tokens per request; 0 = do not send max_tokens")
    args = ap.parse_args(argv)
    max_tokens = args.max_tokens or None

    client = OpenAI(base_url=args.base_url, api_key="unused", timeout=120, max_retries=0)
    t0 = time.perf_counter()
    models = [m.id for m in client.models.list().data]
    print(f"models: {models} ({(time.perf_counter() - t0) * 1000:.0f} ms)")
    if args.model not in models:
        print(f"FAIL: {args.model!r} not served", file=sys.stderr)
        return 1
    print(f"schema: {json.dumps(SCHEMA, separators=(',', ':'))}")

    cases: list[tuple[str, object]] = [
        ("a. text", "Describe the weather as JSON."),
        ("b. one image", [_image_part(_png_data_url(1)), _text_part("Describe the image as JSON.")]),
        (
            "c. three images",
            [_image_part(_png_data_url(i)) for i in range(3)] + [_text_part("These are video frames. Describe.")],
        ),
        ("d1. video_url (jpeg frames)", [_video_part(_jpeg_sequence_data_url(4)), _text_part("Describe the video.")]),
    ]
    mp4 = _mp4_data_url()
    if mp4 is not None:
        cases.append(("d2. video_url (mp4)", [_video_part(mp4), _text_part("Describe the video.")]))
    else:
        print("d2. video_url (mp4): skipped, PyAV not installed")

    failures = 0
    for name, content in cases:
        times = []
        for i in range(args.repeat):
            try:
                dt, usage, answer = _structured(client, args.model, content, max_tokens)
            except Exception as exc:  # noqa: BLE001
                failures += 1
                print(f"FAIL {name} #{i}: {exc}")
                break
            times.append(dt)
            print(f"  {name} #{i}: {dt * 1000:.0f} ms, {usage}, {answer.model_dump_json()}")
        if times:
            print(f"ok   {name}: median {statistics.median(times) * 1000:.0f} ms over {len(times)}")

    # e. free text: must stop by itself (the model favours <|im_end|>).
    times = []
    for i in range(args.repeat):
        t1 = time.perf_counter()
        resp = client.chat.completions.create(
            model=args.model, messages=[{"role": "user", "content": "Say something."}],
            **({} if max_tokens is None else {"max_tokens": max_tokens}),
        )
        dt = time.perf_counter() - t1
        choice = resp.choices[0]
        print(f"  e. plain text #{i}: {dt * 1000:.0f} ms, finish={choice.finish_reason}, "
              f"{resp.usage.completion_tokens} tokens: {choice.message.content!r}")
        if choice.finish_reason != "stop" or not choice.message.content:
            failures += 1
            print(f"FAIL e. plain text #{i}")
        times.append(dt)
    print(f"ok   e. plain text: median {statistics.median(times) * 1000:.0f} ms over {len(times)}")

    print("ALL OK" if not failures else f"{failures} FAILURE(S)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
