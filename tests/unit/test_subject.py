"""The MLLM-free subject reader on prompts written the many ways people write them."""

from __future__ import annotations

from pathlib import Path

import pytest

from spagent_graph.context import Context
from spagent_graph.state import SUBJECTS, UNKNOWN_SUBJECT
from spagent_graph.subject import SubjectClassifier, focus_of, load_labelled_prompts, word_features

SPLITS = Path(__file__).parents[1] / "data" / "subjects"


@pytest.mark.parametrize("text, focus", [
    ("show me a slow-motion clip of a plane crossing a snowy mountain range", "plane"),
    ("Can you make me a short video of a ski jumper flying off the ramp?", "ski jumper"),
    ("Would it be possible to film a herd of reindeer crossing a frozen lake?", "herd of reindeer"),
    ("I'd like a drone shot of a winding river cutting through a forest", "winding river"),
    ("I want see the football players hugging each other after they win", "football players"),
    ("You stand on a bridge over a highway at night and watch trucks stream below", "trucks stream"),
    ("rooftop, city skyline behind, woman reading a newspaper, coffee cup, morning", "woman"),
    ("A drone follows a red helicopter as it threads through a canyon, layered cliffs glowing, dust",
     "follows a red helicopter"),
])
def test_the_focus_is_where_the_subject_is_named(text: str, focus: str):
    assert focus_of(text) == focus


def test_the_words_of_two_subjects_are_seen_together():
    named, in_focus, together = word_features(["a motocross rider racing past a tram"])[0].split([6, 6, 15])
    assert [SUBJECTS[i] for i in named.nonzero()] == ["sports", "transportation"]
    assert together.sum() == 1


@pytest.fixture(scope="module")
def classifier() -> SubjectClassifier:
    return SubjectClassifier()


@pytest.mark.parametrize("split", ["test_styles", "test_styles_2"])
def test_prompts_in_other_styles_written_apart_are_read_right(classifier: SubjectClassifier, split: str):
    """Held back: written by writers who never saw the exemplars, in other styles (short, long, lists
    of details, second person, non-native English, questions); never used to tune anything.
    `benchmarks/subject_accuracy.py` gives the whole table; this guards against a fall."""
    prompts = load_labelled_prompts(SPLITS / f"{split}.jsonl", allow_unknown=True)
    clear = [p for p in prompts if p.subject != UNKNOWN_SUBJECT]
    threshold = Context().subject_min_confidence
    votes = classifier.votes([p.text for p in clear])
    readings = [max(SUBJECTS, key=lambda s: v[s]) if max(v.values()) >= threshold else UNKNOWN_SUBJECT
                for v in votes]
    right = sum(r == p.subject for r, p in zip(readings, clear))
    left_unknown = readings.count(UNKNOWN_SUBJECT)
    assert len(clear) == 210 and len(prompts) - len(clear) == 30
    assert right / len(clear) >= 0.93
    assert left_unknown / len(clear) < 0.03
