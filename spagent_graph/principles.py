"""The route-planning principles as code, and the repair of routes that break them.

A route is an ordered list of tasks whose last output is a video. Which
routes are allowed depends only on the intent:

    no visual input                 [text_to_video] or [text_to_image, image_to_video]
    a video                         [video_to_video]
    an image, aligned or no text    [image_to_video]
    an image, not aligned           [image_to_image, image_to_video]

Whoever proposes routes (the MLLM or the MLLM-free planner), the proposal
passes through `enforce_principles`, which keeps valid routes and replaces an
invalid one with the nearest valid route, recording why.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from .state import Intent, Task, VisualType

__all__ = [
    "enforce_principles",
    "input_kind",
    "makes_a_video",
    "next_task",
    "output_kind",
    "plan_by_principles",
    "valid_routes",
]

Kind = Literal["text", "image", "video"]

_INPUT_OUTPUT: dict[Task, tuple[Kind, Kind]] = {
    "text_to_video": ("text", "video"),
    "text_to_image": ("text", "image"),
    "image_to_image": ("image", "image"),
    "image_to_video": ("image", "video"),
    "video_to_video": ("video", "video"),
}

# Routes are short: the longest valid one has two tasks, so an MLLM that keeps
# adding tasks is stopped here and repaired.
MAX_ROUTE_LENGTH = 3


def input_kind(task: Task) -> Kind:
    return _INPUT_OUTPUT[task][0]


def output_kind(task: Task) -> Kind:
    return _INPUT_OUTPUT[task][1]


def makes_a_video(route: Sequence[Task], visual_type: VisualType) -> bool:
    """Whether `route` can run from the request's inputs and ends in a video: each task's
    input is the text, the user's visual input, or an earlier task's output."""
    available = {"text", {"single image": "image", "video": "video"}.get(visual_type, "text")}
    for task in route:
        if input_kind(task) not in available:
            return False
        available.add(output_kind(task))
    return bool(route) and output_kind(route[-1]) == "video"


def valid_routes(intent: Intent) -> tuple[tuple[Task, ...], ...]:
    """Every route the principles allow for this intent, in order of preference."""
    if intent.visual_type == "None":
        return (("text_to_video",), ("text_to_image", "image_to_video"))
    if intent.visual_type == "video":
        return (("video_to_video",),)
    if intent.aligned or intent.text_type == "None":
        return (("image_to_video",),)
    return (("image_to_image", "image_to_video"),)


def next_task(intent: Intent, route_so_far: Sequence[Task]) -> Task | None:
    """The task the principles add next, or None once the route ends in a video.

    This is the iterative planning step: the first task is chosen from the
    input, and while the last output is not a video, the next one follows.
    With no visual input the first task is open, so the first valid route's
    opening task is taken.
    """
    if route_so_far and output_kind(route_so_far[-1]) == "video":
        return None
    for route in valid_routes(intent):
        if tuple(route[: len(route_so_far)]) == tuple(route_so_far) and len(route) > len(route_so_far):
            return route[len(route_so_far)]
    return None


def plan_by_principles(intent: Intent) -> tuple[tuple[Task, ...], tuple[Task, ...]]:
    """Two routes from the principles alone; the same route twice when only one fits."""
    routes = valid_routes(intent)
    return routes[0], routes[1] if len(routes) > 1 else routes[0]


def enforce_principles(
    intent: Intent, proposed: Sequence[Sequence[str]]
) -> tuple[tuple[tuple[Task, ...], tuple[Task, ...]], list[str]]:
    """Returns two valid routes built from `proposed`, and a note for each repair.

    A missing route is filled from the principles; an invalid one becomes the
    valid route nearest to it in task edits (ties go to the preferred route).
    """
    allowed = valid_routes(intent)
    repairs: list[str] = []
    routes: list[tuple[Task, ...]] = []
    for index in range(2):
        if index >= len(proposed):
            fill = allowed[index] if index < len(allowed) else allowed[0]
            repairs.append(f"route {index + 1} was missing; the principles give {list(fill)}.")
            routes.append(fill)
            continue
        route = tuple(proposed[index])
        if route in allowed:
            routes.append(route)  # type: ignore[arg-type]
            continue
        # Nearest in edits; between equals, the one that keeps more of the proposal's opening
        # (so [text_to_image] is completed with image_to_video rather than replaced).
        nearest = min(allowed, key=lambda valid: (_edit_distance(route, valid), -_common_prefix(route, valid)))
        repairs.append(f"route {index + 1} {list(route)} {_why_invalid(route, intent)}; repaired to {list(nearest)}.")
        routes.append(nearest)
    return (routes[0], routes[1]), repairs


def _why_invalid(route: tuple[str, ...], intent: Intent) -> str:
    if not route:
        return "is empty"
    unknown = [task for task in route if task not in _INPUT_OUTPUT]
    if unknown:
        return f"names unknown tasks {unknown}"
    if output_kind(route[-1]) != "video":  # type: ignore[arg-type]
        return "does not end in a video"
    for before, after in zip(route, route[1:]):
        if output_kind(before) != input_kind(after):  # type: ignore[arg-type]
            return f"feeds the {output_kind(before)} of {before} into {after}, which takes {input_kind(after)}"  # type: ignore[arg-type]
    start = input_kind(route[0])  # type: ignore[arg-type]
    given = {"None": "text", "single image": "image", "video": "video"}[intent.visual_type]
    if start != given:
        return f"starts from {start} but the request's input is {given}"
    return "breaks the principle for this input (" + _principle_text(intent) + ")"


def _principle_text(intent: Intent) -> str:
    if intent.visual_type == "single image":
        return "an aligned image goes straight to video" if intent.aligned or intent.text_type == "None" else (
            "an image that does not match the text is edited first"
        )
    return f"a {intent.visual_type} input"


def _common_prefix(a: Sequence[str], b: Sequence[str]) -> int:
    length = 0
    for item_a, item_b in zip(a, b):
        if item_a != item_b:
            break
        length += 1
    return length


def _edit_distance(a: Sequence[str], b: Sequence[str]) -> int:
    previous = list(range(len(b) + 1))
    for i, item_a in enumerate(a, start=1):
        current = [i]
        for j, item_b in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (item_a != item_b)))
        previous = current
    return previous[-1]
