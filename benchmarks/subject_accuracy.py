"""How often the MLLM-free subject classifier names the subject a person would.

    python benchmarks/subject_accuracy.py [--split test] [--sweep]

The prompts are labelled by the rules in `tests/data/subjects/GUIDE.md`.
The classifier is fitted to the packaged exemplars; its settings were chosen
by cross-validation over the exemplars and `dev.jsonl`; `test.jsonl` was
written separately and is only ever reported. The table gives
accuracy overall, per subject and per kind of prompt, first over every prompt
(an `unknown` answer counts as wrong), then the share the default confidence
threshold leaves `unknown` and the accuracy on the rest. `--sweep` prints the
cross-validated accuracy over a grid of settings; it never reads the test split.
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections import defaultdict
from pathlib import Path

import torch
from _table import table

from spagent_graph.context import Context
from spagent_graph.state import SUBJECTS, UNKNOWN_SUBJECT
from spagent_graph.subject import SubjectClassifier, fit_linear, load_labelled_prompts

DATA = Path(__file__).parents[1] / "tests" / "data" / "subjects"
EXEMPLARS = Path(__file__).parents[1] / "spagent_graph" / "data" / "subject_exemplars.jsonl"


def accuracy_rows(classifier: SubjectClassifier, prompts, threshold: float) -> list[list[str]]:
    votes = classifier.votes([text for text, _, _ in prompts])
    groups: dict[str, list[tuple[bool, bool]]] = defaultdict(list)  # (right, confident) per prompt
    for (text, subject, kind), vote in zip(prompts, votes):
        best = max(SUBJECTS, key=lambda s: vote[s])
        outcome = (best == subject and vote[best] >= threshold, vote[best] >= threshold)
        for group in ("all", f"subject {subject}", f"kind {kind}"):
            groups[group].append(outcome)
    rows = []
    for group in ["all", *(f"subject {s}" for s in SUBJECTS), *sorted(g for g in groups if g.startswith("kind"))]:
        outcomes = groups[group]
        right = sum(r for r, _ in outcomes)
        confident = sum(c for _, c in outcomes)
        rows.append([
            group, str(len(outcomes)), f"{right / len(outcomes):.1%} ({right})",
            f"{1 - confident / len(outcomes):.1%}", f"{right / confident:.1%}" if confident else "-",
        ])
    return rows


def sweep(classifier: SubjectClassifier, prompts, folds: int = 5) -> None:
    """Cross-validated accuracy over `prompts` (the exemplars and dev.jsonl) for a grid of settings."""
    texts, focuses = classifier.embed([text for text, _, _ in prompts])
    labels = torch.tensor([SUBJECTS.index(subject) for _, subject, _ in prompts])
    parts = torch.randperm(len(prompts), generator=torch.Generator().manual_seed(0)).chunk(folds)
    rows = []
    for focus_weight, regularization in itertools.product((0.0, 0.5, 0.7, 1.0, 1.5), (3.0, 10.0, 30.0, 100.0)):
        features = torch.cat([texts, focus_weight * focuses], 1)
        right = 0
        for held_out in parts:
            train = torch.ones(len(prompts), dtype=torch.bool)
            train[held_out] = False
            weight, bias = fit_linear(features[train], labels[train], regularization)
            right += int(((features[held_out] @ weight + bias).argmax(1) == labels[held_out]).sum())
        rows.append([str(focus_weight), str(regularization), f"{right / len(prompts):.1%}"])
    print(f"{folds}-fold cross-validation over {len(prompts)} prompts (exemplars and dev)\n")
    print(table(["focus weight", "regularization", "accuracy"], rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=("dev", "test"), default="test")
    parser.add_argument("--sweep", action="store_true", help="cross-validated accuracy over a grid of settings")
    args = parser.parse_args()
    classifier = SubjectClassifier()
    started = time.perf_counter()
    classifier.votes(["warm-up"])
    loaded = time.perf_counter() - started
    if args.sweep:
        sweep(classifier, [*load_labelled_prompts(EXEMPLARS), *load_labelled_prompts(DATA / "dev.jsonl")])
        return
    prompts = load_labelled_prompts(DATA / f"{args.split}.jsonl")
    threshold = Context().subject_min_confidence
    started = time.perf_counter()
    rows = accuracy_rows(classifier, prompts, threshold=0.0)
    per_prompt_ms = (time.perf_counter() - started) / len(prompts) * 1000
    confident_rows = accuracy_rows(classifier, prompts, threshold=threshold)
    header = ["prompts", "count", "accuracy", f"{UNKNOWN_SUBJECT} at {threshold}", "accuracy when known"]
    print(f"split: {args.split} ({len(prompts)} prompts); load and embed the exemplars: {loaded:.2f} s; "
          f"{per_prompt_ms:.1f} ms per prompt in one batch\n")
    print(table(header, [[*row[:3], *confident[3:]] for row, confident in zip(rows, confident_rows)]))


if __name__ == "__main__":
    main()
