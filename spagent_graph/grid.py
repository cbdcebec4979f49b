"""Is a still image a grid of video frames, and where are its pictures?

Following the paper, a still image that holds several frames of one shot in a
grid counts as a video. A grid is recognised in three steps:

1. A frame around the whole grid (a border of one flat colour on every side)
   is set aside, so that the pictures divide what is left evenly. Where the
   frame seems deeper on one side than on its opposite (a sky-blue frame runs
   on into the top row's sky), the grid is also looked for inside a frame as
   deep as its narrower side.
2. Along each axis, every way of dividing it into 2 to 6 equal parts whose
   every division is a seam: a gutter (a narrow band of flat lines of one
   colour across the whole image, any colour, with a picture's edge on each
   side) or a hard cut (in a fair share of the lines, the jump across the
   division is far larger than the jumps beside it, and more often so than
   at the columns away from the divisions). A way must use every gutter on
   its axis, and its pictures must not hold a band like the gutters (a brick
   wall's mortar does). A way of hard cuts may also divide where no cut shows,
   as long as one does: two frames of a pan over even ground can meet with no
   visible seam.
3. Of the layouts these allow, the one with the most pictures whose pictures,
   in reading order, each look like the one before, once the small shift of a
   pan or a moving camera is allowed for; where a division shows no seam,
   each must be all but a copy of the one before, shifted. Two pictures alone
   are never a grid: the two halves of a photo cut by a pole or a horizon are
   too alike.

   Looking alike as a whole is not enough: most of what stands out in each
   picture (texture, corners; not flat patches, gradients or straight edges)
   must be found again in the one before, near where the picture as a whole
   moved. Pictures of one kind of scene (hills under one sky) share their
   layout of colours, but only frames of one shot share the things in them.
   And where at least half the pictures are copies of the one before that
   have not moved at all, not even by a fraction of a pixel, they are tiles
   of one motif: a camera's frames never are.

Photos that have seams without being grids (window bars, a door frame, a
fence, a brick wall, tiles, a horizon, a building's side against the sky, a
collage of unrelated pictures or of one kind of scene, a wallpaper or tiles
of one motif, a bordered photo) fail step 2 or 3. Detection
reads a copy of at most 768 pixels; the seams and border it finds are then
looked for again on the image itself, so that the pictures are cut without
slivers of gutter.

Why a 2x2 grid of a slow pan with white gutters was once read as one picture:
its pictures were cut at equal divisions of the whole image and compared
where they lay, so each held part of a gutter and was shifted against the
next by the gutter and the pan; they are now cut between the seams and
compared over the shifts a camera makes. The largest division was also
preferred (a horizon in each frame made four rows beat two), hard cuts had to
show in most lines, flat sky included, and flat sky was taken for a gutter.

Why strips of a pan over textured ground under a flat sky, in JPEG or WebP,
were then still missed: the codec blurs the seam over a few columns, and the
ground's texture across it is as faint as its texture anywhere, so some
seams show in no more lines than any column does (no rule on cuts can find
them), and the seams that did show were measured against a background of
the busiest 5% of columns, which in a strip of five frames were mostly the
seams themselves and their blur. The background now leaves the divisions
out, and a hidden seam is accepted beside a visible one when the pictures
are near copies. A seamless wallpaper is near copies with no seam at all,
which is why one seam must show.

Why a 1x3 strip of an uneven pan over hills in JPEG, in a border, was missed
next: neither seam showed a cut in more lines than the columns away from the
divisions. The mean jump across each still stands out (1.3 and 1.5 times the
95th-percentile column), so a division with no cut may now rest on such a
faint seam, where no cut shows at any division, the pictures are near copies
moved, and a picture is no near copy of itself moved (a seamless wallpaper is,
and its motif's edges show alike every period).
Measured over the hard set (`tests/grid_cases.py`) by `benchmarks/grid_detection.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise, product
from typing import NamedTuple

import numpy as np
from PIL import Image

__all__ = ["Grid", "cut_grid", "find_grid"]

# Parts each axis may divide into: strips of up to six frames, grids up to 6 x 6.
_DIVISIONS = (2, 3, 4, 5, 6)
# Detection reads a copy no larger than this on its long side: seams and gutters survive it.
_DETECTION_SIZE = 768
# A border or gutter line is flat: its spread along the line is below this (grey levels in 0..1),
# which JPEG's and WebP's ringing next to a picture stays under.
_FLAT_SPREAD = 0.035
# A hard cut: in at least this share of the lines across it that could show one, the jump at the
# division is several times the jumps around it. A photo's own edges rarely run straight across it.
_CUT_MIN_SHARE = 0.15
# ... and this many times the share at the 95th-percentile column away from the divisions: a
# textured picture cuts a little at many columns, and each frame's horizon in a fair share of its lines.
_CUT_OVER_BACKGROUND = 2.5
# A division where a cut does not show (frames of a slow pan over even ground can meet without one)
# is taken only if its pictures are near copies of each other once aligned: what stays between them
# at their best alignment is at most this share of what stays at a typical one. Frames of a pan
# keep a tenth of it (codec noise, the strip coming into view); unrelated pictures of one kind of
# scene (hills under sky, side by side) keep a third or more.
_NEAR_COPY_RESIDUAL = 0.2
# Where no cut shows in enough lines, a division whose mean jump across it is this many times that
# at the 95th-percentile column away from the divisions is a faint seam, enough beside near copies.
_FAINT_SEAM = 1.2
# Consecutive frames look alike once aligned: their grey thumbnails correlate at least this well,
# and their mean colours differ by less than this. Measured on pans and moving objects in PNG,
# JPEG and WebP, against collages and photos cut at their seams (tests/grid_cases.py).
_SEQUENCE_MIN_CORRELATION = 0.6
_SEQUENCE_MAX_COLOUR_SHIFT = 0.12
# How far a picture may have moved from the one before: a share of its size (a fast pan).
_MAX_SHIFT = 0.25
_THUMBNAIL = 32
# A pattern repeats within a picture: it is looked for at shifts up to this share of a picture.
_PATTERN_SHIFT = 0.45
# Copies unmoved (see `_unmoved_copy`): what stays between two pictures where they lie is at most
# this share of what stays when one is moved a pixel. Tiles of one motif keep half of it at most
# in JPEG or WebP, frames of a pan or of a ball rolling past all of it or more.
_UNMOVED_COPY = 0.7
# ... and moved by no more than this share of a pixel either way.
_UNMOVED_FRACTION = 0.1
# Consecutive frames hold the same things: of the blocks of each picture (`_BLOCK` pixels square, of
# a thumbnail of about `_BLOCKS_AREA` pixels) whose grey changes across them every way by at least
# `_DISTINCT_GRADIENT` a pixel, at least `_MIN_SHARE_FOUND` are found in the picture before, the
# difference left at `_FOUND_RESIDUAL` of what they hold or less. Frames of a pan keep nearly all
# (what comes into view is not asked for), of a ball rolling past most; pictures of one kind of
# scene a third at most (a horizon's edge, as alike in each).
_BLOCK = 8
_BLOCKS_AREA = 2304
_BLOCKS_SIDE = 40
# How far a block may lie from where the picture as a whole moved: things move in a shot.
_BLOCK_SLACK = 2
_DISTINCT_GRADIENT = 0.003
_FOUND_RESIDUAL = 0.4
_MIN_SHARE_FOUND = 0.5
_ISOTROPY = 0.25
_MIN_BLOCKS = 4

Box = tuple[int, int, int, int]  # left, top, right, bottom


class _Way(NamedTuple):
    """A way to divide an axis: the pictures' (start, end) spans, and whether a division lies where
    no seam shows (then only pictures that are near copies of each other make it a grid)."""

    spans: list[tuple[int, int]]
    unseen: bool


@dataclass(frozen=True)
class Grid:
    """A grid of `rows` x `cols` pictures; `boxes` are where they lie, in reading order."""

    rows: int
    cols: int
    boxes: tuple[Box, ...]


def find_grid(rgb: np.ndarray) -> Grid | None:
    """The grid of video frames that a still RGB image holds, or None for a single picture."""
    height, width = rgb.shape[:2]
    if height < 16 or width < 16:
        return None
    scale = min(1.0, _DETECTION_SIZE / max(height, width))
    small = rgb if scale == 1.0 else np.asarray(
        Image.fromarray(rgb).resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.BILINEAR))
    gray = small.astype(np.float32).mean(axis=2) / 255.0
    if gray.std() < 0.02:
        return None
    border = _inside_border(gray)
    # A frame deeper on one side than on its opposite may have taken in a picture's own edge of the
    # frame's colour (a sky under a sky-blue frame, which leaves only the columns to divide): the
    # grid is then looked for inside a frame as deep on each side as on its opposite too, and the
    # one with more pictures kept.
    found = [(layout, box) for box in dict.fromkeys((border, _inside_border(gray, even=True)))
             if (layout := _layout_inside(small, gray, box)) is not None]
    if not found:
        return None
    (row_spans, col_spans, boxes), box = max(found, key=lambda item: len(item[0][2]))
    if scale < 1.0:
        return _found_again(rgb, row_spans, col_spans, box, 1.0 / scale, even=box != border)
    return Grid(len(row_spans), len(col_spans), tuple(boxes))


def _layout_inside(rgb: np.ndarray, gray: np.ndarray, border: Box) -> \
        tuple[list[tuple[int, int]], list[tuple[int, int]], list[Box]] | None:
    """The spans of the rows and columns of the grid inside `border`, and its pictures' boxes, or None."""
    left, top, right, bottom = border
    inner = gray[top:bottom, left:right]
    if inner.shape[0] < 16 or inner.shape[1] < 16:
        return None
    columns = _spans_along(inner)
    rows = _spans_along(inner.T)
    # The most pictures first; of as many, the layout whose every seam shows.
    layouts = sorted(product(rows, columns), key=lambda layout: (-len(layout[0].spans) * len(layout[1].spans),
                                                                 layout[0].unseen or layout[1].unseen))
    for (row_spans, rows_unseen), (col_spans, cols_unseen) in layouts:
        if len(row_spans) * len(col_spans) < 3:
            continue
        boxes = _equal_boxes(row_spans, col_spans, left, top)
        if _pictures_are_a_sequence(rgb, boxes, near_copies=rows_unseen or cols_unseen):
            return row_spans, col_spans, boxes
    return None


