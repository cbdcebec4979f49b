"""Intent recognition with no MLLM: the planner used when none is configured,
and the fallback for any decision the MLLM fails to make.

- Types come from the files themselves (`media.inspect_media`).
- The subject comes from the text (`subject.SubjectClassifier`).
- Alignment is a documented heuristic, `text_matches_visual`: text and
  visual input agree unless (1) the text reads as an instruction to change
  something, or (2) it names a colour that the picture hardly contains (the
  paper's "green parrot" asked of a red parrot). It can only say "No" for
  reasons it can see, so it errs towards "Yes", which the principles turn
  into the shorter, safer route.
"""

from __future__ import annotations

import re

import numpy as np
from PIL import Image

from .media import read_frames
from .state import MediaInfo, TextType, VisualType

__all__ = ["EDIT_CUES", "text_matches_visual", "text_type_of", "visual_type_of"]

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
# A named colour covering less than this share of the picture's saturated pixels counts as absent.
_COLOUR_PRESENT_SHARE = 0.03


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
    frame = read_frames(visual.path, max_frames=1)[0]
    for colour in _HUES:
        if re.search(rf"\b{colour}\b", lowered):
            share = _colour_share(frame, colour)
            if share < _COLOUR_PRESENT_SHARE:
                return False, f"the text names {colour}, which covers {share:.1%} of the picture's coloured area"
    return True, "the text describes rather than instructs, and every colour it names is in the picture"


def _colour_share(image: Image.Image, colour: str) -> float:
    hsv = np.asarray(image.convert("RGB").resize((128, 128)).convert("HSV")).astype(np.float32)
    hue, saturation, value = hsv[..., 0] * 360 / 255, hsv[..., 1] / 255, hsv[..., 2] / 255
    coloured = (saturation > 0.25) & (value > 0.2)
    if coloured.sum() == 0:
        return 0.0
    in_range = np.zeros_like(coloured)
    for low, high in _HUES[colour]:
        in_range |= (hue >= low) & (hue < high)
    return float((in_range & coloured).sum() / coloured.sum())


