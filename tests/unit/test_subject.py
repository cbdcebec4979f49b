"""The MLLM-free subject reader on prompts written the many ways people write them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from spagent_graph.context import Context
from spagent_graph.state import SUBJECTS, UNKNOWN_SUBJECT
from spagent_graph.subject import (SubjectClassifier, _longest_first, _subjects_in, focus_of, load_labelled_prompts,
                                   word_features)

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
     "red helicopter"),
    # a heading and a sentence of scenery before the subject
    ("Wide lens from a chase boat: a kitesurfer skims across the bay", "kitesurfer skims"),
    ("Golden hour over a wheat field. An old farmer in a straw hat walks the edge of it", "farmer"),
    ("Grey dawn on a tidal flat, clouds low over the water. A mussel farmer checks the ropes", "mussel farmer checks the ropes"),
    ("Low angle close on an old steel water-pumping windmill, its blades creaking", "old steel water-pumping windmill"),
    # a list of details: the subject the labelling rules put first, unless it is small in the frame
    ("cardboard box, sunny windowsill, ginger cat curled up inside, lazy afternoon", "ginger cat curled up"),
    ("rice terraces, morning mist, tiny farmer far below, layered hills, drone", "rice terraces"),
    # the second person: what the viewer watches, the viewer, or what carries them
    ("You are a barista at dawn, steaming milk and pouring a latte heart", "barista"),
    ("Imagine you are snorkeling near the rocks and a curious seal swims up to your mask", "curious seal swims up to your"),
    ("You sit by the window of a night train while snowy forests slide past", "window of a night train"),
    ("Is it possible to get a time-lapse of a caterpillar turning into a butterfly?", "caterpillar"),
    # the viewer followed by no word ("you, ...", "you... ") used to crash the posture match
    ("you, on a bridge, watch a fox cross the road", "fox cross the road"),
])
def test_the_focus_is_where_the_subject_is_named(text: str, focus: str):
    assert focus_of(text) == focus


def test_what_a_text_singles_out_is_told():
    """"A single red toolbox in an abandoned factory hall" is about the toolbox, however many words the
    hall takes."""
    row = word_features(["in an abandoned factory hall, a single red toolbox sits on cracked concrete",
                         "an abandoned factory hall, dust in the light"])
    alone = row[:, -6:]
    assert [SUBJECTS[i] for i in alone[0].nonzero()] == ["objects"] and not alone[1].any()


def test_the_words_of_two_subjects_are_seen_together():
    row = word_features(["a motocross rider racing past a tram"])[0]
    named, together = row[:6], row[12:27]
    assert [SUBJECTS[i] for i in named.nonzero()] == ["sports", "transportation"]
    assert together.sum() == 1


@pytest.mark.parametrize("text, subjects", [
    ("a rubber duck in a bathtub", ["objects", "objects"]),  # a compound is read whole
    ("a dog bowl and a tennis racket", ["objects", "objects"]),  # two words in a row: the last names it
    ("a dog walker with six leashes", ["people", "objects"]),
    ("a plush giraffe and a toy train", ["objects", "objects"]),  # likenesses are objects
    ("surfers duck-diving under the waves", ["sports", "landscapes"]),  # no duck inside a hyphenated word
    ("a slow crane shot over a harbour", ["landscapes"]),  # a camera move names nothing
    ("a statue of a rearing horse in a square", ["objects", "objects", "landscapes"]),  # a likeness, named first
    ("a model of an old steam train", ["objects"]),
    ("bronze lion statue", ["objects"]),
    ("a quiet beach, no people in frame", ["landscapes"]),  # what is absent names nothing
    ("an empty street without people or cars", ["landscapes"]),
    ("the camera slowly pushes in on a teapot", ["objects"]),  # the camera that films is no object
    ("you spin the camera a full circle", []),
    ("a vintage camera on a shelf", ["objects", "objects"]),  # a camera that is filmed still is
    ("an old blacksmith hammers a blade", ["people", "objects", "objects"]),  # a verb, not a compound's head
    ("three dog bowls on the floor", ["objects"]),  # a compound still
    ("a carved wooden toucan on a stall", ["objects"]),  # any animal made of a material
    ("a soapstone hippo", ["objects"]),
    ("a wooden boat on a lake", ["transportation", "landscapes"]),  # boats are built of wood
    ("a plastic surgeon at work", ["people"]),
    ("the mountain road snakes up through the pass", ["landscapes"]),  # an animal's name as a verb
    ("a boy ducks under the net", ["people", "objects"]),
    ("two snakes up in a tree", ["animals", "landscapes"]),
])
def test_the_word_lists_read_compounds_and_likenesses(text: str, subjects: list[str]):
    assert _subjects_in(text) == subjects


def test_the_word_tree_finds_what_a_flat_alternation_of_the_longest_first_finds():
    words = ["dog", "dogs", "dog bowl", "do", "duck", "rubber duck", "f-16", "bird's eye", "bird's-eye view", "a"]
    flat = re.compile(r"(?<![\w-])(?:" + "|".join(sorted(map(re.escape, words), key=len, reverse=True)) + r")(?![\w-])")
    tree = re.compile(r"(?<![\w-])" + _longest_first(words) + r"(?![\w-])")
    text = "a dog bowl, dogs, a rubber duck-diving do, an f-16 seen from a bird's-eye view at bird's eye, dogsled"
    assert [m.span() for m in tree.finditer(text)] == [m.span() for m in flat.finditer(text)]
    assert [m.group(0) for m in tree.finditer(text)][:4] == ["a", "dog bowl", "dogs", "a"]


@pytest.fixture(scope="module")
def classifier(demo_cache: Path) -> SubjectClassifier:
    return SubjectClassifier(cache_dir=demo_cache)  # fitted once per session, as the demo services' is


@pytest.mark.parametrize("split", [f"test_styles_{n}" for n in range(11, 17)])
def test_prompts_in_other_styles_written_apart_are_read_right(classifier: SubjectClassifier, split: str):
    """Written by writers who never saw the exemplars, in other styles (short, long, lists of
    details, second person, non-native English, questions), and measured while held back (11-13:
    95.4% before the word bag; 14-16, read once by the final classifier: 96.2%); from then on they
    guard against a fall rather than measure:
    `benchmarks/subject_accuracy.py --split PATH` measures a fresh split."""
    prompts = load_labelled_prompts(SPLITS / f"{split}.jsonl", allow_unknown=True)
    clear = [p for p in prompts if p.subject != UNKNOWN_SUBJECT]
    threshold = Context().subject_min_confidence
    votes = classifier.votes([p.text for p in clear])
    readings = [max(SUBJECTS, key=lambda s: v[s]) if max(v.values()) >= threshold else UNKNOWN_SUBJECT
                for v in votes]
    right = sum(r == p.subject for r, p in zip(readings, clear))
    left_unknown = readings.count(UNKNOWN_SUBJECT)
    assert len(clear) == 210 and len(prompts) - len(clear) == 30
    assert right / len(clear) >= 0.94
    assert left_unknown / len(clear) < 0.03
    # Prompts with no subject, or several with none the focus, are `unknown` (the classifier has a
    # class of its own for them).
    unclear = [p for p in prompts if p.subject == UNKNOWN_SUBJECT]
    caught = sum(max(v.values()) < threshold for v in classifier.votes([p.text for p in unclear]))
    assert caught / len(unclear) >= 0.9
