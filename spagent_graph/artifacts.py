"""Where a run's files go, and the sharing of identical steps.

Each run writes under `<root>/<run_id>/`. A step is identified by everything
that determines its output (task, tool, prompt, input file, settings, seed);
when two routes need the same step (say, the same text-to-image call before
two different image-to-video tools), it runs once and both use its file.

A finished step also leaves a small record beside its file. A run resumed
from a checkpoint after its process died (LangGraph reruns the branch that
was cut short) finds the record and reuses the file instead of running the
step's tool again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from .manifest import FileRecord, file_sha256

__all__ = ["ArtifactStore", "step_key"]

T = TypeVar("T")


def step_key(**identity: Any) -> str:
    """A short stable hash of everything that determines a step's output."""
    encoded = json.dumps(identity, sort_keys=True, default=str).encode()
    return hashlib.sha256(encoded).hexdigest()[:16]


class ArtifactStore:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._steps: dict[str, Future] = {}
        self._lock = threading.Lock()

    def run_dir(self, run_id: str) -> Path:
        if not re.fullmatch(r"[A-Za-z0-9._-]+", run_id):
            raise ValueError(f"`run_id` must be letters, digits, '.', '_' or '-', got {run_id!r}.")
        path = self.root / run_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def kept_input(self, run_id: str, path: Path | str) -> FileRecord:
        """The request's input file, kept in the run's `inputs/` folder (a hard link where the file system
        allows, else a copy) unless it is in the run's folder already; its path there and its hash."""
        run_dir = self.run_dir(run_id)
        path = Path(path)
        if not path.resolve().is_relative_to(run_dir.resolve()):
            kept = run_dir / "inputs" / path.name
            with self._lock:  # both routes keep the same file
                if not (kept.is_file() and kept.stat().st_size == path.stat().st_size):
                    kept.parent.mkdir(exist_ok=True)
                    partial = kept.with_name(f".{kept.name}.partial")
                    partial.unlink(missing_ok=True)
                    try:
                        os.link(path, partial)
                    except OSError:
                        shutil.copyfile(path, partial)
                    partial.replace(kept)
            path = kept
        return FileRecord(path=path.resolve().relative_to(run_dir.resolve()).as_posix(), sha256=file_sha256(path))

    def step_path(self, run_id: str, key: str, task: str, tool: str, suffix: str) -> Path:
        safe_tool = re.sub(r"[^A-Za-z0-9._-]", "_", tool)
        steps = self.run_dir(run_id) / "steps"
        steps.mkdir(exist_ok=True)  # tools may make scratch folders beside their output
        return steps / f"{task}-{safe_tool}-{key}{suffix}"

    def _record_path(self, run_id: str, key: str) -> Path:
        return self.run_dir(run_id) / "steps" / f"{key}.json"

    def finished_step(self, run_id: str, key: str) -> dict | None:
        """The record of a step that finished in this run (in any process), if its file is still there."""
        try:
            record = json.loads(self._record_path(run_id, key).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return record if Path(record.get("output", "")).is_file() else None

    def mark_finished(self, run_id: str, key: str, record: dict) -> None:
        """Writes a finished step's record; written whole or not at all."""
        record_path = self._record_path(run_id, key)
        record_path.parent.mkdir(parents=True, exist_ok=True)
        partial = record_path.with_suffix(".json.partial")
        partial.write_text(json.dumps(record))
        partial.replace(record_path)

    def once(self, run_id: str, key: str, produce: Callable[[], T]) -> tuple[T, bool]:
        """Runs `produce` for (run_id, key) once; later and concurrent callers get its result.

        Returns the result and whether it was reused. A failure is shared too:
        every caller of a failed step sees the same exception.
        """
        slot = f"{run_id}/{key}"
        with self._lock:
            future = self._steps.get(slot)
            owner = future is None
            if owner:
                future = self._steps[slot] = Future()
        if not owner:
            return future.result(), True
        try:
            result = produce()
        except BaseException as exc:
            future.set_exception(exc)
            raise
        future.set_result(result)
        return result, False

    def forget_run(self, run_id: str) -> None:
        with self._lock:
            for slot in [s for s in self._steps if s.startswith(f"{run_id}/")]:
                del self._steps[slot]
