"""Input kinds are read from content: real files of every format we accept, and bad ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spagent_graph.errors import InputError
from spagent_graph.media import detect_grid, inspect_media, read_frames, sample_evenly, write_video
from tests.conftest import panning_frames, smooth_picture, write_test_video


@pytest.mark.parametrize("fmt, suffix", [("PNG", ".png"), ("JPEG", ".jpg"), ("WEBP", ".webp"), ("GIF", ".gif")])
def test_still_images_are_single_images(tmp_path: Path, fmt: str, suffix: str):
    path = tmp_path / f"still{suffix}"
    Image.fromarray(smooth_picture(3)).save(path, format=fmt)
    info = inspect_media(path, "image")
    assert (info.kind, info.container, info.frame_count, info.width, info.height) == ("single image", fmt, 1, 64, 64)


def test_gif_with_many_frames_is_a_video(tmp_path: Path):
    path = tmp_path / "anim.gif"
    frames = [Image.fromarray(f) for f in panning_frames(5)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=250, loop=0)  # GIF keeps centiseconds: 250 ms is exact
    info = inspect_media(path, "image")
    assert (info.kind, info.container, info.frame_count) == ("video", "GIF", 5)
    assert info.fps == pytest.approx(4.0)
    assert len(read_frames(path)) == 5


@pytest.mark.parametrize("codec, suffix, container", [("libx264", ".mp4", "mp4"), ("libvpx-vp9", ".webm", "webm")])
def test_videos(tmp_path: Path, codec: str, suffix: str, container: str):
    path = write_test_video(tmp_path / f"clip{suffix}", panning_frames(6), codec=codec)
    info = inspect_media(path, "video")
    assert (info.kind, info.container, info.frame_count, info.width, info.height) == ("video", container, 6, 64, 64)
    assert info.fps == pytest.approx(8.0)


def test_mp4_named_png_is_detected_as_video_by_content(tmp_path: Path):
    path = write_test_video(tmp_path / "clip.mp4", panning_frames(4))
    disguised = path.rename(tmp_path / "clip.png")
    assert inspect_media(disguised, "image").kind == "video"


def test_grid_of_pictures_counts_as_video_and_is_cut_into_frames(tmp_path: Path):
    cells = panning_frames(6)  # frames of one shot: a grid of unrelated pictures is a collage, not a video
    grid = np.concatenate([np.concatenate(cells[0:3], axis=1), np.concatenate(cells[3:6], axis=1)], axis=0)
    path = tmp_path / "grid.png"
    Image.fromarray(grid).save(path)
    info = inspect_media(path, "image")
    assert (info.kind, info.grid, info.frame_count) == ("video", (2, 3), 6)
    frames = read_frames(path)
    assert len(frames) == 6 and frames[4].size == (64, 64)
    assert np.array_equal(np.asarray(frames[4]), cells[4])


def test_grid_with_white_gutters(tmp_path: Path):
    canvas = np.full((136, 136, 3), 255, np.uint8)
    for index, (row, col) in enumerate([(0, 0), (0, 72), (72, 0), (72, 72)]):
        canvas[row : row + 64, col : col + 64] = panning_frames(4)[index]
    assert detect_grid(canvas) == (2, 2)


@pytest.mark.parametrize("seed", range(5))
def test_single_photos_are_not_grids(seed: int):
    assert detect_grid(smooth_picture(seed, size=256)) is None


def test_missing_file_names_the_input(tmp_path: Path):
    with pytest.raises(InputError, match=r"`image`.*does not exist"):
        inspect_media(tmp_path / "nope.png", "image")


def test_text_file_named_png_is_refused(tmp_path: Path):
    path = tmp_path / "notes.png"
    path.write_text("this is not a picture")
    with pytest.raises(InputError, match=r"`image`.*notes\.png.*neither an image.*nor a video"):
        inspect_media(path, "image")


def test_zero_byte_file_is_refused(tmp_path: Path):
    path = tmp_path / "empty.mp4"
    path.touch()
    with pytest.raises(InputError, match=r"`video`.*empty \(0 bytes\)"):
        inspect_media(path, "video")


def test_truncated_png_is_refused(tmp_path: Path):
    path = tmp_path / "cut.png"
    Image.fromarray(smooth_picture(2, size=128)).save(path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(InputError, match=r"`image`.*cannot be decoded"):
        inspect_media(path, "image")


def test_written_video_round_trips(tmp_path: Path):
    frames = panning_frames(7, size=30)  # odd-free but not a multiple of 16
    path = write_video([f / 255.0 for f in frames], tmp_path / "out.mp4", fps=12)
    info = inspect_media(path, "video")
    assert (info.frame_count, info.width, info.height, info.fps) == (7, 30, 30, 12.0)


def test_odd_sides_are_padded_to_even_for_h264(tmp_path: Path):
    frames = [np.zeros((33, 31, 3), np.uint8)] * 3
    info = inspect_media(write_video(frames, tmp_path / "odd.mp4", fps=8), "video")
    assert (info.width, info.height) == (32, 34)


def test_sample_evenly_keeps_first_and_last():
    assert sample_evenly(list(range(10)), 4) == [0, 3, 6, 9]
    assert sample_evenly(list(range(3)), 5) == [0, 1, 2]
    assert sample_evenly(list(range(10)), 1) == [0]


def test_a_soundtrack_is_written_beside_the_frames_and_cut_at_the_last_one(tmp_path):
    import av

    frames = [np.full((32, 32, 3), 40 * i, np.uint8) for i in range(6)]  # 0.75 s at 8 fps
    tone = np.sin(np.linspace(0, 880 * np.pi, 16000)).astype(np.float32)  # 1 s of mono at 16 kHz
    path = write_video(frames, tmp_path / "sound.mp4", fps=8, audio=tone, sample_rate=16000)
    with av.open(str(path)) as container:
        (sound,) = container.streams.audio
        assert (sound.codec_context.name, sound.rate, sound.channels) == ("aac", 16000, 1)
        samples = sum(frame.samples for frame in container.decode(audio=0))
    assert samples / 16000 == pytest.approx(0.75, abs=2048 / 16000)
    assert len(read_frames(path)) == 6

    with pytest.raises(ValueError, match="3 channels: expected mono or stereo"):
        write_video(frames, tmp_path / "surround.mp4", fps=8, audio=np.zeros((3, 100), np.float32), sample_rate=16000)
    with pytest.raises(ValueError, match="needs its sample rate"):
        write_video(frames, tmp_path / "norate.mp4", fps=8, audio=tone)
