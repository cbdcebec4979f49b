"""Intent recognition with no MLLM: the planner used when none is configured,
and the fallback for any decision the MLLM fails to make.

- Types come from the files themselves (`media.inspect_media`).
- The subject comes from the text (`subject.SubjectClassifier`).
- Alignment is a documented heuristic, `text_matches_visual`: text and
  visual input agree unless (1) the text reads as an instruction to change
  something, or what it asks contradicts what the frames show: (2) it names
  a colour that the frames hardly contain (the paper's "green parrot" asked
  of a red parrot), (3) it asks for night or darkness over bright frames, or
  daylight over dark ones, or (4) it asks for black and white over colour
  frames. A video is judged on frames sampled across the whole clip, an
  image on its one frame (a grid on its panels). It can only say "No" for
  reasons it can see, so it errs towards "Yes", which the principles turn
  into the shorter, safer route.
"""

from __future__ import annotations

import re

import numpy as np
from PIL import Image

from .media import read_frames
from .state import MediaInfo, TextType, VisualType

__all__ = ["ALIGNMENT_FRAMES", "EDIT_CUES", "text_matches_visual", "text_type_of", "visual_type_of"]

# Words that open an instruction to edit, and phrases that ask for a change anywhere.
EDIT_VERBS = (
    "make", "turn", "change", "replace", "convert", "transform", "add", "remove", "put", "give",
    "recolor", "recolour", "paint", "edit", "swap", "restyle", "render",
)
EDIT_PHRASES = ("instead of", "in the style of", "into a", "into an", "but with", "but in", "style of", "as if it were")
EDIT_CUES = EDIT_VERBS + EDIT_PHRASES

# Hue ranges in degrees (HSV), for colour words the picture can be checked against.
_HUES: dict[str, tuple[tuple[float, float], ...]] = {
    "red": ((345, 360), (0, 15)),
    "orange": ((15, 45),),
    "yellow": ((45, 70),),
    "green": ((70, 170),),
    "blue": ((190, 260),),
    "purple": ((260, 300),),
    "violet": ((260, 300),),
    "pink": ((300, 345),),
}
# A named colour covering less than this share of the frames' saturated pixels counts as absent.
_COLOUR_PRESENT_SHARE = 0.03
# Words that ask for a light level, and the mean brightness (0-1) of frames that plainly deny it.
# ("dark" and "bright" alone are left out: they qualify colours as often as light.)
_DARK_WORDS = ("night", "nighttime", "midnight", "in the dark", "moonlit", "moonlight", "starry")
_BRIGHT_WORDS = ("sunny", "daylight", "midday", "noon", "sunlit", "sunshine")
_TOO_BRIGHT_FOR_NIGHT = 0.6
_TOO_DARK_FOR_DAY = 0.15
_MONOCHROME_WORDS = ("black and white", "black-and-white", "monochrome", "grayscale", "greyscale")
# Frames where more than this share of pixels is saturated are colour frames, not monochrome.
_COLOUR_FRAMES_SHARE = 0.15
# A video is checked on this many frames, spread from its first to its last.
ALIGNMENT_FRAMES = 8


def text_type_of(text: str | None) -> TextType:
    return "natural language text" if text and text.strip() else "None"


def visual_type_of(visual: MediaInfo | None) -> VisualType:
    return "None" if visual is None else visual.kind


def text_matches_visual(text: str | None, visual: MediaInfo | None) -> tuple[bool, str]:
    """The alignment heuristic; returns the decision and the reason for it."""
    if not text or not text.strip() or visual is None:
        return False, "alignment needs both text and a visual input"
    lowered = text.lower().strip()
    first_word = re.split(r"\W+", lowered, maxsplit=1)[0]
    if first_word in EDIT_VERBS:
        return False, f"the text opens with the edit verb {first_word!r}"
    for phrase in EDIT_PHRASES:
        if phrase in lowered:
            return False, f"the text asks for a change ({phrase!r})"
    frames = read_frames(visual.path, max_frames=ALIGNMENT_FRAMES)
    pixels = _hsv(frames)
    seen_in = "the picture" if len(frames) == 1 else f"{len(frames)} frames from across the {visual.kind}"
    for colour in _HUES:
        if re.search(rf"\b{colour}\b", lowered):
            share = _colour_share(pixels, colour)
            if share < _COLOUR_PRESENT_SHARE:
                return False, f"the text names {colour}, which covers {share:.1%} of the coloured area of {seen_in}"
    brightness = float(pixels[..., 2].mean())
    if _names_any(lowered, _DARK_WORDS) and brightness > _TOO_BRIGHT_FOR_NIGHT:
        return False, f"the text asks for night; the mean brightness of {seen_in} is {brightness:.0%}"
    if _names_any(lowered, _BRIGHT_WORDS) and brightness < _TOO_DARK_FOR_DAY:
        return False, f"the text asks for daylight; the mean brightness of {seen_in} is {brightness:.0%}"
    coloured = float(_coloured(pixels).mean())
    if _names_any(lowered, _MONOCHROME_WORDS) and coloured > _COLOUR_FRAMES_SHARE:
        return False, f"the text asks for black and white; {coloured:.0%} of the pixels of {seen_in} are in colour"
    return True, f"the text describes rather than instructs, and nothing it asks contradicts {seen_in}"


def _names_any(text: str, words: tuple[str, ...]) -> bool:
    return any(re.search(rf"\b{re.escape(word)}\b", text) for word in words)


def _hsv(frames: list[Image.Image]) -> np.ndarray:
    """Hue in degrees, saturation and value in 0-1, for every frame at a common small size."""
    stacked = np.stack([np.asarray(f.convert("RGB").resize((128, 128)).convert("HSV")) for f in frames])
    hsv = stacked.astype(np.float32) / 255
    hsv[..., 0] *= 360
    return hsv


def _coloured(hsv: np.ndarray) -> np.ndarray:
    return (hsv[..., 1] > 0.25) & (hsv[..., 2] > 0.2)


def _colour_share(hsv: np.ndarray, colour: str) -> float:
    coloured = _coloured(hsv)
    if coloured.sum() == 0:
        return 0.0
    hue = hsv[..., 0]
    in_range = np.zeros_like(coloured)
    for low, high in _HUES[colour]:
        in_range |= (hue >= low) & (hue < high)
    return float((in_range & coloured).sum() / coloured.sum())
