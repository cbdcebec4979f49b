"""The hard set for grid detection: photos that have seams without being grids of frames, and grids
of consecutive frames in every layout, gutter and format the detector must read as video.

Shared by `tests/unit/test_grid_detection.py` (a rotation through the set) and
`benchmarks/grid_detection.py` (all of it, as a table of misses and false positives).
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

import numpy as np
from PIL import Image

from tests.conftest import smooth_picture

SIZE = 96
FORMATS = (("png", None), ("jpeg", 75), ("webp", 80))
LAYOUTS = ((2, 2), (3, 3), (2, 3), (3, 2), (1, 3), (1, 5), (4, 1), (4, 4))
Colour = int | tuple[int, int, int]  # a grey level or an RGB colour
GUTTERS: dict[str, tuple[int, Colour]] = {  # name -> (width in pixels, colour)
    "no gutter": (0, 255),
    "white gutters": (8, 255),
    "black gutters": (6, 0),
    "grey gutters": (10, 128),
    # Nearly the colour of the countryside's sky at the top of each frame: the gutter under a row of
    # frames runs into the next row's sky.
    "sky-blue gutters": (8, (150, 190, 245)),
}
PANS: dict[str, int | tuple[int, ...]] = {  # name -> pixels the camera moves between frames (pictures
    "slow pan": 1,                          # are 96 or 160 pixels wide), or the moves in turn
    "pan": 4,
    "fast pan": 12,
    "very fast pan": 20,
    "uneven pan": (2, 11, 5, 16, 1, 8),  # a hand-held camera, speeding up and slowing down
}
FRAME_SIZES = {"square": (SIZE, SIZE), "wide": (160, 90)}


def encoded(rgb: np.ndarray, fmt: str, quality: int | None) -> np.ndarray:
    """The picture after a round trip through an image format (PNG, or JPEG/WebP at `quality`)."""
    if fmt == "png":
        return rgb
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, fmt.upper(), quality=quality)
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("RGB"))


def tile(cells: list[np.ndarray], rows: int, cols: int, gutter: int = 0, colour: Colour = 255,
         border: int = 0) -> np.ndarray:
    """Pictures in a grid, `gutter` pixels of `colour` between them and `border` pixels around."""
    height, width = cells[0].shape[:2]
    canvas = np.full((rows * height + (rows - 1) * gutter + 2 * border,
                      cols * width + (cols - 1) * gutter + 2 * border, 3), colour, np.uint8)
    for index, cell in enumerate(cells[: rows * cols]):
        r, c = divmod(index, cols)
        y, x = border + r * (height + gutter), border + c * (width + gutter)
        canvas[y: y + height, x: x + width] = cell
    return canvas


# --- scenes --------------------------------------------------------------------------------------

def countryside(seed: int, width: int, height: int) -> np.ndarray:
    """A sky gradient over textured hills: flat rows at the top, a ragged horizon across the middle."""
    rng = np.random.default_rng(seed)
    rows = np.linspace(0.95, 0.7, height)[:, None, None] * np.array([0.6, 0.78, 1.0])
    image = np.broadcast_to(rows, (height, width, 3)).astype(np.float32)
    x = np.arange(width)
    ridge = (0.5 + 0.08 * np.sin(x / 57.0 + seed) + 0.05 * np.sin(x / 13.0)) * height
    texture = np.asarray(Image.fromarray((rng.random((height // 8 + 1, width // 8 + 1)) * 255).astype(np.uint8))
                         .resize((width, height), Image.BICUBIC), np.float32) / 255
    ground = np.arange(height)[:, None] > ridge[None, :]
    grass = np.array([0.25, 0.45, 0.2]) * (0.7 + 0.6 * texture[..., None])
    image = np.where(ground[..., None], grass, image)
    return (np.clip(image, 0, 1) * 255).astype(np.uint8)


def sky_and_sea(width: int = 2 * SIZE, height: int = 2 * SIZE, horizon: float = 0.5,
                seed: int = 3) -> np.ndarray:
    """A seascape: a bright sky gradient over a dark, textured sea, the horizon a sharp line."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), np.float32)
    line = int(height * horizon)
    image[:line] = np.linspace(0.95, 0.6, line)[:, None, None] * np.array([0.55, 0.75, 1.0])
    waves = Image.fromarray((rng.random((12, 24)) * 255).astype(np.uint8)).resize((width, height - line),
                                                                                   Image.BICUBIC)
    image[line:] = np.array([0.05, 0.25, 0.35]) + 0.15 * (np.asarray(waves, np.float32)[..., None] / 255)
    return (np.clip(image, 0, 1) * 255).astype(np.uint8)


