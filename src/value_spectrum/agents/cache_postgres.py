"""The response cache in a PostgreSQL database (``--cache-store postgresql://USER@HOST/DB``),
shared by every process of every machine that reaches it: the Ray actors of a cluster, several
runs at once, a laptop and a server.

One table, ``value_spectrum_responses`` (key, model, created, body), keyed exactly as the SQLite
file (:func:`~value_spectrum.agents.cache.request_key`), created under an advisory lock so that
many workers starting at once do not race. Statements go through a small psycopg connection
pool in autocommit mode; the gateway runs them in a worker thread (:attr:`PostgresStore.remote`),
so a lookup's network round trip never holds up the other sessions of an event loop.

A server that cannot be reached, a URL that names no database, or a table that cannot be made
raises :class:`~value_spectrum.agents.cache.CacheStoreError` (one line, no password), which
switches the cache off with one warning: the run goes on asking the model. A pool whose
connections are all busy skips that one lookup or store.

Needs ``pip install 'value-spectrum[postgres]'`` (psycopg and psycopg-pool).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from value_spectrum._store_urls import describe_postgres
from value_spectrum.agents.cache import CacheStoreError

logger = logging.getLogger(__name__)

TABLE = "value_spectrum_responses"
"""The cache's table."""

POSTGRES_MISSING = (
    "a postgresql:// response cache needs psycopg and psycopg-pool: pip install 'value-spectrum[postgres]'"
)
"""The reason given when psycopg is not installed."""

_CREATE = (
    "CREATE TABLE IF NOT EXISTS value_spectrum_responses (key TEXT PRIMARY KEY, model TEXT NOT NULL, "
    "created DOUBLE PRECISION NOT NULL, body TEXT NOT NULL)"
)
_COLUMNS = "SELECT key, body FROM value_spectrum_responses LIMIT 0"
_LOAD = "SELECT body FROM value_spectrum_responses WHERE key = %s"
_SAVE = (
    "INSERT INTO value_spectrum_responses (key, model, created, body) VALUES (%s, %s, %s, %s) "
    "ON CONFLICT (key) DO UPDATE SET model = EXCLUDED.model, created = EXCLUDED.created, body = EXCLUDED.body"
)
_CONTAINS = "SELECT key FROM value_spectrum_responses WHERE key = ANY(%s)"
_COUNT = "SELECT COUNT(*) FROM value_spectrum_responses"
_EXISTS = "SELECT to_regclass('value_spectrum_responses') IS NOT NULL"

_SETUP_LOCK = 7_140_914_002
"""The advisory lock held while one worker creates the cache table."""

CONNECT_TIMEOUT_S = 5
"""Seconds to reach the server when the cache is opened."""

WAIT_S = 10.0
"""Seconds a statement waits for a free pooled connection before it is skipped."""


def _reason(exc: BaseException) -> str:
    return (" ".join(str(exc).split()) or type(exc).__name__)[:300]


class PostgresStore:
    """Cache entries in the database ``url`` names.

    Args:
        url: ``postgresql://USER[:PASSWORD]@HOST[:PORT]/DB``.
        max_connections: the pool's size (and the gateway's threads for it).
        create: make the table when it is missing (False: read only; a missing table holds
            nothing).

    Raises:
        CacheStoreError: psycopg is missing, the server cannot be reached, or the table cannot be
            made.
    """

    remote = True
    """Each statement is a network round trip: the gateway runs it off the event loop."""

    def __init__(self, url: str, *, max_connections: int = 8, create: bool = True) -> None:
        self.where = describe_postgres(url)
        self.max_connections = max(1, max_connections)
        try:
            import psycopg
            from psycopg_pool import ConnectionPool, PoolTimeout
        except ImportError:
            raise CacheStoreError(POSTGRES_MISSING) from None
        self._errors: tuple[type[BaseException], ...] = (psycopg.Error,)
        self._busy: tuple[type[BaseException], ...] = (PoolTimeout,)
        self._missing = False  # no table yet and none made (create=False)
        try:  # one plain connection first: a refused or unknown server fails fast, with its reason
            with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S, autocommit=True) as conn:
                if create:
                    with conn.transaction():
                        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SETUP_LOCK,))
                        conn.execute(_CREATE)
                else:
                    row = conn.execute(_EXISTS).fetchone()
                    self._missing = not (row and row[0])
                if not self._missing:
                    conn.execute(_COLUMNS)  # the columns this version uses
        except psycopg.Error as exc:
            raise CacheStoreError(_reason(exc)) from None
        self._pool: Any = ConnectionPool(
            url, min_size=1, max_size=self.max_connections, timeout=WAIT_S, open=False,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S, "prepare_threshold": None},
            name="value-spectrum-response-cache",
        )
        try:
            self._pool.open(wait=True, timeout=CONNECT_TIMEOUT_S * 2)
        except Exception as exc:
            self._pool.close()
            raise CacheStoreError(_reason(exc)) from None

    def _run(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]] | None:
        """Rows of one statement; None when no pooled connection came free in time."""
        try:
            with self._pool.connection() as conn:
                cur = conn.execute(sql, params)
                return list(cur.fetchall()) if cur.description else []
        except self._busy as exc:
            logger.info("response cache %s busy: %s", self.where, exc)
            return None
        except self._errors as exc:
            raise CacheStoreError(_reason(exc)) from None

    def load(self, key: str) -> str | None:
        """The stored body under ``key``; None on a miss (or a busy pool)."""
        if self._missing:
            return None
        rows = self._run(_LOAD, (key,))
        return str(rows[0][0]) if rows else None

    def save(self, key: str, model: str, body: str) -> None:
        """Store ``body`` under ``key`` (replacing an older one)."""
        self._run(_SAVE, (key, model, time.time(), body))

    def contains(self, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` are stored."""
        todo = sorted(set(keys))
        found: set[str] = set()
        if self._missing:
            return found
        for start in range(0, len(todo), 1000):
            rows = self._run(_CONTAINS, (todo[start:start + 1000],))
            found.update(str(r[0]) for r in rows or ())
        return found

    def count(self) -> int:
        """Entries stored."""
        if self._missing:
            return 0
        rows = self._run(_COUNT, ())
        return int(rows[0][0]) if rows else 0

    def close(self) -> None:
        """Close the pool's connections."""
        self._pool.close()
