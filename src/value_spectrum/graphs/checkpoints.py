"""Checkpointers for session graphs.

:func:`sqlite_checkpointer` opens a SQLite checkpoint database for the async session graph.
Two choices, both measured with ``benchmarks/bench_session.py`` and
``benchmarks/bench_concurrency.py``:

* :class:`InlineSqliteSaver` (the default) runs LangGraph's ``SqliteSaver`` statements directly in
  the event loop's thread. LangGraph's ``AsyncSqliteSaver`` (aiosqlite) hands every statement to a
  worker thread and back, about two dozen hand-offs per turn; with many sessions at once those
  hand-offs, not SQLite, were most of the runner's time. A statement on a local WAL database
  takes tens of microseconds, so running it inline blocks the loop for less than a hand-off costs.
* Group commit: one commit per 50 ms window for every session that wrote in it, instead of two
  per node per session.
* WAL mode with ``synchronous=NORMAL``: a commit survives a killed process (kill -9, Ctrl-C, OOM),
  which is what resuming needs, without an fsync per checkpoint; an OS crash or power cut may lose
  the last few checkpoints, which only means redoing those turns.

Pass ``inline=False`` for the stock ``AsyncSqliteSaver`` (e.g. a database on a slow network
file system, where a blocking statement would stall every session).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from langgraph.checkpoint.sqlite import SqliteSaver

logger = logging.getLogger(__name__)

SYNC_MODES = frozenset({"OFF", "NORMAL", "FULL", "EXTRA"})
"""Accepted values of SQLite's ``PRAGMA synchronous``."""


class InlineSqliteSaver(SqliteSaver):
    """LangGraph's ``SqliteSaver`` with its async methods answered inline (no worker thread),
    and group commit.

    Use it from one event loop; every method finishes before it returns, so the saver's lock is
    never contended. Writes are committed at most ``commit_interval_s`` after they were made
    (one commit for all the sessions that wrote meanwhile) instead of once per statement, and
    always on close. A killed process loses at most that window of checkpoints: those turns are
    redone on resume, deterministically; SQLite's transactions keep the file consistent.

    Args:
        conn: the connection (``check_same_thread=False``).
        commit_interval_s: the group-commit window; 0 commits every statement.
    """

    def __init__(self, conn: sqlite3.Connection, *, commit_interval_s: float = 0.05, **kw: Any) -> None:
        super().__init__(conn, **kw)
        self.commit_interval_s = commit_interval_s
        self._commit_handle: asyncio.TimerHandle | None = None
        self._commit_failed = False

    @contextmanager
    def cursor(self, transaction: bool = True) -> Iterator[sqlite3.Cursor]:
        with self.lock:
            self.setup()
            cur = self.conn.cursor()
            try:
                yield cur
            finally:
                cur.close()
                if transaction:
                    self._schedule_commit()

    def _schedule_commit(self) -> None:
        if self.commit_interval_s <= 0:
            self.conn.commit()
            return
        if self._commit_handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called outside a loop (sync use): commit now
            self.conn.commit()
            return
        self._commit_handle = loop.call_later(self.commit_interval_s, self._timed_flush)

    def _timed_flush(self) -> None:
        """The group-commit timer's commit. A failure (a full disk) is logged once in one line
        rather than raised into the event loop as a traceback; the writes stay pending and the
        next commit, or :meth:`flush` on close, tries again (and raises there)."""
        try:
            self.flush()
        except sqlite3.Error as exc:
            if not self._commit_failed:
                logger.error("checkpoint commit failed: %s (retried at the next write)", exc)
            self._commit_failed = True

    def flush(self) -> None:
        """Commit pending writes now."""
        if self._commit_handle is not None:
            self._commit_handle.cancel()
            self._commit_handle = None
        with self.lock:
            self.conn.commit()

    async def aget_tuple(self, config: Any) -> Any:
        return self.get_tuple(config)

    async def alist(
        self,
        config: Any,
        *,
        filter: dict[str, Any] | None = None,
        before: Any = None,
        limit: int | None = None,
    ) -> AsyncIterator[Any]:
        # read them all first: ``list`` holds the saver's lock while it yields, and a caller that
        # stops early (or awaits another call of this saver in its loop) would deadlock
        for item in list(self.list(config, filter=filter, before=before, limit=limit)):
            yield item

    async def aput(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
        return self.put(config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self, config: Any, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        self.put_writes(config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        self.delete_thread(thread_id)

    async def aget_delta_channel_history(self, *, config: Any, channels: Sequence[str]) -> Mapping[str, Any]:
        return self.get_delta_channel_history(config=config, channels=channels)


@asynccontextmanager
async def sqlite_checkpointer(
    path: str | Path,
    *,
    synchronous: str = "NORMAL",
    inline: bool = True,
    commit_interval_s: float = 0.05,
    open_in_thread: bool = False,
) -> AsyncIterator[Any]:
    """A SQLite checkpointer on ``path`` (created if missing), closed on exit.

    Args:
        path: the database file.
        synchronous: SQLite's ``PRAGMA synchronous`` (``NORMAL`` or ``FULL``).
        inline: :class:`InlineSqliteSaver` (True) or LangGraph's ``AsyncSqliteSaver``.
        commit_interval_s: group-commit window of the inline saver (0: commit every write).
        open_in_thread: create and close the inline saver's file in a worker thread. Making a
            new database WAL, creating its tables and the last checkpoint on close wait for the
            disk (about 30 ms in all); a caller that opens one file per session (the Ray
            actors) would otherwise stall every other session of its event loop that long.
    """
    mode = synchronous.upper()
    if mode not in SYNC_MODES:
        raise ValueError(f"synchronous must be one of {sorted(SYNC_MODES)}, got {synchronous!r}")
    if inline:
        def _open() -> tuple[sqlite3.Connection, InlineSqliteSaver]:
            conn = sqlite3.connect(str(path), check_same_thread=False)
            try:
                if open_in_thread:  # a fresh file per session: made without waiting for the disk
                    conn.execute("PRAGMA synchronous=OFF")
                conn.execute("PRAGMA journal_mode=WAL")
                saver = InlineSqliteSaver(conn, commit_interval_s=commit_interval_s)
                saver.setup()  # outside the loop (in a thread) it commits at once
                conn.execute(f"PRAGMA synchronous={mode}")
            except BaseException:
                conn.close()
                raise
            return conn, saver

        conn, saver = await asyncio.to_thread(_open) if open_in_thread else _open()
        try:
            yield saver
        finally:
            try:
                saver.flush()
            finally:
                if open_in_thread:
                    await asyncio.to_thread(conn.close)
                else:
                    conn.close()
        return
    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    async with aiosqlite.connect(str(path)) as aconn:
        await aconn.execute("PRAGMA journal_mode=WAL")
        await aconn.execute(f"PRAGMA synchronous={mode}")
        asaver = AsyncSqliteSaver(aconn)
        await asaver.setup()
        yield asaver
