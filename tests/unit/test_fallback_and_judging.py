"""The MLLM-free planner's decisions and the classical frame-statistics judge."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spagent_graph.fallback import text_matches_visual
from spagent_graph.judging import CLASSICAL_JUDGE, classical_evaluation
from spagent_graph.media import inspect_media, write_video
from spagent_graph.state import Candidate
from spagent_graph.context import Context
from spagent_graph.state import SUBJECTS
from spagent_graph.subject import SubjectClassifier, load_labelled_prompts
from tests.conftest import panning_frames, smooth_picture, write_test_video


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a red parrot sitting on a branch", True),
        ("a green parrot sitting on a branch", False),  # the paper's example: the picture is red
        ("make it snow", False),
        ("the same bird in the style of Van Gogh", False),
        ("a bird on a branch", True),
    ],
)
def test_alignment_heuristic(red_parrot_png: Path, text: str, expected: bool):
    aligned, reason = text_matches_visual(text, inspect_media(red_parrot_png, "image"))
    assert aligned is expected, reason


def _clip(tmp_path: Path, tints: list[tuple[float, float, float]], brightness: float = 1.0) -> Path:
    """A clip whose frames move from one tint to the next (GREY: no colour at all); `brightness`
    scales every pixel."""
    frames = [smooth_picture(i, tint=tint) * brightness for i, tint in enumerate(tints)]
    frames = [f.mean(-1, keepdims=True).repeat(3, -1) if t == GREY else f for f, t in zip(frames, tints)]
    frames = [f.astype(np.uint8) for f in frames]
    return write_test_video(tmp_path / "clip.mp4", frames)


RED, BLUE, GREY = (0.85, 0.1, 0.1), (0.1, 0.2, 0.85), (0.5, 0.5, 0.5)


@pytest.mark.parametrize(
    "tints, brightness, text, expected",
    [
        ([RED] * 8, 1.0, "a red parrot flying over the jungle", True),
        ([RED] * 8, 1.0, "a green parrot flying over the jungle", False),
        # The frames that show blue come late in the clip: the first frame alone would say "No".
        ([RED] * 4 + [BLUE] * 12, 1.0, "a red kite, then a blue sky", True),
        ([RED] * 16, 1.0, "a red kite against a blue sky", False),
        ([RED] * 8, 1.0, "the parrot at night under the moonlight", False),
        ([RED] * 8, 0.08, "the parrot at night under the moonlight", True),
        ([RED] * 8, 0.08, "a parrot on a sunny afternoon", False),
        ([RED] * 8, 1.0, "an old black and white film of a parrot", False),
        ([GREY] * 8, 1.0, "an old black and white film of a parrot", True),
        ([RED] * 8, 1.0, "make the parrot blue", False),
    ],
)
def test_alignment_of_a_video_reads_its_frames(tmp_path: Path, tints, brightness, text, expected):
    video = inspect_media(_clip(tmp_path, tints, brightness), "video")
    aligned, reason = text_matches_visual(text, video)
    assert aligned is expected, reason
    if "make" not in text:
        assert "frames from across the video" in reason


def test_alignment_needs_both_inputs(red_parrot_png: Path):
    assert text_matches_visual(None, inspect_media(red_parrot_png, "image"))[0] is False
    assert text_matches_visual("a parrot", None)[0] is False


@pytest.fixture(scope="module")
def classifier(demo_cache: Path) -> SubjectClassifier:
    return SubjectClassifier(cache_dir=demo_cache)  # fitted once per session, as the demo services' is


@pytest.mark.parametrize(
    "text, subject",
    [
        ("two men playing tennis on a clay court", "sports"),
        ("a freight train crossing a bridge", "transportation"),
        ("a woman laughing with her friends", "people"),
        ("a golden retriever chasing a ball", "animals"),
        ("a teapot and two cups on a wooden table", "objects"),
        ("snowy mountains under a starry sky", "landscapes"),
    ],
)
def test_subject_classifier_runs_offline(classifier: SubjectClassifier, text, subject):
    reading = classifier.read(text, min_confidence=Context().subject_min_confidence)
    assert reading.subject == subject
    assert 0.5 <= reading.confidence <= 1.0
    assert reading.votes[subject] == reading.confidence


@pytest.mark.parametrize("text", [None, "  ", "x", "qwzt", "asdf jkl"])
def test_a_text_with_no_subject_in_it_is_unknown(classifier: SubjectClassifier, text):
    reading = classifier.read(text, min_confidence=Context().subject_min_confidence)
    assert reading.subject == "unknown", reading


def test_the_held_back_test_split_is_read_right_nine_times_in_ten(classifier: SubjectClassifier):
    """The classifier's settings were chosen on the dev splits; test.jsonl was never used to tune them."""
    prompts = load_labelled_prompts(Path(__file__).parents[1] / "data" / "subjects" / "test.jsonl")
    assert len(prompts) >= 150 and {p.subject for p in prompts} == set(SUBJECTS)
    votes = classifier.votes([p.text for p in prompts])
    right = [max(SUBJECTS, key=lambda s: v[s]) == p.subject for p, v in zip(prompts, votes)]
    assert sum(right) / len(right) >= 0.90
    for subject in SUBJECTS:
        per_subject = [r for r, p in zip(right, prompts) if p.subject == subject]
        assert sum(per_subject) / len(per_subject) >= 0.80, subject


def _judge(tmp_path: Path, name: str, frames: list[np.ndarray], visual_path: Path | None = None):
    video = write_video(frames, tmp_path / f"{name}.mp4", fps=8)
    candidate = Candidate(id=name, route_indices=(0,), tasks=("text_to_video",), tools=("t",), seed=0, video=video)
    visual = inspect_media(visual_path, "image") if visual_path else None
    return classical_evaluation(candidate, visual)


def test_classical_judge_tells_still_flicker_and_smooth_motion_apart(tmp_path: Path):
    still = _judge(tmp_path, "still", [smooth_picture(3)] * 8)
    pan = _judge(tmp_path, "pan", panning_frames(8))
    flicker_frames = [np.clip(smooth_picture(3).astype(int) + (60 if i % 2 else -60), 0, 255).astype(np.uint8) for i in range(8)]
    flicker = _judge(tmp_path, "flicker", flicker_frames)
    assert {still.judge, pan.judge, flicker.judge} == {CLASSICAL_JUDGE}
    assert pan.motion_alignment > still.motion_alignment
    assert pan.physical_plausibility > flicker.physical_plausibility
    assert pan.overall > flicker.overall and pan.overall > still.overall
    for evaluation in (still, pan, flicker):
        assert 1 <= evaluation.overall <= 20
        assert "neutral" in evaluation.notes[0]  # text-only: visual alignment is not measurable


def test_classical_judge_compares_with_the_input_image(tmp_path: Path):
    source = tmp_path / "source.png"
    Image.fromarray(panning_frames(1)[0]).save(source)
    faithful = _judge(tmp_path, "faithful", panning_frames(8), source)
    unrelated = _judge(tmp_path, "unrelated", [smooth_picture(40 + i) for i in range(8)], source)
    assert faithful.visual_alignment > unrelated.visual_alignment
    assert faithful.notes == []