def cut_grid(image: Image.Image, grid: Grid) -> list[Image.Image]:
    """The grid's pictures, in reading order, all of one size."""
    return [image.crop(box) for box in grid.boxes]


def _found_again(rgb: np.ndarray, row_spans: Sequence[tuple[int, int]], col_spans: Sequence[tuple[int, int]],
                 border: Box, factor: float, even: bool) -> Grid:
    """The grid found on the detection copy, its seams and border looked for again on the image
    itself: scaling them up alone would leave slivers of gutter, a few pixels wide, on the pictures."""
    gray = rgb.mean(axis=2, dtype=np.float32) / 255.0
    height, width = gray.shape
    left, top, right, bottom = 0, 0, width, height
    if border[:2] != (0, 0):
        left, top, right, bottom = _inside_border(gray, even)
        if (left, top) == (0, 0):  # too faint to find at full size: the copy's, scaled up
            left, top, right, bottom = (min(round(value * factor), limit)
                                        for value, limit in zip(border, (width, height, width, height)))
    inner = gray[top:bottom, left:right]
    boxes = _equal_boxes(_spans_again(row_spans, inner.T, factor), _spans_again(col_spans, inner, factor), left, top)
    return Grid(len(row_spans), len(col_spans), tuple(boxes))


def _spans_again(spans: Sequence[tuple[int, int]], gray: np.ndarray, factor: float) -> list[tuple[int, int]]:
    """The pictures' spans across `gray`'s columns, near where `spans` (found `factor` times smaller) put them."""
    spread, levels = gray.std(axis=0), gray.mean(axis=0)
    flat = _flat_lines(spread)
    reach = int(np.ceil(factor)) + 2
    seams = []
    for (_, end), (start, _) in pairwise(spans):
        lo = max(round(end * factor) - reach, 1)
        hi = min(round(start * factor) + reach, gray.shape[1] - 1)
        band = None
        if start > end:
            band = _gutter_band((start + end) * factor / 2, lo, hi, flat, levels, widest=(start - end) * factor + 2 * reach)
        if band is not None:  # a gutter: its flat lines, and the ringing beside them
            seams.append(_with_ringing(*band, spread, levels, float(np.median(levels[band[0]: band[1] + 1]))))
        else:  # a hard cut: where the lines jump most
            jumps = np.abs(np.diff(gray[:, lo - 1: hi + 1], axis=1)).mean(axis=0)
            cut = lo + int(np.argmax(jumps))
            seams.append((cut, cut))
    return _spans_between(seams, gray.shape[1])


