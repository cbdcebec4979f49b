"""Checkpointers for durable runs: SQLite by default, Postgres by connection string.

    with open_checkpointer("runs/checkpoints.sqlite") as saver:
        graph = build_graph(checkpointer=saver)
        graph.invoke(inputs, {"configurable": {"thread_id": "job-42"}}, context=...)
        # after a crash, the same thread resumes where it stopped:
        graph.invoke(None, {"configurable": {"thread_id": "job-42"}}, context=...)

`target` is a SQLite file path (or `sqlite:///path`), a Postgres URL
(`postgresql://user:pass@host/db`; needs `langgraph-checkpoint-postgres`),
or `memory` for a process-local saver.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.serde.base import maybe_add_typed_methods
from langgraph.graph.state import CompiledStateGraph
from pydantic import BaseModel

import spagent_graph.manifest as manifest
import spagent_graph.state as state
from .errors import ConfigError, UsageError

__all__ = ["STATE_MODULES", "StateTypesGraph", "allow_state_types", "open_checkpointer", "state_types"]


# The modules whose pydantic types a graph's state holds (a step's record holds its manifest).
STATE_MODULES: tuple[ModuleType, ...] = (state, manifest)


def state_types(*modules: ModuleType) -> set[tuple[str, str]]:
    """(module, name) of the pydantic types that `modules` define: what a graph's state holds."""
    return {
        (module.__name__, name)
        for module in modules
        for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, BaseModel) and value.__module__ == module.__name__
    }


def allow_state_types(checkpointer: Any, *modules: ModuleType) -> Any:
    """`checkpointer`, told that the pydantic types of `modules` may be loaded.

    LangGraph's serializer loads only the types it was told of under
    LANGGRAPH_STRICT_MSGPACK=true, and otherwise loads anything while warning
    for each unnamed type (a default that later versions drop). Either way the
    returned copy of the saver is given an explicit list: ours, LangGraph's own
    safe types, and whatever the saver's serializer already listed. The
    caller's saver object is left as it was.
    """
    if checkpointer is None or isinstance(checkpointer, bool) or not hasattr(checkpointer, "with_allowlist"):
        return checkpointer
    ours = _types_of(modules)
    serde = getattr(checkpointer, "serde", None)
    # A permissive serializer (any subclass: LangGraph's server has its own) would ignore a
    # list added to it, and warn at every load; its copy starts from LangGraph's safe types.
    if isinstance(serde, JsonPlusSerializer) and getattr(serde, "_allowed_msgpack_modules", None) is True:
        listed = copy.copy(serde)
        listed._allowed_msgpack_modules = None
        clone = copy.copy(checkpointer)
        clone.serde = maybe_add_typed_methods(listed.with_msgpack_allowlist(ours))
        return clone
    return checkpointer.with_allowlist(ours)


@functools.cache
def _types_of(modules: tuple[ModuleType, ...]) -> frozenset[tuple[str, str]]:
    return frozenset(state_types(*modules) | _URL_TYPES)


class StateTypesGraph(CompiledStateGraph):
    """A compiled graph whose saver, whoever lends it, loads the graph's state types.

    LangGraph lists a graph's types for its saver when it compiles, but only
    under strict msgpack, and its server (`langgraph dev`, LangGraph Platform)
    lends a graph the server's saver by copying the graph, which drops that list
    (langgraph 1.2). A run then got its plans back as plain dicts. Here the list
    is applied where every run and state call resolves its saver: one given at
    compile time, the server's, or a parent graph's. Subclasses name their
    `state_modules`.
    """

    state_modules: tuple[ModuleType, ...] = ()

    @classmethod
    def of(cls, compiled: CompiledStateGraph) -> StateTypesGraph:
        """`compiled` as this class (a copy sharing its nodes and channels)."""
        return cls(**{key: value for key, value in vars(compiled).items() if key != "__orig_class__"})

    def _apply_checkpointer_allowlist(self, checkpointer: Any) -> Any:
        return allow_state_types(checkpointer, *self.state_modules)


# A request's image or video may be a URL (pydantic's Url type) until the inputs stage fetches it.
_URL_TYPES = {("pydantic.networks", "AnyUrl"), ("pydantic_core._pydantic_core", "Url")}


def _serializer() -> Any:
    # The graph's own types, for a caller who reads the saver directly; each graph adds its
    # own when it resolves the saver (`StateTypesGraph`).
    return JsonPlusSerializer(allowed_msgpack_modules=tuple(_types_of(STATE_MODULES)))


@contextlib.contextmanager
def open_checkpointer(target: str | Path, *, must_exist: bool = False) -> Iterator[Any]:
    """A saver for `target`. With `must_exist` (resuming), a SQLite file that is not there is an
    error rather than a new empty file, and `memory` is refused: it can hold no earlier run."""
    text = str(target)
    if must_exist and text == "memory":
        raise UsageError("--resume: the checkpoint store is `memory`, which keeps nothing between runs.")
    if text == "memory":
        from langgraph.checkpoint.memory import InMemorySaver

        yield InMemorySaver(serde=_serializer())
        return
    if text.startswith(("postgres://", "postgresql://")):
        try:
            from langgraph.checkpoint.postgres import PostgresSaver
        except ImportError as exc:
            raise ConfigError("A Postgres checkpointer needs `pip install langgraph-checkpoint-postgres`.") from exc
        with PostgresSaver.from_conn_string(text) as saver:
            saver.serde = _serializer()
            saver.setup()
            yield saver
        return
    from langgraph.checkpoint.sqlite import SqliteSaver

    path = Path(text.removeprefix("sqlite:///"))
    if must_exist and not path.is_file():
        raise UsageError(f"--resume: there is no checkpoint file at {path}, so no run to continue "
                         "(`spagent config` shows where checkpoints are kept; --checkpoint picks another file).")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Branches run in threads; the saver serialises its own use of the connection.
        connection = sqlite3.connect(path, check_same_thread=False)
        connection.execute("PRAGMA user_version")  # opening is lazy: this is where a bad file shows
    except (OSError, sqlite3.Error) as exc:
        raise UsageError(f"--checkpoint {path}: cannot be opened as a SQLite file ({exc}).") from None
    try:
        yield SqliteSaver(connection, serde=_serializer())
    finally:
        connection.close()
