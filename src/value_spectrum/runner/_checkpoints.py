"""Opening a run's checkpoint database where the runner needs it: owner-only, and with a broken
file, a full disk or a folder that cannot be written reported as one :class:`RunDirError` line
naming the file and what to do (never a SQLite traceback).

Errors raised by the work done inside the block pass through unchanged.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import sqlite3
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from value_spectrum._private import private_dir, private_file
from value_spectrum.runlog import RunDirError

logger = logging.getLogger(__name__)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(getattr(exc, "strerror", None) or exc or type(exc).__name__).split())


def sessions_checkpointed(path: Path, namespace: str) -> set[str]:
    """The session ids with a checkpoint in the SQLite database ``path`` under the run's thread
    ``namespace`` (read-only; an absent or unreadable file has none)."""
    if not path.is_file():
        return set()
    prefix = f"{namespace}/" if namespace else ""
    try:
        with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            rows = db.execute("SELECT DISTINCT thread_id FROM checkpoints").fetchall()
    except sqlite3.Error:
        return set()
    return {str(t)[len(prefix):] for (t,) in rows if str(t).startswith(prefix)}


def checkpoint_problem(path: Path, exc: BaseException) -> str:
    """The one-line message for a checkpoint database that cannot be used."""
    name = getattr(exc, "sqlite_errorname", "")
    why = _one_line(exc)
    if name == "SQLITE_FULL" or getattr(exc, "errno", None) == errno.ENOSPC:
        return (f"{path}: the disk is full ({why}); free some space and run the same command again "
                "(finished sessions are kept, unfinished ones resume)")
    if name in {"SQLITE_NOTADB", "SQLITE_CORRUPT"} or type(exc) is sqlite3.DatabaseError:
        return (f"{path}: not a usable checkpoint database ({why}); move it aside and run the same "
                "command again (finished sessions in sessions/ are kept; unfinished ones start over)")
    return (f"{path}: cannot open the checkpoint database ({why}); check the folder's permissions "
            "and free space, then run the same command again")


@asynccontextmanager
async def open_checkpoints(
    path: Path, url: str | None = None, *, max_connections: int = 8, open_in_thread: bool = False
) -> AsyncIterator[Any]:
    """The checkpointer of a run: ``url`` (``--checkpoints``: a SQLite file or
    ``postgresql://...``, see :mod:`~value_spectrum.graphs.checkpoint_store`), or
    :func:`~value_spectrum.graphs.checkpoints.sqlite_checkpointer` on ``path`` (created
    owner-only) when ``url`` is None.

    Args:
        path: the run directory's checkpoint database (used when ``url`` is None).
        url: the store named by ``--checkpoints``.
        max_connections: the PostgreSQL pool's size.
        open_in_thread: create and close a SQLite file off the event loop (for callers that
            open one per session while other sessions run; see
            :func:`~value_spectrum.graphs.checkpoints.sqlite_checkpointer`).

    Raises:
        RunDirError: the store cannot be opened. (When a SQLite file cannot be flushed at the end,
            an error is logged instead, so that the caller still reports what was done.)
    """
    from value_spectrum.graphs.checkpoint_store import (
        CheckpointStoreError,
        is_postgres,
        open_postgres,
        sqlite_path,
    )
    from value_spectrum.graphs.checkpoints import sqlite_checkpointer

    try:
        if is_postgres(url):
            assert url is not None
            async with open_postgres(url, max_connections=max_connections) as saver:
                yield saver
            return
        if url is not None:
            path = sqlite_path(url)
    except CheckpointStoreError as exc:
        raise RunDirError(str(exc)) from None
    if not path.parent.is_dir() and url is not None:
        raise RunDirError(f"--checkpoints: folder {path.parent} does not exist (for {path})")

    opener = sqlite_checkpointer(path, open_in_thread=open_in_thread)
    try:
        if url is None:  # the run directory's own folder; a --checkpoints folder is the user's
            private_dir(path.parent)
        private_file(path)
        saver = await opener.__aenter__()
    except (sqlite3.Error, OSError) as exc:
        raise RunDirError(checkpoint_problem(path, exc)) from None
    try:
        yield saver
    except BaseException:
        if not await opener.__aexit__(*sys.exc_info()):
            raise
    else:
        try:
            await opener.__aexit__(None, None, None)
        except (sqlite3.Error, OSError) as exc:
            # the last checkpoints could not be flushed: unfinished sessions resume from an
            # earlier turn; finished ones are in sessions/ already. Say so; keep the summary.
            logger.error("%s", checkpoint_problem(path, exc))