def _spans_between(seams: Sequence[tuple[int, int]], length: int) -> list[tuple[int, int]]:
    """The (start, end) of each picture across `length` lines, between seams given as (start, end)."""
    edges = [(0, 0), *seams, (length, length)]
    return [(edges[i][1], edges[i + 1][0]) for i in range(len(edges) - 1)]


def _flat_lines(spread: np.ndarray) -> np.ndarray:
    """Which lines are flat: flat in absolute terms and flatter than most of the pictures' own lines
    (a foggy photo has lines of low spread by chance; a sky, many lines flat but for a codec's noise)."""
    return spread < min(_FLAT_SPREAD, 0.3 * float(np.percentile(spread, 75)) + 0.004)


def _gutter_band(at: float, lo: int, hi: int, flat: np.ndarray, levels: np.ndarray, widest: float,
                 cut_share: np.ndarray | None = None, spread: np.ndarray | None = None) -> tuple[int, int] | None:
    """The first and last line of a band of flat lines of one colour that reaches into lines `lo`
    to `hi`, at most `widest` lines wide, or None. A line blended from a gutter and a picture (by
    scaling or a codec) is a band of its own; a plain sky is one band, often too wide.

    Looking for a gutter (`cut_share` and `spread` given), a band must have a picture's edge on
    both sides and pictures of another colour beyond them: a codec can leave a strip of a sky flat
    in a few lines (between rows its blocks make noisy), but the sky goes on past one of its edges.
    Of those, the widest. Finding a known gutter again on the image itself, the band nearest `at`.
    """
    best = None
    index = lo
    while index < hi:
        if not flat[index]:
            index += 1
            continue
        start = end = index
        while start > 0 and flat[start - 1] and abs(levels[start - 1] - levels[start]) < 0.03:
            start -= 1
        while end < len(flat) - 1 and flat[end + 1] and abs(levels[end + 1] - levels[end]) < 0.03:
            end += 1
        index = end + 1
        if end - start + 1 > widest:
            continue
        if cut_share is not None and spread is not None:
            colour = float(np.median(levels[start: end + 1]))
            outside = [line for line in (start - 3, end + 3) if 0 <= line < len(levels)]  # past any ringing
            edges = sorted((cut_share[max(start - 3, 0): start + 2].max(), cut_share[max(end - 2, 0): end + 3].max()))
            # A picture's edge may be near the gutter's colour in many lines (a grey gutter beside a
            # grey wall), so one edge may show in fewer lines than a cut alone must.
            if edges[1] < _CUT_MIN_SHARE or edges[0] < _CUT_MIN_SHARE / 2 or \
                    any(abs(levels[line] - colour) < 0.05 and spread[line] < _FLAT_SPREAD for line in outside):
                continue
            rank = -(end - start)  # the widest: a line blended with a picture may lie nearer than the gutter
        else:
            rank = max(start - at, at - end, 0)  # the nearest: beside a gutter found already, a sky may be wider
        if best is None or rank < best[0]:
            best = (rank, (start, end))
    return best[1] if best else None


