"""A bound on concurrent requests, so that an overloaded service says "busy" instead of
running out of GPU memory.

At most `max_running` requests run at once; up to `max_waiting` more wait
their turn in arrival order; a request beyond both is refused at once with
`BusyError`, before it has loaded or generated anything.

    gate = RequestGate(max_running=2, max_waiting=8)
    result = gate.invoke(graph, {"request": ...}, context=Context(...))
    for mode, chunk in gate.stream(graph, inputs, stream_mode=["updates", "custom"], context=...): ...

Tool calls inside the running requests share the pipeline pool: a loaded
model serves all of them, and calls on one GPU queue (see `PipelinePool`).
(`langgraph dev` and LangGraph Platform bound their runs with their own job
queue; this gate is for applications that call the graph themselves.)
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from .errors import BusyError

__all__ = ["RequestGate"]


class RequestGate:
    def __init__(self, max_running: int = 1, max_waiting: int = 0) -> None:
        if max_running < 1 or max_waiting < 0:
            raise ValueError(f"RequestGate: expected max_running >= 1 and max_waiting >= 0, "
                             f"got {max_running} and {max_waiting}.")
        self.max_running, self.max_waiting = max_running, max_waiting
        self._slots = threading.Semaphore(max_running)
        self._lock = threading.Lock()
        self.running = self.waiting = 0
        self.refused = 0

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Holds a running slot for the block; raises `BusyError` when the queue is full."""
        with self._lock:
            if self.running + self.waiting >= self.max_running + self.max_waiting:
                self.refused += 1
                raise BusyError(self.running, self.waiting, self.max_running, self.max_waiting)
            self.waiting += 1
        self._slots.acquire()
        with self._lock:
            self.waiting -= 1
            self.running += 1
        try:
            yield
        finally:
            with self._lock:
                self.running -= 1
            self._slots.release()

    def invoke(self, graph: Any, inputs: Any, config: Any = None, **kwargs: Any) -> Any:
        with self.slot():
            return graph.invoke(inputs, config, **kwargs)

    def stream(self, graph: Any, inputs: Any, config: Any = None, **kwargs: Any) -> Iterator[Any]:
        with self.slot():
            yield from graph.stream(inputs, config, **kwargs)
