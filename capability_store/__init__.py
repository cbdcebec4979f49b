"""Strengths of tools per task and subject; knows nothing of LangGraph."""

from importlib.resources import files
from pathlib import Path

from .store import MAX_STRENGTH, MIN_STRENGTH, CapabilityStore, FidelityRecord, Source, StrengthEntry, load_entries

__all__ = [
    "MAX_STRENGTH",
    "MIN_STRENGTH",
    "LIBRARY_SEED",
    "PAPER_SEED",
    "CapabilityStore",
    "FidelityRecord",
    "Source",
    "StrengthEntry",
    "load_entries",
]

PAPER_SEED = Path(str(files(__package__) / "seed" / "paper.yaml"))
# The newer library models' priors, each marked published (with its citation) or neutral.
LIBRARY_SEED = Path(str(files(__package__) / "seed" / "library.yaml"))
