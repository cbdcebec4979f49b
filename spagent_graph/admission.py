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

import collections
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from .errors import BusyError

__all__ = ["FairTurns", "RequestGate"]


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


class FairTurns:
    """Turns on the GPU, taken by callers in rotation.

    At most `at_once` holders at a time. When a turn frees and several callers
    wait, it goes to the next waiting caller in rotation after the one served
    last, so a caller with a batch of requests and a caller with one take turns
    instead of the second queueing behind the whole batch; one caller's own
    requests keep their arrival order.

        turns = FairTurns(at_once=1)
        with turns.turn("ada"):
            pipeline(...)
    """

    def __init__(self, at_once: int = 1) -> None:
        if at_once < 1:
            raise ValueError(f"FairTurns: expected at_once >= 1, got {at_once}.")
        self.at_once = at_once
        self._changed = threading.Condition()
        self._holding = 0
        self._waiting: dict[str, collections.deque[object]] = {}  # caller -> their tickets, oldest first
        self._rotation: list[str] = []  # callers with tickets waiting, in the order they came
        self._next = 0  # index in _rotation of the caller whose turn is next

    @contextlib.contextmanager
    def turn(self, caller: str) -> Iterator[None]:
        ticket = object()
        with self._changed:
            if caller not in self._waiting:
                self._waiting[caller] = collections.deque()
                self._rotation.append(caller)
            self._waiting[caller].append(ticket)
            while not (self._holding < self.at_once and self._first_in_line() is ticket):
                self._changed.wait()
            self._take(caller)
        try:
            yield
        finally:
            with self._changed:
                self._holding -= 1
                self._changed.notify_all()

    def waiting(self) -> dict[str, int]:
        """How many turns each caller is waiting for."""
        with self._changed:
            return {caller: len(tickets) for caller, tickets in self._waiting.items()}

    def _first_in_line(self) -> object:
        self._next %= len(self._rotation)
        return self._waiting[self._rotation[self._next]][0]

    def _take(self, caller: str) -> None:
        index = self._rotation.index(caller)
        self._waiting[caller].popleft()
        if self._waiting[caller]:
            self._next = index + 1
        else:  # the callers after it move up one place, so the next in rotation is at `index`
            del self._waiting[caller]
            self._rotation.pop(index)
            self._next = index
        self._holding += 1
        self._changed.notify_all()
