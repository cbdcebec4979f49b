"""A still image counts as a video only when it is a grid of frames: pictures of equal size at
straight seams, at least three, each like the one before it and holding the same things, not
copies unmoved. The hard set (`tests/grid_cases.py`) holds photos that have seams without being
grids (collages of one kind of scene and tiles of one motif among them), each in PNG, JPEG and
WebP, and grids of consecutive frames in every layout, gutter and format;
`benchmarks/grid_detection.py` runs all of it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spagent_graph.grid import find_grid
from spagent_graph.media import detect_grid, inspect_media, read_frames
from tests.conftest import panning_frames, write_test_video
from tests.grid_cases import (
    SIZE,
    grid_case,
    grids_in_rotation,
    moving_ball,
    not_grids_in_every_format,
    pan,
    tile,
)


def video_frames(tmp_path: Path, count: int) -> list[np.ndarray]:
    """Frames of a real video: a panning shot encoded to H.264 and decoded again."""
    path = write_test_video(tmp_path / "pan.mp4", panning_frames(count, size=SIZE, step=3))
    return [np.asarray(frame) for frame in read_frames(path)]


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


# Grids of the hard set that an earlier detector missed, each for a reason of its own (`grid.py` says why).
ONCE_MISSED = {  # name -> the case's rows, columns, gutter, format, pan, scene, frame size and border
    # Strips of a pan over even ground under a flat sky: a codec hides some seams.
    "1x5 in WebP, seams hidden": (1, 5, "no gutter", ("webp", 80), "pan", "countryside", "square", 0),
    "1x5 in JPEG with a border, seams hidden":
        (1, 5, "no gutter", ("jpeg", 75), "pan", "countryside", "square", 10),
    "1x3 in JPEG with a border, a seam hidden":
        (1, 3, "no gutter", ("jpeg", 75), "very fast pan", "countryside", "square", 10),
    "1x3 in WebP with a border": (1, 3, "no gutter", ("webp", 80), "pan", "countryside", "square", 10),
    # Neither seam shows a cut in enough lines: the mean jump across each still stands out.
    "1x3 in JPEG of an uneven pan with a border, no seam shown":
        (1, 3, "no gutter", ("jpeg", 75), "uneven pan", "countryside", "square", 10),
    # Scaled down for detection, a pan of a pixel a frame moves the pictures a fraction of a pixel.
    "1x5 in JPEG of a slow pan, scaled down": (1, 5, "black gutters", ("jpeg", 75), "slow pan", "countryside",
                                               "wide", 10),
    # A scene stretched wide has smooth lines near the gutters' grey inside its pictures.
    "4x4 with grey gutters": (4, 4, "grey gutters", ("png", None), "very fast pan", "blobs", "square", 0),
    # A frame of the sky's colour runs on into the top row's sky.
    "2x3 with sky-blue gutters and frame":
        (2, 3, "sky-blue gutters", ("jpeg", 75), "pan", "countryside", "wide", 10),
}
NOT_GRIDS_IN_EVERY_FORMAT = dict(not_grids_in_every_format())
GRIDS = {case.name: case for case in grids_in_rotation()}


@pytest.mark.parametrize("name", list(NOT_GRIDS_IN_EVERY_FORMAT))
def test_a_photo_with_seams_is_not_a_grid(name: str):
    assert detect_grid(NOT_GRIDS_IN_EVERY_FORMAT[name]()) is None


@pytest.mark.parametrize("name", list(GRIDS))
def test_every_layout_of_consecutive_frames_is_a_grid(name: str):
    case = GRIDS[name]
    assert detect_grid(case.make()) == (case.rows, case.cols)


@pytest.mark.parametrize("name", list(ONCE_MISSED))
def test_a_grid_once_missed_is_found(name: str):
    rows, cols, *rest = ONCE_MISSED[name]
    assert detect_grid(grid_case(rows, cols, *rest).make()) == (rows, cols)


@pytest.mark.parametrize("name", list(POSITIVES))
def test_a_grid_of_video_frames_is_found(name: str, tmp_path: Path):
    rows, cols, gutter, colour, source = POSITIVES[name]
    frames = video_frames(tmp_path, rows * cols) if source == "video" else moving_ball(rows * cols)
    assert detect_grid(tile(frames, rows, cols, gutter, colour)) == (rows, cols)


@pytest.mark.parametrize("input_name", ["image", "video"])
def test_a_2x2_of_a_slow_pan_with_white_gutters_is_a_video(input_name: str, tmp_path: Path):
    """The grid an earlier detector read as one picture: its panels, cut at equal divisions of
    the whole image, were compared without allowing for the gutters and the pan between them."""
    path = tmp_path / "pan.jpg"
    frames = pan("countryside", 4, (256, 144), step=1)
    Image.fromarray(tile(frames, 2, 2, gutter=16, colour=255)).save(path, quality=80)
    info = inspect_media(path, input_name)
    assert (info.kind, info.grid, info.frame_count) == ("video", (2, 2), 4)


def test_the_pictures_of_a_grid_come_without_gutters_or_border(tmp_path: Path):
    frames = pan("blobs", 6, (SIZE, SIZE), step=4)
    path = tmp_path / "grid.png"
    Image.fromarray(tile(frames, 2, 3, gutter=10, colour=0, border=12)).save(path)
    pictures = read_frames(path)
    assert len(pictures) == 6 and {picture.size for picture in pictures} == {(SIZE, SIZE)}
    for picture, frame in zip(pictures, frames):
        assert np.abs(np.asarray(picture, np.int16) - frame).max() <= 2  # the frame itself, no black edge


def test_a_grid_is_found_on_a_large_image_at_its_own_size():
    grid = find_grid(tile(pan("countryside", 4, (960, 540), step=8), 2, 2, gutter=20, colour=255))
    assert grid is not None and (grid.rows, grid.cols) == (2, 2)
    assert [box[:2] for box in grid.boxes] == [(0, 0), (980, 0), (0, 560), (980, 560)]
    assert {(right - left, bottom - top) for left, top, right, bottom in grid.boxes} == {(960, 540)}
