"""The response cache in one SQLite file on this machine (the default store of
:class:`~value_spectrum.agents.cache.ResponseCache`).

WAL mode makes the file safe for many processes on one machine (the local executor, the Ray
actors of one node, several runs at once). It is not safe on a network file system shared by
several machines: use PostgreSQL there (:mod:`~value_spectrum.agents.cache_postgres`).

A file that is not a database (or is damaged) is moved aside as
``responses.sqlite.damaged-<time>`` with one warning naming it, and a fresh cache is started; a
file that cannot be opened or written at all (a full disk, a read-only folder) raises
:class:`~value_spectrum.agents.cache.CacheStoreError`, which switches the cache off. The file and
a folder made for it are owner-only: they hold every prompt and reply.

Each thread of each process keeps one open connection per cache file (opening and closing one
per lookup and per store cost about a millisecond each) with ``synchronous=NORMAL``: in WAL mode
a commit is then safe against a crash of the program, and only a power loss can drop the last
few entries, which costs nothing but asking the model again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path

from value_spectrum._private import SQLITE_SIDECARS, private_file
from value_spectrum.agents.cache import CacheStoreError

logger = logging.getLogger(__name__)

_local = threading.local()
"""Per-thread open SQLite connections, keyed by (file, process id)."""

_DAMAGED = frozenset({"SQLITE_NOTADB", "SQLITE_CORRUPT"})
"""SQLite error names meaning the file itself is bad (rather than busy, full or read-only)."""

_BUSY = frozenset({"SQLITE_BUSY", "SQLITE_LOCKED"})
"""SQLite error names of a database another process holds for a moment."""


def _damaged(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorname", "") in _DAMAGED or type(exc) is sqlite3.DatabaseError


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class SqliteStore:
    """Cache entries in the SQLite file ``path`` (created owner-only, with its folder).

    Raises:
        CacheStoreError: the file cannot be used (after a damaged one was moved aside and a fresh
            one could not be made either).
    """

    remote = False
    """Lookups take microseconds: the gateway makes them in its event loop."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.where = str(self.path)
        try:
            private_file(self.path)
            self._create()
        except sqlite3.Error as exc:
            if not _damaged(exc):
                raise CacheStoreError(_one_line(exc)) from None
            aside = self._move_aside()
            logger.warning(
                "response cache %s is not a usable database (%s); moved it to %s and started an "
                "empty cache (delete the old file when you no longer need it)",
                self.path, exc, aside,
            )
            try:
                private_file(self.path)
                self._create()
            except (OSError, sqlite3.Error) as again:
                raise CacheStoreError(_one_line(again)) from None
        except OSError as exc:
            raise CacheStoreError(_one_line(exc)) from None

    def _create(self) -> None:
        with closing(self._connect()) as db, db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, model TEXT, created REAL, body TEXT)"
            )
            db.execute("SELECT key, body FROM responses LIMIT 0")  # the columns this version uses

    def _move_aside(self) -> Path:
        """Rename the bad file (and its SQLite side files) out of the way; the new name."""
        aside = self.path.with_name(f"{self.path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        for suffix in ("", *SQLITE_SIDECARS):
            with contextlib.suppress(FileNotFoundError):  # another process may have moved it
                os.replace(f"{self.path}{suffix}", f"{aside}{suffix}")
        return aside

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30.0, isolation_level=None)

    def _db(self) -> sqlite3.Connection:
        """This thread's open connection to the file (a fresh one after a fork)."""
        conns: dict[tuple[str, int], sqlite3.Connection] | None = getattr(_local, "conns", None)
        if conns is None:
            conns = _local.conns = {}
        slot = (str(self.path), os.getpid())
        db = conns.get(slot)
        if db is None:
            db = self._connect()
            db.execute("PRAGMA synchronous=NORMAL")
            conns[slot] = db
        return db

    def _drop(self) -> None:
        """Forget this thread's connection after an error (the next call opens a new one)."""
        conns: dict[tuple[str, int], sqlite3.Connection] = getattr(_local, "conns", {})
        db = conns.pop((str(self.path), os.getpid()), None)
        if db is not None:
            with contextlib.suppress(sqlite3.Error):
                db.close()

    def _failed(self, exc: sqlite3.Error) -> None:
        """A busy database is skipped this once (the model is asked); anything else (damaged,
        full, read-only) raises :class:`CacheStoreError`, which switches the cache off."""
        self._drop()
        if getattr(exc, "sqlite_errorname", "") in _BUSY:
            logger.info("response cache %s busy: %s", self.path, exc)
            return
        raise CacheStoreError(_one_line(exc)) from None

    def load(self, key: str) -> str | None:
        """The stored body under ``key``; None on a miss (or a busy database)."""
        try:
            row = self._db().execute("SELECT body FROM responses WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            self._failed(exc)
            return None
        return None if row is None else str(row[0])

    def save(self, key: str, model: str, body: str) -> None:
        """Store ``body`` under ``key`` (replacing an older one)."""
        try:
            self._db().execute(
                "INSERT OR REPLACE INTO responses (key, model, created, body) VALUES (?, ?, ?, ?)",
                (key, model, time.time(), body),
            )
        except sqlite3.Error as exc:
            self._failed(exc)

    def count(self) -> int:
        """Entries stored."""
        with closing(self._connect()) as db:
            return int(db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        """Close this thread's connection."""
        self._drop()


def sqlite_cached_keys(path: Path, keys: Iterable[str]) -> set[str] | None:
    """Which of ``keys`` the SQLite cache file ``path`` holds, read-only: nothing is created or
    written (the dry run asks). An empty set when there is no file; None when it is unreadable."""
    todo = sorted(set(keys))
    if not path.is_file() or not todo:
        return set()
    # read-only; with no write-ahead log beside it, immutable too, so SQLite makes no -shm
    # file either (with a log, a writer is about: its -shm file is there and read as it is)
    live = Path(f"{path}-wal").exists()
    uri = f"{path.resolve().as_uri()}?mode=ro" + ("" if live else "&immutable=1")
    try:
        with closing(sqlite3.connect(uri, uri=True)) as db:
            found: set[str] = set()
            for start in range(0, len(todo), 500):
                chunk = todo[start:start + 500]
                marks = ",".join("?" * len(chunk))
                query = f"SELECT key FROM responses WHERE key IN ({marks})"  # noqa: S608 (only placeholders)
                found.update(r[0] for r in db.execute(query, chunk))
            return found
    except sqlite3.Error as exc:
        logger.info("response cache %s not readable for the dry run: %s", path, exc)
        return None