def pan(scene: str, count: int, size: tuple[int, int], step: int | Sequence[int]) -> list[np.ndarray]:
    """`count` frames of a camera panning `step` pixels a frame (or each of `step` in turn) across a
    wider `scene`."""
    width, height = size
    steps = [step] if isinstance(step, int) else list(step)
    moves = [steps[i % len(steps)] for i in range(count)]
    starts = np.cumsum([0, *moves[:-1]])
    wide_width = width + sum(moves) + 1
    if scene == "countryside":
        wide = countryside(1, wide_width, height)
    else:
        wide = np.asarray(Image.fromarray(smooth_picture(7, size=max(width, height)))
                          .resize((wide_width, height), Image.BICUBIC))
    return [wide[:, start: start + width].copy() for start in starts]


def moving_ball(count: int) -> list[np.ndarray]:
    """A ball crossing a still background, frame by frame."""
    background = smooth_picture(9, size=SIZE)
    frames = []
    for i in range(count):
        frame = background.copy()
        x = 10 + i * 6
        frame[40:56, x: x + 16] = (250, 220, 40)
        frames.append(frame)
    return frames


# --- photos with seams that are not grids ---------------------------------------------------------

def with_pole(image: np.ndarray) -> np.ndarray:
    out = image.copy()
    middle = out.shape[1] // 2
    out[:, middle - 1: middle + 2] = 235
    return out


def door_frame() -> np.ndarray:
    wall = np.full((2 * SIZE, 3 * SIZE, 3), (200, 180, 150), np.uint8)
    wall[int(0.15 * 2 * SIZE):, SIZE: 2 * SIZE] = (60, 40, 30)  # the open door: dark inside
    wall[:, SIZE - 3: SIZE + 3] = (250, 250, 250)  # the frame's posts
    wall[:, 2 * SIZE - 3: 2 * SIZE + 3] = (250, 250, 250)
    return wall


def window_panes(rows: int, cols: int) -> np.ndarray:
    scene = sky_and_sea(cols * SIZE, rows * SIZE, horizon=0.45)
    for r in range(1, rows):
        scene[r * SIZE - 3: r * SIZE + 3] = 255
    for c in range(1, cols):
        scene[:, c * SIZE - 3: c * SIZE + 3] = 255
    return scene


def panorama() -> np.ndarray:
    return np.asarray(Image.fromarray(smooth_picture(11, size=SIZE)).resize((4 * SIZE, SIZE), Image.BICUBIC))


def collage(rows: int, cols: int, gutter: int = 0) -> np.ndarray:
    return tile([smooth_picture(20 + i, size=SIZE) for i in range(rows * cols)], rows, cols, gutter)


def bordered_photo() -> np.ndarray:
    canvas = np.full((2 * SIZE + 24, 2 * SIZE + 24, 3), 255, np.uint8)
    canvas[12:-12, 12:-12] = smooth_picture(5, size=2 * SIZE)
    return canvas


def brick_wall(rows: int = 8, per_row: int = 6, brick: tuple[int, int] = (48, 24), mortar: int = 4) -> np.ndarray:
    """Courses of bricks in a running bond: mortar lines right across, joints that alternate."""
    rng = np.random.default_rng(0)
    brick_width, brick_height = brick
    wall = np.full((rows * (brick_height + mortar), per_row * (brick_width + mortar), 3), 200, np.uint8)
    for r in range(rows):
        offset = brick_width // 2 if r % 2 else 0
        for k in range(-1, per_row + 1):
            x0, y0 = k * (brick_width + mortar) + offset, r * (brick_height + mortar)
            wall[y0: y0 + brick_height, max(x0, 0): max(x0 + brick_width, 0)] = \
                np.array([150, 60, 40]) + rng.integers(-20, 20, 3)
    return wall


def tiled_floor(count: int = 4, size: int = 64, grout: int = 4) -> np.ndarray:
    """Square tiles of nearly one colour with grout between: a grid of pictures that are all alike."""
    rng = np.random.default_rng(1)
    side = count * (size + grout)
    floor = np.full((side, side, 3), 230, np.uint8)
    for r, c in itertools.product(range(count), repeat=2):
        floor[r * (size + grout): r * (size + grout) + size, c * (size + grout): c * (size + grout) + size] = \
            np.array([60, 110, 160]) + rng.integers(-8, 8, 3)
    return floor


