"""Per (model, task, subject) strengths in an embedded SQLite file.

A strength is on the paper's 100-2000 scale: a mean opinion score on the 1-20
scale times 100. Each row keeps its source (`human`, `judge` or `prior`), how
many scores it averages and when it last changed, so later evidence can be
weighed against the priors instead of replacing them.

Writers may be many threads or processes: every write is one short
`BEGIN IMMEDIATE` transaction on a WAL-mode database, which SQLite
serialises, so concurrent running-mean updates never lose a score.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from spagent_graph.state import SUBJECTS, Subject, Task
from spagent_graph.tool_adapters.acceleration import FidelityRecord

__all__ = ["MIN_STRENGTH", "MAX_STRENGTH", "CapabilityStore", "FidelityRecord", "Source", "StrengthEntry"]

# Where a strength comes from: a person's pick, the judge, the paper's figures (`prior`), a
# published per-category benchmark (`published`), or nothing published (`neutral`, the middle of
# the scale, weighted lightly so that the first real scores move it).
Source = Literal["human", "judge", "prior", "published", "neutral"]
MIN_STRENGTH, MAX_STRENGTH = 100.0, 2000.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS strengths (
    model TEXT NOT NULL,
    task TEXT NOT NULL,
    subject TEXT NOT NULL,
    source TEXT NOT NULL,
    strength REAL NOT NULL,
    count REAL NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (model, task, subject, source)
);
CREATE TABLE IF NOT EXISTS fidelity (
    tool TEXT NOT NULL,
    profile TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (tool, profile)
)
"""


class StrengthEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str
    task: Task
    subject: Subject
    strength: float = Field(ge=MIN_STRENGTH, le=MAX_STRENGTH)
    count: float = Field(1.0, gt=0, description="How many scores the strength averages (weights may be fractional).")
    source: Source = "prior"
    updated_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class CapabilityStore:
    """Strengths of tools per task and subject.

    `path=None` keeps the store in memory (shared by every connection of this
    object); a path keeps it in a SQLite file that several processes may share.
    `source_weights` says how much one score of each source counts when
    sources are combined into the strength that selection uses.
    """

    def __init__(
        self,
        path: Path | str | None = None,
        source_weights: dict[Source, float] | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.source_weights: dict[Source, float] = {
            "human": 1.0, "judge": 1.0, "prior": 1.0, "published": 1.0, "neutral": 0.25, **(source_weights or {})}
        if self.path is None:
            self._uri = f"file:spagent-store-{uuid.uuid4().hex}?mode=memory&cache=shared"
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._uri = f"file:{self.path}"
        # An in-memory database lives as long as one connection to it stays open.
        self._anchor = sqlite3.connect(self._uri, uri=True, check_same_thread=False)
        with self._connect() as db:
            if self.path is not None:
                db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)

    def __repr__(self) -> str:
        return f"CapabilityStore({str(self.path) if self.path else 'in memory'!r})"

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self._uri, uri=True, timeout=30.0, isolation_level=None)
        try:
            yield db
        finally:
            db.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # Writing -------------------------------------------------------------------

    def put(self, entries: Iterable[StrengthEntry], *, overwrite: bool = True) -> int:
        """Writes entries as given; with `overwrite=False` existing rows are kept (for seeding)."""
        verb = "INSERT OR REPLACE" if overwrite else "INSERT OR IGNORE"
        rows = [
            (e.model, e.task, e.subject, e.source, e.strength, e.count, e.updated_at.isoformat())
            for e in entries
        ]
        with self._write() as db:
            before = db.total_changes
            db.executemany(f"{verb} INTO strengths VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            return db.total_changes - before

    def record(
        self, model: str, task: Task, subject: Subject, strength: float, *, source: Source, weight: float = 1.0
    ) -> StrengthEntry:
        """Folds one new score into the running mean for (model, task, subject, source)."""
        entry = StrengthEntry(model=model, task=task, subject=subject, strength=strength, count=weight, source=source)
        with self._write() as db:
            row = db.execute(
                "SELECT strength, count FROM strengths WHERE model=? AND task=? AND subject=? AND source=?",
                (model, task, subject, source),
            ).fetchone()
            if row is not None:
                old_strength, old_count = row
                count = old_count + weight
                entry = entry.model_copy(
                    update={"strength": (old_strength * old_count + strength * weight) / count, "count": count}
                )
            db.execute(
                "INSERT OR REPLACE INTO strengths VALUES (?, ?, ?, ?, ?, ?, ?)",
                (model, task, subject, source, entry.strength, entry.count, entry.updated_at.isoformat()),
            )
        return entry

    # Reading -------------------------------------------------------------------

    def entries(self, *, model: str | None = None, task: Task | None = None) -> list[StrengthEntry]:
        query, args = "SELECT model, task, subject, source, strength, count, updated_at FROM strengths", []
        conditions = []
        if model is not None:
            conditions.append("model=?")
            args.append(model)
        if task is not None:
            conditions.append("task=?")
            args.append(task)
        if conditions:
            query += " WHERE " + " AND ".join(conditions)
        query += " ORDER BY model, task, subject, source"
        with self._connect() as db:
            rows = db.execute(query, args).fetchall()
        return [
            StrengthEntry(model=m, task=t, subject=s, source=src, strength=st, count=c, updated_at=u)
            for m, t, s, src, st, c, u in rows
        ]

    def strengths(self, task: Task, subject: Subject | None) -> dict[str, float]:
        """Every model's combined strength for `task` on `subject`.

        Sources are combined by a mean weighted by count times the source's
        weight. A model with rows for the task but none for this subject gets
        its mean over the subjects it has, so a missing subject never hides a
        model from selection. `subject=None` gives every model its mean over subjects.
        """
        by_model: dict[str, dict[str, tuple[float, float]]] = {}
        for entry in self.entries(task=task):
            weight = entry.count * self.source_weights.get(entry.source, 1.0)
            total, mass = by_model.setdefault(entry.model, {}).get(entry.subject, (0.0, 0.0))
            by_model[entry.model][entry.subject] = (total + entry.strength * weight, mass + weight)
        combined: dict[str, float] = {}
        for model, per_subject in by_model.items():
            means = {s: total / mass for s, (total, mass) in per_subject.items() if mass > 0}
            if subject in means:
                combined[model] = means[subject]
            elif means:
                combined[model] = sum(means.values()) / len(means)
        return combined

    def record_fidelity(self, record: FidelityRecord) -> None:
        """Keeps a tool's latest bench for a profile (a new bench replaces the old one)."""
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO fidelity VALUES (?, ?, ?)",
                       (record.tool, record.profile, record.model_dump_json()))

    def fidelity(self, tool: str, profile: str) -> FidelityRecord | None:
        with self._connect() as db:
            row = db.execute("SELECT record FROM fidelity WHERE tool=? AND profile=?", (tool, profile)).fetchone()
        return FidelityRecord.model_validate_json(row[0]) if row else None

    def evidence(self, task: Task, subject: Subject | None) -> dict[str, dict[Source, float]]:
        """Per model, how many scores of each source stand behind `strengths(task, subject)`:
        the subject's own rows when the model has them, else its rows for every subject."""
        rows: dict[str, list[StrengthEntry]] = {}
        for entry in self.entries(task=task):
            rows.setdefault(entry.model, []).append(entry)
        evidence: dict[str, dict[Source, float]] = {}
        for model, entries in rows.items():
            own = [e for e in entries if e.subject == subject]
            counts: dict[Source, float] = {}
            for entry in own or entries:
                counts[entry.source] = counts.get(entry.source, 0.0) + entry.count
            evidence[model] = counts
        return evidence

    # Files ---------------------------------------------------------------------

    def export(self, path: Path | str) -> Path:
        """Writes every row to `path`, as JSON for `.json` and YAML otherwise."""
        path = Path(path)
        data = {"strengths": [e.model_dump(mode="json") for e in self.entries()]}
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".json":
            path.write_text(json.dumps(data, indent=2))
        else:
            path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    def import_file(self, path: Path | str, *, overwrite: bool = True) -> int:
        """Reads rows written by `export`, or a seed file (see `capability_store/seed/`)."""
        return self.put(load_entries(path), overwrite=overwrite)


def load_entries(path: Path | str) -> list[StrengthEntry]:
    """Rows from an export file, or from a seed file that gives mean opinion scores.

    A seed row may give `mean_opinion_score` (1-20) instead of `strength`, and
    may leave out `subject` to apply to all six subjects.
    """
    path = Path(path)
    text = path.read_text()
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if not isinstance(data, dict) or not isinstance(data.get("strengths"), list):
        raise ValueError(f"{path}: expected a mapping with a `strengths` list.")
    default_source = data.get("source", "prior")
    entries = []
    for row in data["strengths"]:
        row = dict(row)
        if "mean_opinion_score" in row:
            row["strength"] = float(row.pop("mean_opinion_score")) * 100
        row.setdefault("source", default_source)
        subjects = [row.pop("subject")] if "subject" in row else list(SUBJECTS)
        entries.extend(StrengthEntry(subject=subject, **row) for subject in subjects)
    return entries
