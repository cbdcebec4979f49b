"""What a report knows of a run beyond its state (the page and the JSON both read it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["RunFacts"]


@dataclass(frozen=True)
class RunFacts:
    """What the report needs to know about a run beyond its state."""

    thread_id: str | None = None
    started_at: datetime | None = None  # timezone-aware
    seconds: float | None = None  # wall time of the run
    # The settings in force, JSON-able, secrets already masked.
    settings: dict[str, Any] = field(default_factory=dict)
    # Where each came from ("default", "file ...", "environment SPAGENT_X", "option --x").
    setting_sources: dict[str, str] = field(default_factory=dict)
    demo_tools: bool = False  # the videos were made by random-weight demo tools
    # A copy of the winning video beside the report (winner.mp4), when the runner made one.
    winner_file: Path | None = None
    error: str | None = None  # the error that ended the run, when one did

    def to_json(self) -> dict[str, Any]:
        return {
            "thread_id": self.thread_id,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "seconds": self.seconds,
            "settings": self.settings,
            "setting_sources": self.setting_sources,
            "demo_tools": self.demo_tools,
            "winner_file": str(self.winner_file) if self.winner_file else None,
            "error": self.error,
        }
