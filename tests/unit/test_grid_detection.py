"""A still image counts as a video only when it is a grid of frames: panels of equal size at
straight seams, at least three, each like the one before it. The hard set below holds photos
that have seams without being grids, and grids of real video frames in several layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spagent_graph.media import detect_grid, read_frames
from tests.conftest import panning_frames, smooth_picture, write_test_video

SIZE = 96


def sky_and_sea(width: int = 2 * SIZE, height: int = 2 * SIZE, horizon: float = 0.5) -> np.ndarray:
    """A seascape: a bright sky gradient over a dark, textured sea, the horizon a sharp line."""
    rng = np.random.default_rng(3)
    image = np.zeros((height, width, 3), np.float32)
    line = int(height * horizon)
    fade = np.linspace(0.95, 0.6, line)[:, None, None]
    image[:line] = fade * np.array([0.55, 0.75, 1.0])
    waves = Image.fromarray((rng.random((12, 24)) * 255).astype(np.uint8)).resize((width, height - line),
                                                                                   Image.BICUBIC)
    image[line:] = np.array([0.05, 0.25, 0.35]) + 0.15 * (np.asarray(waves, np.float32)[..., None] / 255)
    return (np.clip(image, 0, 1) * 255).astype(np.uint8)


def with_pole(image: np.ndarray) -> np.ndarray:
    out = image.copy()
    middle = out.shape[1] // 2
    out[:, middle - 1 : middle + 2] = 235
    return out


def door_frame() -> np.ndarray:
    wall = np.full((2 * SIZE, 3 * SIZE, 3), (200, 180, 150), np.uint8)
    wall[int(0.15 * 2 * SIZE):, SIZE : 2 * SIZE] = (60, 40, 30)  # the open door: dark inside
    wall[:, SIZE - 3 : SIZE + 3] = (250, 250, 250)  # the frame's posts
    wall[:, 2 * SIZE - 3 : 2 * SIZE + 3] = (250, 250, 250)
    return wall


def window_panes(rows: int, cols: int) -> np.ndarray:
    scene = sky_and_sea(cols * SIZE, rows * SIZE, horizon=0.45)
    for r in range(1, rows):
        scene[r * SIZE - 3 : r * SIZE + 3] = 255
    for c in range(1, cols):
        scene[:, c * SIZE - 3 : c * SIZE + 3] = 255
    return scene


def panorama() -> np.ndarray:
    return np.asarray(Image.fromarray(smooth_picture(11, size=SIZE)).resize((4 * SIZE, SIZE), Image.BICUBIC))


def collage(rows: int, cols: int, gutter: int = 0) -> np.ndarray:
    pictures = [smooth_picture(20 + i, size=SIZE) for i in range(rows * cols)]
    return tile(pictures, rows, cols, gutter)


def bordered_photo() -> np.ndarray:
    canvas = np.full((2 * SIZE + 24, 2 * SIZE + 24, 3), 255, np.uint8)
    canvas[12:-12, 12:-12] = smooth_picture(5, size=2 * SIZE)
    return canvas


def tile(cells: list[np.ndarray], rows: int, cols: int, gutter: int = 0, colour: int = 255) -> np.ndarray:
    height, width = cells[0].shape[:2]
    canvas = np.full((rows * height + (rows - 1) * gutter, cols * width + (cols - 1) * gutter, 3), colour, np.uint8)
    for index, cell in enumerate(cells[: rows * cols]):
        r, c = divmod(index, cols)
        canvas[r * (height + gutter) : r * (height + gutter) + height,
               c * (width + gutter) : c * (width + gutter) + width] = cell
    return canvas


def video_frames(tmp_path: Path, count: int) -> list[np.ndarray]:
    """Frames of a real video: a panning shot encoded to H.264 and decoded again."""
    path = write_test_video(tmp_path / "pan.mp4", panning_frames(count, size=SIZE, step=3))
    return [np.asarray(frame) for frame in read_frames(path)]


def moving_object_frames(count: int) -> list[np.ndarray]:
    """A ball crossing a still background, frame by frame."""
    background = smooth_picture(9, size=SIZE)
    frames = []
    for i in range(count):
        frame = background.copy()
        x = 10 + i * 6
        frame[40:56, x : x + 16] = (250, 220, 40)
        frames.append(frame)
    return frames


HARD_NEGATIVES = {
    "horizon at the middle": lambda: sky_and_sea(),
    "horizon at a third": lambda: sky_and_sea(3 * SIZE, 3 * SIZE, horizon=1 / 3),
    "pole and horizon": lambda: with_pole(sky_and_sea()),
    "door frame": door_frame,
    "window of 2x2 panes": lambda: window_panes(2, 2),
    "window of 3x3 panes": lambda: window_panes(3, 3),
    "window of 2x3 panes": lambda: window_panes(2, 3),
    "panorama": panorama,
    "collage of 2x2 unrelated pictures": lambda: collage(2, 2),
    "collage of 2x3 unrelated pictures": lambda: collage(2, 3),
    "collage of 3x3 with gutters": lambda: collage(3, 3, gutter=8),
    "bordered photo": bordered_photo,
    **{f"photo {seed}": (lambda seed=seed: smooth_picture(seed, size=256)) for seed in range(6)},
}

POSITIVES = {  # name -> (rows, cols, gutter, gutter colour, source of frames)
    "2x2": (2, 2, 0, 255, "video"),
    "3x3": (3, 3, 0, 255, "video"),
    "2x3": (2, 3, 0, 255, "video"),
    "1x3 strip": (1, 3, 0, 255, "video"),
    "1x4 strip": (1, 4, 0, 255, "video"),
    "3x1 strip": (3, 1, 0, 255, "video"),
    "2x2 with white gutters": (2, 2, 8, 255, "video"),
    "3x3 with black gutters": (3, 3, 6, 0, "video"),
    "1x4 with white gutters": (1, 4, 6, 255, "video"),
    "2x2 of a moving ball": (2, 2, 0, 255, "ball"),
    "2x3 of a moving ball with gutters": (2, 3, 6, 255, "ball"),
}


@pytest.mark.parametrize("name", list(HARD_NEGATIVES))
def test_a_photo_with_seams_is_not_a_grid(name: str):
    assert detect_grid(HARD_NEGATIVES[name]()) is None


@pytest.mark.parametrize("name", list(POSITIVES))
def test_a_grid_of_video_frames_is_found(name: str, tmp_path: Path):
    rows, cols, gutter, colour, source = POSITIVES[name]
    frames = video_frames(tmp_path, rows * cols) if source == "video" else moving_object_frames(rows * cols)
    assert detect_grid(tile(frames, rows, cols, gutter, colour)) == (rows, cols)
