"""What a visual input really is, and frames in and out of files.

Kinds are read from the content, never from the file name: a PNG that holds
an MP4 is a video, a text file named `.png` is an error. Following the paper,
an animated image (GIF, WEBP, APNG) and a still image made of a grid of
several pictures both count as video.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal, TypeVar

import os
import struct
import zlib

import av
import numpy as np
from PIL import Image, ImageSequence, UnidentifiedImageError

from .errors import InputError
from .grid import cut_grid, find_grid
from .state import MediaInfo, Request

__all__ = [
    "detect_grid",
    "inspect_media",
    "inspect_request_visual",
    "read_frames",
    "resample",
    "png_chunks",
    "sample_evenly",
    "tag_media",
    "write_image",
    "write_poster",
    "write_video",
]

T = TypeVar("T")

def inspect_media(
    path: Path | str,
    input_name: Literal["image", "video"],
    *,
    max_side: int | None = None,
    max_frames: int | None = None,
) -> MediaInfo:
    """Reads enough of `path` to say whether it is a single image or a video.

    Raises `InputError` naming `input_name` when the file is missing, empty,
    neither an image nor a video that Pillow or FFmpeg can decode, or larger
    than `max_side` pixels on a side or `max_frames` frames (checked from the
    headers where they tell, before anything large is decoded).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(input_name, "file does not exist.", path)
    if not path.is_file():
        raise InputError(input_name, "is not a regular file.", path)
    if path.stat().st_size == 0:
        raise InputError(input_name, "file is empty (0 bytes); expected an image or a video.", path)

    limits = _Limits(input_name, path, max_side, max_frames)
    still = _inspect_as_image(path, input_name, limits)
    if still is not None:
        return still
    moving = _inspect_as_video(path, input_name, limits)
    if moving is not None:
        return moving
    raise InputError(
        input_name,
        "is neither an image (PNG, JPEG, WEBP, GIF, ...) nor a video (MP4, WEBM, ...) that can be decoded.",
        path,
    )


def inspect_request_visual(request: Request, **limits: int | None) -> MediaInfo | None:
    """The request's visual input, inspected by content; None for a text-only request.
    `limits` are `inspect_media`'s `max_side` and `max_frames`."""
    if request.image is not None:
        return inspect_media(request.image, "image", **limits)
    if request.video is not None:
        return inspect_media(request.video, "video", **limits)
    return None


@dataclass(frozen=True)
class _Limits:
    input_name: str
    path: Path
    max_side: int | None
    max_frames: int | None

    def check(self, width: int, height: int, frames: int | None) -> None:
        if self.max_side is not None and max(width, height) > self.max_side:
            raise InputError(self.input_name, f"is {width}x{height}; the input policy allows at most "
                             f"{self.max_side} pixels on a side (Context.max_input_side).", self.path)
        if self.max_frames is not None and frames is not None and frames > self.max_frames:
            raise InputError(self.input_name, f"has {frames} frames; the input policy allows at most "
                             f"{self.max_frames} (Context.max_input_frames).", self.path)


def _inspect_as_image(path: Path, input_name: Literal["image", "video"], limits: _Limits) -> MediaInfo | None:
    try:
        with Image.open(path) as image:
            container = image.format or "image"
            frame_count = getattr(image, "n_frames", 1)
            limits.check(*image.size, frame_count)  # from the header, before decoding
            image.load()  # a truncated file fails here rather than later in a tool
            width, height = image.size
            rgb = image.convert("RGB") if frame_count == 1 else None
            duration_ms = image.info.get("duration")
    except UnidentifiedImageError:
        return None
    except Image.DecompressionBombError as exc:
        raise InputError(input_name, f"declares a size too large to decode safely ({exc})", path) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(input_name, f"looks like an image but cannot be decoded: {exc}", path) from exc

    if frame_count > 1:
        fps = 1000.0 / duration_ms if duration_ms else None
        return MediaInfo(
            input_name=input_name, path=path, kind="video", container=container,
            width=width, height=height, frame_count=frame_count, fps=fps,
        )
    grid = detect_grid(np.asarray(rgb))
    rows, cols = grid if grid else (1, 1)
    return MediaInfo(
        input_name=input_name, path=path, kind="video" if grid else "single image", container=container,
        width=width, height=height, frame_count=rows * cols, grid=grid,
    )


