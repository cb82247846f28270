"""Where session checkpoints live, chosen by a URL (``--checkpoints``).

* nothing, a file path, ``sqlite:///RELATIVE`` or ``sqlite:////ABSOLUTE`` (as SQLAlchemy writes them): a SQLite database on this machine
  (:func:`~value_spectrum.graphs.checkpoints.sqlite_checkpointer`), the default: the run
  directory's ``checkpoints.sqlite``;
* ``postgresql://USER[:PASSWORD]@HOST[:PORT]/DB`` (or ``postgres://``): LangGraph's
  ``AsyncPostgresSaver`` (``pip install 'value-spectrum[postgres]'``) over a small psycopg
  connection pool, so any worker on any machine can continue any session.

The runner opens them with :func:`~value_spectrum.runner._checkpoints.open_checkpoints`. Both
keep the same graph layout, so a run may switch between them only by starting its
unfinished sessions again (the threads live in one store or the other).

Example:
    >>> describe_store("postgresql://vs:secret@db.internal:5432/runs")
    'PostgreSQL vs@db.internal:5432/runs'
    >>> describe_store(None)
    'SQLite (the run directory)'
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from value_spectrum._store_urls import (
    POSTGRES_SCHEMES,
    describe_postgres,
    describe_safe,
    is_postgres,
)

logger = logging.getLogger(__name__)

POSTGRES_MISSING = (
    "--checkpoints postgresql://... needs langgraph-checkpoint-postgres and psycopg: "
    "pip install 'value-spectrum[postgres]'"
)
"""The error when the Postgres checkpointer is not installed."""

_SETUP_LOCK = 7_140_914_001
"""The advisory lock held while one worker creates or migrates the checkpoint tables (several
workers starting at once would otherwise race on LangGraph's migrations table)."""


class CheckpointStoreError(RuntimeError):
    """A checkpoint store that cannot be used (bad URL, missing package, unreachable server)."""


def describe_store(url: str | Path | None) -> str:
    """A one-line, password-free description of a checkpoint store."""
    if url is None:
        return "SQLite (the run directory)"
    text = str(url)
    if is_postgres(text):
        return describe_postgres(text)
    return f"SQLite {sqlite_path(text)}"


def sqlite_path(url: str | Path) -> Path:
    """The file of a SQLite store given as a path or ``sqlite:///PATH``.

    Raises:
        CheckpointStoreError: a URL with another scheme.
    """
    text = str(url)
    if "://" not in text:
        return Path(text)
    parts = urlsplit(text)
    if parts.scheme.lower() != "sqlite":
        raise CheckpointStoreError(
            f"--checkpoints: unknown store {parts.scheme + '://'!r} in {describe_safe(text)!r}; "
            "give a file path, sqlite:///PATH or postgresql://USER@HOST/DB"
        )
    rest = text.split("://", 1)[1]
    if not rest.startswith("/") or rest == "/":
        raise CheckpointStoreError(
            f"--checkpoints: {text!r} names no file; use sqlite:///RELATIVE or sqlite:////ABSOLUTE"
        )
    return Path(rest[1:])


@asynccontextmanager
async def open_postgres(url: str, *, max_connections: int = 8) -> AsyncIterator[Any]:
    """LangGraph's ``AsyncPostgresSaver`` on the database ``url`` names, its tables created (or
    migrated) under an advisory lock, over a pool of at most ``max_connections`` (sessions share
    them: each statement borrows one); closed on exit.

    Raises:
        CheckpointStoreError: the package is missing, the server cannot be reached or the tables
            cannot be made (one line, no password).
    """
    try:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        from psycopg.rows import dict_row
        from psycopg_pool import AsyncConnectionPool
    except ImportError:
        raise CheckpointStoreError(POSTGRES_MISSING) from None

    import psycopg

    where = describe_store(url)
    try:  # one plain connection first: a refused or unknown server fails fast, with its reason
        first = await psycopg.AsyncConnection.connect(url, connect_timeout=10)
    except Exception as exc:
        raise CheckpointStoreError(f"--checkpoints: cannot connect to {where}: {_reason(exc)}") from None
    await first.close()
    pool: Any = AsyncConnectionPool(
        url,
        min_size=1,
        max_size=max(2, max_connections),
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        open=False,
    )
    try:
        await pool.open(wait=True, timeout=15.0)
    except Exception as exc:
        await pool.close()
        raise CheckpointStoreError(
            f"--checkpoints: cannot connect to {where}: {_reason(exc)}"
        ) from None
    try:
        saver = AsyncPostgresSaver(pool)
        try:
            async with pool.connection() as conn:
                await conn.execute("SELECT pg_advisory_lock(%s)", (_SETUP_LOCK,))
                try:
                    await saver.setup()
                finally:
                    await conn.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK,))
        except Exception as exc:
            raise CheckpointStoreError(
                f"--checkpoints: cannot create the checkpoint tables in {where}: {_reason(exc)}"
            ) from None
        logger.debug("checkpoints in %s", where)
        yield saver
    finally:
        await pool.close()


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


__all__ = [
    "POSTGRES_MISSING",
    "POSTGRES_SCHEMES",
    "CheckpointStoreError",
    "describe_safe",
    "describe_store",
    "is_postgres",
    "open_postgres",
    "sqlite_path",
]
