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
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import BaseModel

from .errors import ConfigError

__all__ = ["allow_state_types", "open_checkpointer", "state_types"]


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

    LangGraph's serializer loads only the types it was told of (in strict
    mode; otherwise it warns for each), so the graphs name theirs here.
    """
    if checkpointer is None or isinstance(checkpointer, bool) or not hasattr(checkpointer, "with_allowlist"):
        return checkpointer
    return checkpointer.with_allowlist(state_types(*modules))


def _serializer() -> Any:
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    from . import expansion, state

    return JsonPlusSerializer(allowed_msgpack_modules=tuple(state_types(state, expansion)))


@contextlib.contextmanager
def open_checkpointer(target: str | Path) -> Iterator[Any]:
    text = str(target)
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
    path.parent.mkdir(parents=True, exist_ok=True)
    # Branches run in threads; the saver serialises its own use of the connection.
    connection = sqlite3.connect(path, check_same_thread=False)
    try:
        yield SqliteSaver(connection, serde=_serializer())
    finally:
        connection.close()