def _inspect_as_video(path: Path, input_name: Literal["image", "video"], limits: _Limits) -> MediaInfo | None:
    try:
        container = av.open(str(path))
    except (av.error.InvalidDataError, UnicodeDecodeError):
        return None
    except av.error.FFmpegError as exc:
        raise InputError(input_name, f"cannot be opened as a video: {exc}", path) from exc
    with container:
        if not container.streams.video:
            return None
        stream = container.streams.video[0]
        if stream.codec_context is None:  # FFmpeg has no decoder for this codec
            tag = getattr(stream, "codec_tag", None) or "unknown"
            raise InputError(input_name, f"uses a video codec that cannot be decoded here ({tag!r}); "
                             "expected H.264, H.265, VP8/9, AV1, MPEG-4 or another common codec.", path)
        limits.check(stream.codec_context.width, stream.codec_context.height, stream.frames or None)
        frame_count = 0
        try:
            for _ in container.decode(stream):
                frame_count += 1
                if limits.max_frames is not None and frame_count > limits.max_frames:
                    limits.check(0, 0, frame_count)  # the header did not say; stop counting here
        except av.error.FFmpegError as exc:
            if frame_count == 0 and _is_image_demuxer(container.format.name):
                return None  # FFmpeg guessed an image format from the name; Pillow already said no
            raise InputError(input_name, f"video stream cannot be decoded: {exc}", path) from exc
        if frame_count == 0:
            raise InputError(input_name, "video has no decodable frames.", path)
        fps = float(stream.average_rate) if stream.average_rate else None
        return MediaInfo(
            input_name=input_name, path=path, kind="video" if frame_count > 1 else "single image",
            container=_container_name(container.format.name), width=stream.codec_context.width,
            height=stream.codec_context.height, frame_count=frame_count, fps=fps,
        )


def _is_image_demuxer(name: str) -> bool:
    return name.endswith("_pipe") or name == "image2"


def _container_name(ffmpeg_names: str) -> str:
    # FFmpeg names the demuxer by its whole family ("mov,mp4,m4a,..."); say the common one.
    names = ffmpeg_names.split(",")
    for preferred in ("mp4", "webm", "matroska", "avi", "gif"):
        if preferred in names:
            return preferred
    return names[0]


def detect_grid(rgb: np.ndarray) -> tuple[int, int] | None:
    """(rows, columns) when a still image is a grid of video frames (see `spagent_graph.grid`), else None."""
    grid = find_grid(rgb)
    return (grid.rows, grid.cols) if grid else None


def read_frames(path: Path | str, max_frames: int | None = None) -> list[Image.Image]:
    """Decodes a visual input into RGB frames.

    A grid image is cut into its pictures (row by row); an animated image or a
    video gives its frames; a still image gives one frame. With `max_frames`,
    frames are sampled evenly, first and last included.
    """
    path = Path(path)
    frames: list[Image.Image] = []
    try:
        with Image.open(path) as image:
            frames = [frame.convert("RGB") for frame in ImageSequence.Iterator(image)]
    except UnidentifiedImageError:
        with av.open(str(path)) as container:
            frames = [frame.to_image() for frame in container.decode(video=0)]
    if len(frames) == 1:
        grid = find_grid(np.asarray(frames[0]))
        if grid:
            frames = cut_grid(frames[0], grid)  # the pictures alone, without their gutters or border
    if max_frames is not None and len(frames) > max_frames:
        frames = sample_evenly(frames, max_frames)
    return frames


def sample_evenly(items: Sequence[T], count: int) -> list[T]:
    """`count` items spread evenly over `items`, the first and the last included."""
    if count <= 0:
        return []
    if count >= len(items):
        return list(items)
    if count == 1:
        return [items[0]]
    positions = np.linspace(0, len(items) - 1, count).round().astype(int)
    return [items[i] for i in positions]


def resample(items: Sequence[T], count: int) -> list[T]:
    """Exactly `count` items spread evenly over `items`: drops some, or repeats some."""
    if not items or count <= 0:
        return []
    positions = np.linspace(0, len(items) - 1, count).round().astype(int)
    return [items[i] for i in positions]


def write_video(
    frames: Sequence[Image.Image | np.ndarray], path: Path | str, fps: int, *, preset: str = "ultrafast",
    crf: int = 18, audio: np.ndarray | None = None, sample_rate: int | None = None,
) -> Path:
    """Writes frames as an H.264 MP4 (yuv420p) that browsers play, and `audio` as its AAC soundtrack.

    H.264 in 4:2:0 needs even sides, so an odd side is padded by one pixel.
    Float frames in [0, 1] and uint8 frames are both accepted. The x264
    preset defaults to `ultrafast`: writing is on every step's critical
    path, and it is about 4x faster than `veryfast` for files a little larger.
    `audio` is a waveform in [-1, 1], (channels, samples) or (samples,), at
    `sample_rate`; what runs past the last frame is cut.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = [_as_uint8(frame) for frame in frames]
    if not arrays:
        raise ValueError(f"No frames to write to {path}.")
    height, width = arrays[0].shape[:2]
    even_h, even_w = height + height % 2, width + width % 2
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height = even_w, even_h
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": preset}
        # Every stream is declared before the first packet: the container's header is written then.
        sound = _audio_stream(container, audio, sample_rate) if audio is not None else None
        for array in arrays:
            if array.shape[:2] != (even_h, even_w):
                array = np.pad(array, ((0, even_h - array.shape[0]), (0, even_w - array.shape[1]), (0, 0)), mode="edge")
            container.mux(stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")))
        container.mux(stream.encode(None))
        if sound is not None:
            audio_stream, layout = sound
            samples = round(len(arrays) / fps * sample_rate)
            track = np.atleast_2d(np.asarray(audio, dtype=np.float32))[:, :samples]
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(np.clip(track, -1, 1)), format="fltp", layout=layout)
            frame.sample_rate = sample_rate
            container.mux(audio_stream.encode(frame))
            container.mux(audio_stream.encode(None))
    return path


def _audio_stream(container: Any, audio: np.ndarray, sample_rate: int | None) -> tuple[Any, str]:
    if not sample_rate:
        raise ValueError("Audio to write needs its sample rate.")
    channels = np.atleast_2d(audio).shape[0]
    if channels > 2:
        raise ValueError(f"Audio with {channels} channels: expected mono or stereo, as (channels, samples).")
    layout = "stereo" if channels == 2 else "mono"
    return container.add_stream("aac", rate=sample_rate, layout=layout), layout


def write_image(image: Image.Image | np.ndarray, path: Path | str) -> Path:
    """Writes a PNG with light compression: it is on a step's critical path, and size matters less."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    picture = image.convert("RGB") if isinstance(image, Image.Image) else Image.fromarray(_as_uint8(image))
    picture.save(path, compress_level=1)
    return path