def fence(posts: int = 6) -> np.ndarray:
    """A landscape seen through a fence: posts at equal distances across a smooth scene."""
    rng = np.random.default_rng(2)
    scene = np.asarray(Image.fromarray((rng.random((8, 8, 3)) * 255).astype(np.uint8))
                       .resize((384, 256), Image.BICUBIC)).copy()
    for k in range(1, posts):
        scene[:, k * 384 // posts - 3: k * 384 // posts + 3] = (120, 90, 60)
    return scene


def facade(width: int, height: int, seed: int = 5) -> np.ndarray:
    """A stone wall with rows of identical windows: a pattern that repeats, on a texture that does not."""
    rng = np.random.default_rng(seed)
    stone = np.asarray(Image.fromarray((rng.random((height // 6, width // 6)) * 255).astype(np.uint8))
                       .resize((width, height), Image.BICUBIC), np.float32) / 255
    wall = np.array([0.55, 0.5, 0.45]) * (0.8 + 0.4 * stone[..., None])
    for y in range(12, height - 10, 24):
        for x in range(8, width - 8, 20):
            wall[y: y + 10, x: x + 8] = (0.2, 0.25, 0.3)
    return (wall * 255).astype(np.uint8)


def building_against_sky(edge: float) -> np.ndarray:
    """A building's straight side against a flat sky, `edge` of the way across: a cut in most lines."""
    width, height = 3 * SIZE, 2 * SIZE
    sky = np.linspace(0.95, 0.7, height)[:, None, None] * np.array([0.6, 0.78, 1.0])
    image = (np.broadcast_to(sky, (height, width, 3)) * 255).astype(np.uint8)
    left, roof = int(edge * width), int(0.2 * height)
    image[roof:, left:] = facade(width - left, height)[roof:]
    return image


def street_between_buildings() -> np.ndarray:
    """Two buildings with a strip of sky between them, their sides at a third and two thirds."""
    image = building_against_sky(2 / 3)
    image[:, : SIZE] = image[:, -SIZE:][:, ::-1]
    return image


def facade_in_shadow() -> np.ndarray:
    """A wall of identical windows with a shadow's straight edge at a third: one cut, and thirds
    that a repeating pattern makes alike."""
    wall = facade(3 * SIZE, 2 * SIZE).astype(np.float32)
    wall[:, : SIZE] *= 0.85
    return wall.astype(np.uint8)


def split_toned(photo: np.ndarray) -> np.ndarray:
    """A poster whose thirds are toned warm, plain and cool: straight colour edges through one scene."""
    image = photo.astype(np.float32)
    third = image.shape[1] // 3
    image[:, :third] *= (1.1, 1.0, 0.85)
    image[:, 2 * third:] *= (0.9, 0.95, 1.1)
    return np.clip(image, 0, 255).astype(np.uint8)


def with_lamp_post(image: np.ndarray, at: float) -> np.ndarray:
    out = image.copy()
    middle = int(at * out.shape[1])
    out[:, middle - 2: middle + 2] = (40, 40, 40)
    return out


def flat_sky_over_field(width: int, height: int, horizon: float, seed: int = 6) -> np.ndarray:
    """A sky of one colour over a textured field, the horizon straight: the sky's lines show no cut."""
    line = int(horizon * height)
    hills = countryside(seed, width, 3 * (height - line))  # below its ridge (at most 63% down), grass alone
    image = np.empty((height, width, 3), np.uint8)
    image[:line] = (150, 190, 235)
    image[line:] = hills[-(height - line):]
    return image


def wallpaper(width: int, height: int, motif: int = 24) -> np.ndarray:
    """A motif repeated without seams (its edges run on into the next copy's): every third of the
    paper is a copy of the next, with no cut between."""
    coarse = np.tile(np.random.default_rng(3).random((motif // 4, motif // 4, 3)), (3, 3, 1))
    smooth = np.asarray(Image.fromarray((coarse * 255).astype(np.uint8))
                        .resize((3 * motif, 3 * motif), Image.BICUBIC))[motif: 2 * motif, motif: 2 * motif]
    return np.tile(smooth, (height // motif + 1, width // motif + 1, 1))[:height, :width]


def tiles_without_grout(count: int = 3, size: int = 80) -> np.ndarray:
    """Square tiles of slightly different colours edge to edge: a straight cut in every line, and
    pictures of one flat colour each."""
    rng = np.random.default_rng(1)
    floor = np.zeros((count * size, count * size, 3), np.uint8)
    for r, c in itertools.product(range(count), repeat=2):
        floor[r * size: (r + 1) * size, c * size: (c + 1) * size] = \
            np.array([60, 110, 160]) + rng.integers(-12, 12, 3)
    return floor


def similar_scenes(scene: str, rows: int, cols: int, gutter: str = "no gutter",
                   size: str = "square") -> np.ndarray:
    """A collage of different pictures of one kind of scene, made with different seeds: hills under
    the same sky, seas under the same sky at nearly one height, blobs of one tint. Side by side they
    look alike (the same colours, the horizon at about the same place), but no two show the same
    things, where two frames of one shot do, moved a little."""
    width, height = FRAME_SIZES[size]
    count = rows * cols
    if scene == "hills":
        pictures = [countryside(40 + i, width, height) for i in range(count)]
    elif scene == "seas":
        pictures = [sky_and_sea(width, height, horizon=0.45 + 0.02 * (i % 3), seed=50 + i)
                    for i in range(count)]
    elif scene == "fields":
        pictures = [flat_sky_over_field(width, height, 0.4, seed=60 + i) for i in range(count)]
    else:  # blobs of one tint
        pictures = [np.asarray(Image.fromarray(smooth_picture(70 + i, size=SIZE, tint=(0.3, 0.55, 0.35)))
                               .resize((width, height), Image.BICUBIC)) for i in range(count)]
    gutter_width, colour = GUTTERS[gutter]
    return tile(pictures, rows, cols, gutter_width, colour)


def tiled_motif(rows: int, cols: int, motif: str, grout: int = 0, size: int = 64) -> np.ndarray:
    """Wallpaper or tiles of one motif repeated with hard edges: each copy is the same picture,
    where frames of a video, even from a camera that does not move, never are (something moves,
    the light and the sensor's noise change)."""
    if motif == "blobs":
        picture = smooth_picture(80, size=size)
    elif motif == "framed":  # a pattern drawn inside a dark frame of its own
        picture = np.asarray(Image.fromarray(smooth_picture(81, size=size, tint=(0.8, 0.7, 0.5)))).copy()
        picture[:3], picture[-3:], picture[:, :3], picture[:, -3:] = 40, 40, 40, 40
    else:  # a diamond on a plain ground, a print of two colours
        y, x = np.mgrid[0:size, 0:size]
        inside = np.abs(x - size / 2 + 0.5) + np.abs(y - size / 2 + 0.5) < size * 0.4
        picture = np.where(inside[..., None], np.array([170, 40, 60]),
                           np.array([235, 220, 190])).astype(np.uint8)
    return tile([picture] * (rows * cols), rows, cols, grout, 250)


NOT_GRIDS: dict[str, Callable[[], np.ndarray]] = {
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
    "brick wall": brick_wall,
    "tiled floor of 4x4": tiled_floor,
    "tiled floor of 3x3": lambda: tiled_floor(3),
    "fence of six posts": fence,
    "fence of four posts": lambda: fence(4),
    "countryside": lambda: countryside(4, 3 * SIZE, 2 * SIZE),
    **{f"photo {seed}": (lambda seed=seed: smooth_picture(seed, size=256)) for seed in range(6)},
    # Straight edges that a looser rule for cuts might take for seams, with pictures that look alike
    "building against the sky at a third": lambda: building_against_sky(1 / 3),
    "building against the sky at the middle": lambda: building_against_sky(1 / 2),
    "street between two buildings": street_between_buildings,
    "wall of windows with a shadow at a third": facade_in_shadow,
    "wall of windows": lambda: facade(3 * SIZE, 2 * SIZE),
    "split-toned seascape": lambda: split_toned(sky_and_sea(3 * SIZE, 2 * SIZE)),
    "split-toned countryside": lambda: split_toned(countryside(7, 3 * SIZE, 2 * SIZE)),
    "panorama with a lamp post at a quarter": lambda: with_lamp_post(countryside(8, 4 * SIZE, SIZE), 1 / 4),
    "panorama with a lamp post at the middle": lambda: with_lamp_post(countryside(8, 4 * SIZE, SIZE), 1 / 2),
    "two unrelated landscapes side by side": lambda: tile([countryside(11, 2 * SIZE, 2 * SIZE),
                                                           countryside(12, 2 * SIZE, 2 * SIZE)], 1, 2),
    "flat sky over a field, horizon at a third": lambda: flat_sky_over_field(3 * SIZE, 3 * SIZE, 1 / 3),
    "tall flat sky over a field, horizon at two thirds": lambda: flat_sky_over_field(SIZE, 3 * SIZE, 2 / 3),
    "wallpaper": lambda: wallpaper(3 * SIZE, 2 * SIZE),
    "tiles without grout, 3x3": tiles_without_grout,
    "tiles without grout, 4x4": lambda: tiles_without_grout(4, 64),
    # Collages of different pictures of one kind of scene: the same layout of colours, different things
    **{f"collage of {rows}x{cols} {scene}, {gutter}, {size}": (
        lambda rows=rows, cols=cols, scene=scene, gutter=gutter, size=size: similar_scenes(scene, rows, cols,
                                                                                            gutter, size))
       for rows, cols, scene, gutter, size in (
           (2, 2, "hills", "no gutter", "square"), (1, 3, "hills", "no gutter", "square"),
           (2, 3, "hills", "white gutters", "wide"), (3, 3, "hills", "black gutters", "square"),
           (4, 1, "hills", "no gutter", "wide"), (1, 5, "hills", "sky-blue gutters", "square"),
           (2, 2, "seas", "white gutters", "square"), (1, 4, "seas", "no gutter", "wide"),
           (3, 2, "seas", "grey gutters", "square"), (2, 2, "fields", "no gutter", "wide"),
           (1, 3, "fields", "black gutters", "square"), (3, 3, "fields", "no gutter", "square"),
           (2, 3, "blobs", "no gutter", "square"), (1, 4, "blobs", "white gutters", "wide"),
           (4, 4, "hills", "no gutter", "square"))},
    # Wallpaper and tiles of one motif repeated with hard edges: copies, each the same as the last
    **{f"tiled {motif} motif, {rows}x{cols}" + (f", {grout} px grout" if grout else ""): (
        lambda rows=rows, cols=cols, motif=motif, grout=grout: tiled_motif(rows, cols, motif, grout))
       for rows, cols, motif, grout in (
           (3, 3, "blobs", 0), (2, 4, "blobs", 0), (1, 4, "blobs", 6), (4, 4, "framed", 0),
           (2, 3, "framed", 4), (3, 3, "diamond", 0), (4, 1, "diamond", 0), (3, 4, "diamond", 8))},
}


# --- grids of consecutive frames -------------------------------------------------------------------

class GridCase(NamedTuple):
    name: str
    rows: int
    cols: int
    make: Callable[[], np.ndarray]


def grid_case(rows: int, cols: int, gutter: str, fmt: tuple[str, int | None], pan_name: str, scene: str,
              frame_size: str, border: int = 0) -> GridCase:
    width, colour = GUTTERS[gutter]
    name = (f"{rows}x{cols}, {gutter}, {fmt[0]}, {pan_name} of {scene}, {frame_size} frames"
            + (f", {border} px border" if border else ""))

    def make() -> np.ndarray:
        frames = pan(scene, rows * cols, FRAME_SIZES[frame_size], PANS[pan_name])
        return encoded(tile(frames, rows, cols, width, colour, border), *fmt)

    return GridCase(name, rows, cols, make)


def every_grid() -> Iterator[GridCase]:
    """Every layout x gutter x format x pan x scene x frame size, with and without a border."""
    for (rows, cols), gutter, fmt, pan_name, scene, frame_size, border in itertools.product(
            LAYOUTS, GUTTERS, FORMATS, PANS, ("countryside", "blobs"), FRAME_SIZES, (0, 10)):
        yield grid_case(rows, cols, gutter, fmt, pan_name, scene, frame_size, border)


def grids_in_rotation() -> Iterator[GridCase]:
    """Every layout x gutter x format once, the pan, scene, frame size and border turning with them,
    so that each of those shows up with every layout: the quick part of `every_grid`."""
    pans, scenes, sizes = list(PANS), ("countryside", "blobs"), list(FRAME_SIZES)
    for index, ((rows, cols), gutter, fmt) in enumerate(itertools.product(LAYOUTS, GUTTERS, FORMATS)):
        yield grid_case(rows, cols, gutter, fmt, pans[index % len(pans)], scenes[index // 3 % 2],
                        sizes[index // 5 % 2], border=10 if index % 7 == 3 else 0)


def not_grids_in_every_format() -> Iterator[tuple[str, Callable[[], np.ndarray]]]:
    for (name, make), fmt in itertools.product(NOT_GRIDS.items(), FORMATS):
        yield f"{name}, {fmt[0]}", (lambda make=make, fmt=fmt: encoded(make(), *fmt))