def _with_ringing(start: int, end: int, spread: np.ndarray, levels: np.ndarray, colour: float) -> tuple[int, int]:
    """The (start, end) of a gutter whose flat lines run from `start` to `end`, taking in up to
    two lines each side that JPEG's or WebP's ringing (or scaling) left nearly flat and of its colour."""

    def ringing(index: int) -> bool:
        return 0 <= index < len(spread) and spread[index] < 3 * _FLAT_SPREAD and abs(levels[index] - colour) < 0.1

    for _ in range(2):
        start -= ringing(start - 1)
        end += ringing(end + 1)
    return start, end + 1


def _inside_border(gray: np.ndarray, even: bool = False) -> Box:
    """The box inside a frame of one flat colour that surrounds the image on every side (or the whole
    image); `even`: the frame as deep on each side as on its opposite, the narrower of the two."""
    height, width = gray.shape
    corners = np.array([gray[0, 0], gray[0, -1], gray[-1, 0], gray[-1, -1]])
    if corners.max() - corners.min() > 0.06:
        return 0, 0, width, height
    colour = float(np.median(corners))

    def depth(lines: np.ndarray) -> int:
        count = 0
        limit = len(lines) // 4  # a border is a frame, not a quarter of the image
        while count < limit and lines[count].std() < _FLAT_SPREAD and abs(float(lines[count].mean()) - colour) < 0.06:
            count += 1
        for _ in range(2):  # the ringing a codec leaves next to the picture
            if 0 < count < limit and lines[count].std() < 3 * _FLAT_SPREAD and \
                    abs(float(lines[count].mean()) - colour) < 0.1:
                count += 1
        return count

    top, bottom = depth(gray), depth(gray[::-1])
    left, right = depth(gray.T), depth(gray.T[::-1])
    if min(top, bottom, left, right) == 0:  # flat on some sides only: a plain sky or wall, not a frame
        return 0, 0, width, height
    if even:
        top = bottom = min(top, bottom)
        left = right = min(left, right)
    return left, top, width - right, height - bottom