def tag_media(path: Path | str, key: str, text: str) -> Path:
    """Stores `text` under `key` inside an MP4 (a metadata tag, which ffprobe and PyAV list) or a
    PNG (an iTXt chunk, in PIL's `Image.info`), with the pictures' bytes left as they are.

    An MP4's packets are copied into a new file with the tag (no re-encoding) that replaces the old
    one whole, so a reader never meets half a file. A PNG gets the chunk after its header chunk;
    a chunk of the same key already there is replaced."""
    path = Path(path)
    with open(path, "rb") as file:
        head = file.read(16)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tagging")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        partial.write_bytes(_png_with_text(path.read_bytes(), key, text))
    elif head[4:8] == b"ftyp":
        # mov/mp4 writes only the standard tags unless told to write any key as an mdta item.
        with av.open(str(path)) as source, av.open(str(partial), mode="w", format="mp4",
                                                   options={"movflags": "use_metadata_tags"}) as target:
            target.metadata.update({k: v for k, v in source.metadata.items() if k not in ("major_brand",
                                    "minor_version", "compatible_brands", "encoder")})
            target.metadata[key] = text
            streams = {s.index: target.add_stream_from_template(s) for s in source.streams if s.type in ("video", "audio")}
            for packet in source.demux(*[s for s in source.streams if s.index in streams]):
                if packet.dts is None:  # the demuxer's empty packet at the end of each stream
                    continue
                packet.stream = streams[packet.stream.index]
                target.mux(packet)
    else:
        raise ValueError(f"{path}: only MP4 videos and PNG pictures carry tags here.")
    partial.replace(path)
    return path


def png_chunks(data: bytes) -> list[tuple[bytes, bytes, bytes]]:
    """A PNG file's chunks after its signature: (type, body, the chunk's bytes whole)."""
    chunks, position = [], 8
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        end = position + 12 + length
        chunks.append((kind, data[position + 8:position + 8 + length], data[position:end]))
        position = end
    return chunks


def _png_with_text(data: bytes, key: str, text: str) -> bytes:
    chunks = [whole for kind, body, whole in png_chunks(data)
              if not (kind == b"iTXt" and body.split(b"\0", 1)[0] == key.encode("latin-1"))]
    # iTXt: keyword, no compression, no language or translated keyword, UTF-8 text.
    body = key.encode("latin-1") + b"\0\0\0\0\0" + text.encode("utf-8")
    chunk = struct.pack(">I", len(body)) + b"iTXt" + body + struct.pack(">I", zlib.crc32(b"iTXt" + body) & 0xFFFFFFFF)
    return data[:8] + chunks[0] + chunk + b"".join(chunks[1:])


def write_poster(media: Path | str, poster: Path | str) -> Path:
    """Writes the middle picture of a video, an animated image or a grid as a PNG at `poster`
    (for a still image, the image itself), for a page to show before the video plays.

    A video is decoded only up to its middle frame when its header gives the frame count,
    so a long input costs no more than half a pass; without a count the first frame is used.
    """
    media = Path(media)
    try:
        with Image.open(media):
            pass
    except UnidentifiedImageError:
        picture = _middle_video_frame(media)
    else:
        frames = read_frames(media)  # images and GIFs are small; a grid is cut into its pictures here
        picture = frames[len(frames) // 2]
    return write_image(picture, poster)


def _middle_video_frame(path: Path) -> Image.Image:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        middle = (stream.frames or 0) // 2
        last = None
        for index, frame in enumerate(container.decode(stream)):
            last = frame
            if index >= middle:
                break
    if last is None:
        raise ValueError(f"{path} has no decodable video frame to make a poster from.")
    # A header that overstates the count leaves the last frame decoded, which is still a fair poster.
    return last.to_image()


def _as_uint8(frame: Image.Image | np.ndarray) -> np.ndarray:
    if isinstance(frame, Image.Image):
        return np.asarray(frame.convert("RGB"))
    array = np.asarray(frame)
    if array.dtype != np.uint8:
        array = (np.clip(array, 0.0, 1.0) * 255).round().astype(np.uint8)
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    return array[..., :3]
