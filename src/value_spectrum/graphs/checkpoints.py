"""Checkpointers for session graphs.

:func:`sqlite_checkpointer` opens LangGraph's ``AsyncSqliteSaver`` on a file, in WAL mode with
``synchronous=NORMAL``: a commit is durable against a killed process (kill -9, Ctrl-C, OOM),
which is what resuming needs, without an fsync per checkpoint; an OS crash or power cut may lose
the last few checkpoints, which only means redoing those turns. Measured on this project's CI
machine the default (``FULL``) made every checkpoint wait for the disk (see
``benchmarks/bench_session.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any


@asynccontextmanager
async def sqlite_checkpointer(path: str | Path, *, synchronous: str = "NORMAL") -> AsyncIterator[Any]:
    """An ``AsyncSqliteSaver`` on ``path`` (created if missing), closed on exit.

    Args:
        path: the database file.
        synchronous: SQLite's ``PRAGMA synchronous`` (``NORMAL`` or ``FULL``).
    """
    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
        raise ValueError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, got {synchronous!r}")
    async with aiosqlite.connect(str(path)) as conn:
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
        saver = AsyncSqliteSaver(conn)
        await saver.setup()
        yield saver
