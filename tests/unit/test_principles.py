"""The route principles as code, the iterative planner, and the repair of bad routes."""

from __future__ import annotations

import pytest

from spagent_graph.principles import enforce_principles, next_task, plan_by_principles, valid_routes
from spagent_graph.state import Intent

T2V, T2I, I2I, I2V, V2V = "text_to_video", "text_to_image", "image_to_image", "image_to_video", "video_to_video"


def intent(visual: str, aligned: bool = False, text: str = "natural language text") -> Intent:
    return Intent(text_type=text, visual_type=visual, subject="animals", aligned=aligned,
                  types_decided_by="fallback", alignment_decided_by="fallback")


@pytest.mark.parametrize(
    "the_intent, expected",
    [
        (intent("None"), ((T2V,), (T2I, I2V))),
        (intent("video"), ((V2V,), (V2V,))),
        (intent("video", aligned=True), ((V2V,), (V2V,))),
        (intent("single image", aligned=True), ((I2V,), (I2V,))),
        (intent("single image", aligned=False, text="None"), ((I2V,), (I2V,))),
        (intent("single image", aligned=False), ((I2I, I2V), (I2I, I2V))),
    ],
)
def test_principles_give_two_routes(the_intent: Intent, expected):
    assert plan_by_principles(the_intent) == expected


def test_planning_is_iterative_until_a_video():
    unaligned = intent("single image", aligned=False)
    assert next_task(unaligned, []) == I2I
    assert next_task(unaligned, [I2I]) == I2V
    assert next_task(unaligned, [I2I, I2V]) is None
    assert next_task(intent("None"), [T2I]) == I2V
    assert next_task(intent("None"), []) == T2V


def test_valid_routes_are_kept_without_repairs():
    routes, repairs = enforce_principles(intent("None"), [[T2I, I2V], [T2V]])
    assert routes == ((T2I, I2V), (T2V,)) and repairs == []


@pytest.mark.parametrize(
    "the_intent, proposed, expected, why",
    [
        (intent("None"), [T2I], (T2I, I2V), "does not end in a video"),
        (intent("None"), [V2V], (T2V,), "starts from video but the request's input is text"),
        (intent("single image", aligned=True), [I2I, I2V], (I2V,), "aligned image goes straight to video"),
        (intent("single image"), [I2V], (I2I, I2V), "does not match the text is edited first"),
        (intent("video"), [T2I, I2V, I2V], (V2V,), "feeds the video of image_to_video into image_to_video"),
        (intent("None"), ["paint_a_picture"], (T2V,), "names unknown tasks"),
        (intent("None"), [], (T2V,), "is empty"),
    ],
)
def test_bad_routes_are_repaired_to_the_nearest_valid_route(the_intent, proposed, expected, why):
    routes, repairs = enforce_principles(the_intent, [proposed, list(expected)])
    assert routes[0] == expected
    assert len(repairs) == 1 and why in repairs[0] and "repaired to" in repairs[0]


def test_a_missing_route_is_filled_from_the_principles():
    routes, repairs = enforce_principles(intent("None"), [[T2V]])
    assert routes == ((T2V,), (T2I, I2V))
    assert repairs == ["route 2 was missing; the principles give ['text_to_image', 'image_to_video']."]