def _spans_along(gray: np.ndarray) -> list[_Way]:
    """Every way to split the columns into equal pictures at seams.

    The whole width, undivided, is one way unless a gutter was found: a way must use every
    gutter, since a band of flat colour right across the image is no part of a picture
    (window bars over one scene are not frames of a pan). A hard cut may lie inside a
    picture (a horizon), so a way may pass over one. A way may also divide where no seam
    shows, beside a cut that does: two frames of a slow pan over even ground can meet
    without a visible cut (the ground on both sides alike, a codec's blur over the rest),
    but never without their gutter, so a way with a gutter must show all its seams.
    """
    width = gray.shape[1]
    spread = gray.std(axis=0)
    flat = _flat_lines(spread)
    levels = gray.mean(axis=0)
    cut_share = _cut_share(gray)
    mean_jumps = np.abs(np.diff(gray, axis=1)).mean(axis=0)
    ways = [_Way([(0, width)], False)]
    faint_ways: set[int] = set()
    way_gutters: list[set[int]] = [set()]
    for parts in _DIVISIONS:
        if width // parts < 8:
            break
        tolerance = max(2, width // (8 * parts))
        divisions = [round(index * width / parts) for index in range(1, parts)]
        # How often the pictures' own edges pass for a cut: a cut must stand well above it. The
        # columns by the divisions are left out, or the seams of a strip of many frames (and the
        # codec's blur beside them) would make most of the columns above the 95th percentile.
        inside = np.ones(len(cut_share), bool)
        for at in divisions:
            inside[max(at - tolerance, 1): at + tolerance + 1] = False
        background_cuts = float(np.percentile(cut_share[inside], 95))
        seams = [_seam_near(at, tolerance, flat, spread, levels, cut_share, background_cuts, width // parts)
                 for at in divisions]
        shown = [seam for seam in seams if seam is not None]
        gutters = {(start + end) // 2 for start, end in shown if end > start}
        unseen = len(shown) < len(seams)
        if unseen and not shown and not gutters:
            # No cut stands out in enough lines, but the lines may still jump more on the whole at
            # a division than anywhere away from them: the seams of a pan over faint texture, blurred
            # by a codec. A seamless wallpaper's motif shows its edges alike every period.
            background_jumps = float(np.percentile(mean_jumps[inside], 95))
            faint = [at for at in divisions if mean_jumps[max(at - tolerance, 1) - 1: at + tolerance].max()
                     >= _FAINT_SEAM * background_jumps]
            if faint:
                shown = [(at, at) for at in faint]
                faint_ways.add(len(ways))
        if not shown or (unseen and gutters):
            continue
        seams = [seam if seam is not None else (at, at) for seam, at in zip(seams, divisions)]
        spans = _spans_between(seams, width)
        if gutters and _gutter_inside(spans, seams, flat, levels, spread):
            continue  # lines of the gutters' colour inside the pictures: a pattern (bricks, tiles)
        ways.append(_Way(spans, unseen))
        way_gutters.append(gutters)
    if len(ways) > len(faint_ways) + 1:  # faint seams only where no cut shows at any division
        ways = [way for index, way in enumerate(ways) if index not in faint_ways]
        way_gutters = [gutters for index, gutters in enumerate(way_gutters) if index not in faint_ways]
    every_gutter = set().union(*way_gutters)
    return [way for way, gutters in zip(ways, way_gutters)
            if all(any(abs(g - own) <= 2 for own in gutters) for g in every_gutter)]


def _gutter_inside(spans: Sequence[tuple[int, int]], seams: Sequence[tuple[int, int]], flat: np.ndarray,
                   levels: np.ndarray, spread: np.ndarray) -> bool:
    """Whether a picture holds a band like the gutters: flat lines right across, of their colour,
    as flat as theirs, at least half as wide. Frames between gutters do not repeat the gutter
    inside them; a brick wall's mortar does. A line or two of a picture's own may be flat by
    chance, and a smooth picture (a scene stretched wide) can hold a few lines flat enough to
    pass for flat and near the gutters' grey, but not as flat as a gutter: that stays flat to
    within a codec's noise, and so does mortar, drawn in one colour like the gutters."""
    gutters = [(start, end) for start, end in seams if end > start]
    colour = float(np.median([levels[(start + end) // 2] for start, end in gutters]))
    narrowest = min(int(flat[start:end].sum()) for start, end in gutters)
    gutter_spread = float(np.median(np.concatenate([spread[start:end][flat[start:end]]
                                                    for start, end in gutters])))
    like_gutters = flat & (np.abs(levels - colour) < 0.06) & (spread <= 2 * gutter_spread + 0.005)
    for start, end in spans:
        inside = like_gutters[start + 2: end - 2]
        runs = np.diff(np.flatnonzero(np.diff(np.concatenate([[0], inside.astype(np.int8), [0]]))))[::2]
        if runs.size and runs.max() >= max(1, narrowest // 2):
            return True
    return False


def _seam_near(at: int, tolerance: int, flat: np.ndarray, spread: np.ndarray, levels: np.ndarray,
               cut_share: np.ndarray, background_cuts: float, picture: int) -> tuple[int, int] | None:
    """The seam by column `at`, as the (start, end) of what lies between two pictures, or None.

    `picture` is the width a picture would have: a gutter is a small part of it, where a
    plain sky or wall across a picture is a large one.
    """
    width = len(flat)
    lo, hi = max(at - tolerance, 1), min(at + tolerance + 1, width - 1)
    # A gutter is narrow against a picture: a plain sky or wall across one is not.
    band = _gutter_band(at, lo, hi, flat, levels, widest=0.3 * picture, cut_share=cut_share, spread=spread)
    if band is not None:
        return _with_ringing(*band, spread, levels, float(np.median(levels[band[0]: band[1] + 1])))
    best = lo + int(np.argmax(cut_share[lo:hi]))
    if cut_share[best] >= max(_CUT_MIN_SHARE, _CUT_OVER_BACKGROUND * background_cuts):
        return best + 1, best + 1  # the cut lies between columns best and best + 1
    return None


def _cut_share(gray: np.ndarray) -> np.ndarray:
    """For each boundary between columns x and x+1, the share of rows with a hard cut there.

    A row cuts at x when its jump there stands out from the jumps around it (a few columns
    each side, a line or two of codec ringing left out) by three times and a margin.
    """
    jumps = np.abs(np.diff(gray, axis=1))  # rows x (width - 1)
    count = jumps.shape[1]
    reach, skip = 6, 2
    around = []
    for offset in [*range(-reach, -skip + 1), *range(skip, reach + 1)]:
        shifted = np.full_like(jumps, np.nan)
        if offset < 0:
            shifted[:, -offset:] = jumps[:, :offset]
        else:
            shifted[:, : count - offset] = jumps[:, offset:]
        around.append(shifted)
    around = np.stack(around)
    # Only the columns by the image's edges lack some neighbours: the slow NaN-aware median there alone.
    local = np.median(around, axis=0)
    edges = np.r_[0:reach, max(count - reach, reach):count]
    local[:, edges] = np.nanmedian(around[:, :, edges], axis=0)
    cuts = jumps > 3 * local + 0.02
    # A row whose both sides are flat near the division cannot show a cut (a sky the same
    # in both frames); the share counts the rows that could.
    visible = (jumps > 0.02) | (local > 0.004)
    return cuts.sum(axis=0) / np.maximum(visible.sum(axis=0), 0.5 * gray.shape[0])


def _equal_boxes(row_spans: Sequence[tuple[int, int]], col_spans: Sequence[tuple[int, int]],
                 left: int, top: int) -> list[Box]:
    # Frames of one video have one size: each picture is cut to the smallest. And a grid's pictures
    # lie at one pitch: a codec's ringing can widen a seam by a pixel here and there, which cut from
    # each picture's own centre would move some pictures a pixel against the rest (and tiles of one
    # motif, moved so, would pass for frames of a slow pan).
    height = min(end - start for start, end in row_spans)
    width = min(end - start for start, end in col_spans)
    boxes = []
    for y, x in product(_regular_starts(row_spans, height), _regular_starts(col_spans, width)):
        boxes.append((left + x, top + y, left + x + width, top + y + height))
    return boxes


def _regular_starts(spans: Sequence[tuple[int, int]], size: int) -> list[int]:
    """Where pictures `size` long start in `spans`: centred at one pitch, fitted to the seams
    between the spans (the image's own edges may hold a frame's outer line), each kept in its span."""
    if len(spans) == 1:
        return [spans[0][0] + (spans[0][1] - spans[0][0] - size) // 2]
    seams = np.array([(end + start) / 2 for (_, end), (start, _) in pairwise(spans)])
    if len(seams) > 1:
        pitch, first_seam = np.polyfit(np.arange(len(seams)), seams, 1)
    else:
        pitch, first_seam = size + spans[1][0] - spans[0][1], seams[0]
    # Rounded down alike (a centre between two pixels would round either way): at a whole pitch,
    # every picture lies alike against its seams.
    return [int(min(max(np.floor(first_seam + pitch * (k - 0.5) - size / 2 + 1e-6), start), end - size))
            for k, (start, end) in enumerate(spans)]


def _pictures_are_a_sequence(rgb: np.ndarray, boxes: Sequence[Box], near_copies: bool = False) -> bool:
    """Whether each picture, in reading order, looks like the one before it, allowing for a shift;
    with `near_copies`, whether each is all but a copy of the one before, once shifted.

    Looking alike as a whole is not enough: pictures of one kind of scene (hills under one sky)
    share their layout of colours, but frames of one shot share the things in it, so most of what
    stands out in each picture must be found again, close by, in the one before. And copies that
    have not moved at all are a pattern (tiles, a wallpaper's motif), not frames."""
    thumbnails = []
    for x0, y0, x1, y1 in boxes:
        if x1 - x0 < 8 or y1 - y0 < 8:
            return False
        picture = Image.fromarray(rgb[y0:y1, x0:x1]).resize((_THUMBNAIL, _THUMBNAIL), Image.BILINEAR)
        thumbnails.append(np.asarray(picture, dtype=np.float32) / 255)
    for before, after in pairwise(thumbnails):
        shift = float(np.abs(before.mean(axis=(0, 1)) - after.mean(axis=(0, 1))).max())
        if shift > _SEQUENCE_MAX_COLOUR_SHIFT:
            return False
        correlation, residual = _alignment(before.mean(axis=2), after.mean(axis=2))
        if correlation < _SEQUENCE_MIN_CORRELATION or (near_copies and residual > _NEAR_COPY_RESIDUAL):
            return False
    if near_copies and _alignment(thumbnails[0].mean(axis=2), thumbnails[0].mean(axis=2), _PATTERN_SHIFT)[1] \
            <= _NEAR_COPY_RESIDUAL:
        return False  # a picture that is a copy of itself moved is a pattern, alike wherever it is cut
    gray = rgb.mean(axis=2, dtype=np.float32) / 255
    pictures = [gray[y0:y1, x0:x1] for x0, y0, x1, y1 in boxes]
    unmoved = sum(_unmoved_copy(before, after) for before, after in pairwise(pictures))
    if 2 * unmoved >= len(pictures) - 1:
        return False
    blocks = [_blocks_thumbnail(picture) for picture in pictures]
    return all(_share_found_again(before, after) >= _MIN_SHARE_FOUND for before, after in pairwise(blocks))


def _unmoved_copy(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether `b` is `a` where it lay, to within a codec's noise: far nearer to it unmoved than
    moved by one pixel any way, and no nearer to it moved one way than the opposite way (which a
    move of a fraction of a pixel would make it). A camera's next frame never is, even when it
    stands still: something moves, and the light and the sensor's noise change; a frame of a slow
    pan is a copy moved, if only by a fraction of a pixel once the grid is scaled down."""
    height, width = a.shape

    def moved(dy: int, dx: int) -> float:
        return float(np.mean((a[max(dy, 0): height + min(dy, 0), max(dx, 0): width + min(dx, 0)]
                              - b[max(-dy, 0): height + min(-dy, 0), max(-dx, 0): width + min(-dx, 0)]) ** 2))

    error = {(dy, dx): moved(dy, dx) for dy, dx in product((-1, 0, 1), repeat=2)}
    unmoved = error.pop((0, 0))
    if unmoved > _UNMOVED_COPY ** 2 * min(error.values()):
        return False
    for before, after in (((-1, 0), (1, 0)), ((0, -1), (0, 1))):  # the fraction of a pixel, by a parabola
        curvature = error[before] - 2 * unmoved + error[after]
        if abs(error[before] - error[after]) > 2 * _UNMOVED_FRACTION * curvature:
            return False
    return True


def _blocks_thumbnail(picture: np.ndarray) -> np.ndarray:
    """A grey thumbnail of about `_BLOCKS_AREA` pixels in the picture's own proportions (a texture
    squeezed along one side blurs away), whose sides divide into blocks of `_BLOCK` pixels."""
    height, width = picture.shape
    # A long picture keeps its narrow side's detail too (a stack of scenes, each squeezed, shows none).
    scale = min(1.0, max(np.sqrt(_BLOCKS_AREA / (height * width)), _BLOCKS_SIDE / min(height, width)))
    size = (max(2, round(width * scale / _BLOCK)) * _BLOCK, max(2, round(height * scale / _BLOCK)) * _BLOCK)
    thumbnail = np.asarray(Image.fromarray(picture).resize(size, Image.BILINEAR))
    # Softened a little: a texture near the thumbnail's finest detail, moved half a pixel between
    # frames, would differ as much as another texture.
    padded = np.pad(thumbnail, 1, mode="edge")
    thumbnail = (padded[:-2] + 2 * padded[1:-1] + padded[2:]) / 4
    return (thumbnail[:, :-2] + 2 * thumbnail[:, 1:-1] + thumbnail[:, 2:]) / 4


def _share_found_again(a: np.ndarray, b: np.ndarray) -> float:
    """Of the blocks of thumbnail `b` that show something whose place can be told (texture or a
    corner, not a flat patch, a smooth gradient or a straight edge, which match anywhere along
    them) and that `a` could hold (not come into view since), the share it holds again where the
    picture as a whole moved, give or take a little: the difference left there is small against
    what the two hold (their variance)."""
    height, width = b.shape
    block_height = block_width = _BLOCK
    rows, cols = height // _BLOCK, width // _BLOCK
    gradient_y, gradient_x = np.gradient(b)

    def per_block(x: np.ndarray) -> np.ndarray:
        return x.reshape(rows, _BLOCK, cols, _BLOCK).mean(axis=(1, 3))

    xx, yy, xy = per_block(gradient_x ** 2), per_block(gradient_y ** 2), per_block(gradient_x * gradient_y)
    # The structure tensor's eigenvalues: an edge or a gradient changes one way only.
    weakest = (xx + yy) / 2 - np.sqrt((xx - yy) ** 2 / 4 + xy ** 2)
    strongest = xx + yy - weakest
    distinct = (weakest > _DISTINCT_GRADIENT ** 2) & (weakest >= _ISOTROPY * strongest)
    if not distinct.any():
        return 1.0
    shift_y, shift_x = _best_shift(a, b)
    windows = np.lib.stride_tricks.sliding_window_view(a, (block_height, block_width))
    count = block_height * block_width
    found = []
    for row, col in zip(*np.nonzero(distinct)):
        y0, x0 = row * block_height + shift_y, col * block_width + shift_x
        if not (0 <= y0 <= height - block_height and 0 <= x0 <= width - block_width):
            continue  # come into view since: the picture before cannot hold it
        ys = slice(max(y0 - _BLOCK_SLACK, 0), min(y0 + _BLOCK_SLACK, height - block_height) + 1)
        xs = slice(max(x0 - _BLOCK_SLACK, 0), min(x0 + _BLOCK_SLACK, width - block_width) + 1)
        near = windows[ys, xs]
        block = b[row * block_height: (row + 1) * block_height, col * block_width: (col + 1) * block_width]
        error = ((near - block) ** 2).mean(axis=(2, 3))
        spread = near.var(axis=(2, 3)) + block.var()
        found.append(float((error / (spread + 1e-6)).min()) < _FOUND_RESIDUAL ** 2)
    return float(np.mean(found)) if len(found) >= _MIN_BLOCKS else 1.0  # too few to tell


def _best_shift(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """The (dy, dx), each within a camera's shift, for which `a` at p + (dy, dx) best matches `b`
    at p: the least mean squared difference over the overlap, all shifts at once by Fourier transforms."""
    height, width = a.shape
    padded = (2 * height, 2 * width)
    shifts_y = np.r_[0: int(_MAX_SHIFT * height) + 1, -int(_MAX_SHIFT * height): 0]
    shifts_x = np.r_[0: int(_MAX_SHIFT * width) + 1, -int(_MAX_SHIFT * width): 0]
    overlap = np.outer(height - np.abs(shifts_y), width - np.abs(shifts_x))
    a, b = a.astype(np.float64), b.astype(np.float64)
    ones, first, second, first_squared, second_squared = (
        np.fft.rfft2(x, padded) for x in (np.ones_like(a), a, b, a ** 2, b ** 2))

    def over_overlap(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.fft.irfft2(x * np.conj(y), padded)[np.ix_(shifts_y % padded[0], shifts_x % padded[1])]

    squared_difference = (over_overlap(first_squared, ones) + over_overlap(ones, second_squared)
                          - 2 * over_overlap(first, second)) / overlap
    row, col = np.unravel_index(int(np.argmin(squared_difference)), squared_difference.shape)
    return int(shifts_y[row]), int(shifts_x[col])


def _alignment(a: np.ndarray, b: np.ndarray, reach_share: float = _MAX_SHIFT) -> tuple[float, float]:
    """How two grey thumbnails match over the shifts a camera makes between frames: their best
    correlation, and the root-mean-square difference left at their best alignment as a share of
    that at a typical shift (near 0 for copies of one scene, near 1 for unrelated pictures).
    The sums over every overlap come from products of Fourier transforms, all shifts at once.
    With a wider `reach_share`, a picture against itself: whether a pattern repeats in it."""
    if a.std() < 1e-3 and b.std() < 1e-3:
        return 1.0, 1.0  # two flat pictures: only their colours can tell them apart, and nothing shows a copy
    size = a.shape[0]
    reach = int(reach_share * size)
    padded = (2 * size, 2 * size)  # room for every shift without wrapping around
    shifts = np.r_[0: reach + 1, -reach: 0]
    overlap = np.outer(size - np.abs(shifts), size - np.abs(shifts))
    a, b = a.astype(np.float64), b.astype(np.float64)
    ones, first, second, first_squared, second_squared = (
        np.fft.rfft2(x, padded) for x in (np.ones_like(a), a, b, a ** 2, b ** 2))

    def mean_over_overlap(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """For each shift (dy, dx), the mean of x's picture at p + (dy, dx) times y's at p, over the overlap."""
        return np.fft.irfft2(x * np.conj(y), padded)[np.ix_(shifts % padded[0], shifts % padded[1])] / overlap

    mean_a, mean_b = mean_over_overlap(first, ones), mean_over_overlap(ones, second)
    squares_a, squares_b = mean_over_overlap(first_squared, ones), mean_over_overlap(ones, second_squared)
    products = mean_over_overlap(first, second)
    var_a, var_b = squares_a - mean_a ** 2, squares_b - mean_b ** 2
    textured = (var_a >= 1e-6) & (var_b >= 1e-6)  # an overlap flat on one side says nothing
    if not textured.any():
        return -1.0, 1.0
    correlation = (products - mean_a * mean_b) / np.sqrt(np.where(textured, var_a * var_b, 1.0))
    squared_difference = np.maximum(squares_a + squares_b - 2 * products, 0.0)
    typical = float(np.median(squared_difference))
    if reach_share > _MAX_SHIFT:  # a picture against itself: at the shifts near none it is itself
        far = ~np.logical_and.outer(np.abs(shifts) <= 2, np.abs(shifts) <= 2)
        squared_difference, correlation, textured = squared_difference[far], correlation[far], textured[far]
    residual = float(np.sqrt(squared_difference.min() / typical)) if typical > 0 else 0.0
    return float(correlation[textured].max()), residual
