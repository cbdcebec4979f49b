"""A checkpointer made the way a user makes one: `memory`, `sqlite` (a file) or `postgres` (a URL)."""

from __future__ import annotations


def saver(kind: str, target: str):
    if kind == "memory":
        from langgraph.checkpoint.memory import InMemorySaver

        return InMemorySaver()
    if kind == "sqlite":
        import sqlite3

        from langgraph.checkpoint.sqlite import SqliteSaver

        return SqliteSaver(sqlite3.connect(target, check_same_thread=False))
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg import Connection

    connection = Connection.connect(target, autocommit=True, prepare_threshold=0)
    checkpointer = PostgresSaver(connection)
    checkpointer.setup()
    return checkpointer
