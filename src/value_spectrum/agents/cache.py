"""The response cache: deterministic model answers kept in a store shared across processes
and, with PostgreSQL, across machines.

A request is cacheable only when it is deterministic (temperature 0). Its key is a SHA-256 over
the whole request (model, api base, messages, temperature, seed, max tokens, response format,
tools) with every base64 image replaced by the SHA-256 of its bytes, so the key is small and
changes exactly when what the model is shown changes. A hit comes back with
``usage.cached = True``, no cost and no retries.

Hashing an image means decoding its base64 and hashing the bytes (milliseconds for a large
frame); the digest of each data URL is memoized in process, keyed by the URL string, so the same
keyframe shown to many personas is hashed once. The key itself is unchanged by the memo.

Entries live in a :class:`CacheStore`, chosen by a location (``--cache-store``):

* a folder (default: the user cache's ``responses``) or ``sqlite:///FILE``: one SQLite file on
  this machine (:mod:`~value_spectrum.agents.cache_sqlite`; WAL mode, safe for many processes of
  one machine, not for a network file system);
* ``postgresql://USER[:PASSWORD]@HOST[:PORT]/DB``: one table in a PostgreSQL database
  (:mod:`~value_spectrum.agents.cache_postgres`), shared by every worker of every machine and by
  every run that names it: the same request asked anywhere is answered once.

The cache is optional: a damaged SQLite file is moved aside with one warning and a fresh one
started; a store that cannot be opened, reached or written (a full disk, a read-only folder, a
server that is down) is switched off with one warning naming it, and the run goes on asking the
model.

Example:
    >>> import tempfile
    >>> from value_spectrum.agents.chat import ChatRequest, ChatResponse
    >>> cache = ResponseCache(tempfile.mkdtemp())
    >>> req = ChatRequest(messages=({"role": "user", "content": "hi"},))
    >>> cache.put("m", None, req, ChatResponse(text="Yes."))
    >>> cache.get("m", None, req).usage.cached
    True
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import json
import logging
import threading
from pathlib import Path
from typing import Any, Protocol

from value_spectrum._store_urls import describe_postgres, describe_safe, is_postgres
from value_spectrum.agents._memo import SizedMemo
from value_spectrum.agents.chat import ChatRequest, ChatResponse, ToolCall
from value_spectrum.records import Usage

logger = logging.getLogger(__name__)

CACHE_FORMAT = 1
"""Bumped when the key or the stored shape changes (old entries are then ignored)."""


IMAGE_DIGEST_MEMO_BYTES = 64 * 1024 * 1024
"""The most data-URL text the digest memo keeps referenced (least recently used dropped first;
the URLs are usually the very strings :func:`~value_spectrum.agents.observe.data_url` keeps)."""

_digests: SizedMemo[str] = SizedMemo(IMAGE_DIGEST_MEMO_BYTES)


def _hash_image_url(url: str) -> str:
    if not url.startswith("data:"):
        return url
    hit = _digests.get(url)
    if hit is not None:
        return hit
    head, _, data = url.partition(",")
    try:
        raw = base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        raw = data.encode()
    digest = f"{head},sha256:{hashlib.sha256(raw).hexdigest()}"
    _digests.put(url, digest, len(url))
    return digest


def canonical_messages(messages: Any) -> Any:
    """``messages`` with every data-URL image replaced by a hash of its bytes."""
    if isinstance(messages, dict):
        out: dict[str, Any] = {}
        for k, v in messages.items():
            if k == "image_url" and isinstance(v, dict) and isinstance(v.get("url"), str):
                out[k] = {**v, "url": _hash_image_url(v["url"])}
            elif k == "image_url" and isinstance(v, str):
                out[k] = _hash_image_url(v)
            else:
                out[k] = canonical_messages(v)
        return out
    if isinstance(messages, list | tuple):
        return [canonical_messages(m) for m in messages]
    return messages


def request_key(model: str, api_base: str | None, request: ChatRequest) -> str:
    """The cache key of a request (purpose is not part of it: the same request is the same)."""
    payload = {
        "format": CACHE_FORMAT,
        "model": model,
        "api_base": api_base,
        "messages": canonical_messages(list(request.messages)),
        "temperature": request.temperature,
        "seed": request.seed,
        "max_tokens": request.max_tokens,
        "response_format": request.response_format,
        "tools": list(request.tools),
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def cacheable(request: ChatRequest) -> bool:
    """Only deterministic requests are cached."""
    return request.temperature == 0


class CacheStoreError(RuntimeError):
    """A store that cannot be used (unreachable, damaged beyond repair, full, read-only): the
    cache switches itself off with one warning naming it."""


class CacheStore(Protocol):
    """Where cache entries live: bodies (JSON text) under :func:`request_key` keys.

    Methods raise :class:`CacheStoreError` only, and only when the store is unusable; a store
    that is busy for a moment answers a miss (or skips the store) instead.
    """

    where: str
    """The store in one line, for warnings and the manifest (never a password)."""
    remote: bool
    """Whether each statement is a network round trip (the gateway then runs it in a thread)."""

    def load(self, key: str) -> str | None:
        """The body stored under ``key``, or None."""
        ...

    def save(self, key: str, model: str, body: str) -> None:
        """Store ``body`` under ``key``, replacing an older one."""
        ...

    def count(self) -> int:
        """Entries stored."""
        ...

    def close(self) -> None:
        """Release connections (a later call may open new ones)."""
        ...


CACHE_FILE = "responses.sqlite"
"""The SQLite file of a cache folder."""

_HINTS = {
    "sqlite": "free disk space, fix the folder's permissions, or pass --no-cache",
    "postgres": "check that the server is up and the URL names a database you may write, or pass --no-cache",
}


def _sqlite_file(location: str | Path) -> Path:
    """The file of a SQLite location: a folder (its ``responses.sqlite``) or ``sqlite:///FILE``."""
    text = str(location)
    if "://" not in text:
        return Path(text) / CACHE_FILE
    scheme, rest = text.split("://", 1)
    if scheme.lower() != "sqlite":
        raise ValueError(
            f"response cache: unknown store {scheme + '://'!r} in {describe_safe(text)!r}; give a folder, "
            "sqlite:///FILE or postgresql://USER@HOST/DB"
        )
    if not rest.startswith("/") or rest == "/":
        raise ValueError(f"response cache: {text!r} names no file; use sqlite:///RELATIVE or sqlite:////ABSOLUTE")
    return Path(rest[1:])


def describe_location(location: str | Path) -> str:
    """A cache location in one line, without any password.

    Example:
        >>> describe_location("postgresql://vs:pw@db/runs")
        'PostgreSQL vs@db/runs'
        >>> describe_location("/tmp/c")
        '/tmp/c/responses.sqlite'
    """
    text = str(location)
    return describe_postgres(text) if is_postgres(text) else str(_sqlite_file(text))


def open_store(location: str | Path, *, max_connections: int = 8) -> CacheStore:
    """The store a location names: a folder (its ``responses.sqlite``), ``sqlite:///FILE``, or
    ``postgresql://USER[:PASSWORD]@HOST[:PORT]/DB`` (``postgres://`` too).

    Raises:
        ValueError: an unknown URL scheme, or a ``sqlite://`` URL with no file.
        CacheStoreError: the store cannot be used.
    """
    text = str(location)
    if is_postgres(text):
        from value_spectrum.agents.cache_postgres import PostgresStore

        return PostgresStore(text, max_connections=max_connections)
    from value_spectrum.agents.cache_sqlite import SqliteStore

    return SqliteStore(_sqlite_file(location))


class ResponseCache:
    """A cache of chat responses in a :class:`CacheStore`.

    Args:
        location: a folder (its ``responses.sqlite``), ``sqlite:///FILE`` or
            ``postgresql://...`` (see :func:`open_store`), or an open store.
        max_connections: a PostgreSQL store's pool size and threads.

    Never raises for the store's state: a damaged SQLite file is moved aside and replaced, an
    unusable or unreachable store switches the cache off (:attr:`enabled` False), each with one
    warning naming it.

    Raises:
        ValueError: ``location`` is a URL of an unknown kind.
    """

    def __init__(self, location: str | Path | CacheStore, *, max_connections: int = 8) -> None:
        self.enabled = True
        """False once the cache was switched off; lookups then miss and stores do nothing."""
        self.store: CacheStore | None = None
        self._threads: Any = None
        self._threads_lock = threading.Lock()
        self.max_connections = max_connections
        if isinstance(location, str | Path):
            self.where = describe_location(location)
            self._hint = _HINTS["postgres" if is_postgres(str(location)) else "sqlite"]
            try:
                self.store = open_store(location, max_connections=max_connections)
            except CacheStoreError as exc:
                self._switch_off(exc)
        else:
            self.store, self.where = location, location.where
            self._hint = _HINTS["postgres" if location.remote else "sqlite"]

    @property
    def path(self) -> Path | None:
        """The SQLite file (None for a PostgreSQL store)."""
        return getattr(self.store, "path", None) if self.store is not None else (
            None if self.where.startswith("PostgreSQL ") else Path(self.where))

    def _switch_off(self, exc: BaseException) -> None:
        """Stop using the cache for the rest of this process, with one warning."""
        if self.enabled:
            logger.warning(
                "response cache %s cannot be used (%s); continuing without a cache (%s)",
                self.where, " ".join(str(exc).split()), self._hint,
            )
        self.enabled = False
        store, self.store = self.store, None
        if store is not None:
            with contextlib.suppress(Exception):
                store.close()

    def get(
        self, model: str, api_base: str | None, request: ChatRequest, *, key: str | None = None
    ) -> ChatResponse | None:
        """The cached response, marked ``cached`` and costing nothing; None on a miss.

        ``key``: the request's :func:`request_key`, when the caller has it already.
        """
        store = self.store
        if not self.enabled or store is None:
            return None
        key = key or request_key(model, api_base, request)
        try:
            text = store.load(key)
        except CacheStoreError as exc:
            self._switch_off(exc)
            return None
        if text is None:
            return None
        try:
            body = json.loads(text)
            usage = Usage(**{**body["usage"], "cost_usd": 0.0, "cached": True, "retries": 0})  # no request sent
            return ChatResponse(
                text=body["text"],
                tool_calls=tuple(ToolCall(**c) for c in body["tool_calls"]),
                usage=usage,
                finish_reason=body["finish_reason"],
                model=body["model"],
            )
        except (KeyError, TypeError, ValueError) as exc:
            logger.warning("response cache %s: corrupt entry %s ignored: %s", self.where, key[:12], exc)
            return None

    def put(
        self, model: str, api_base: str | None, request: ChatRequest, response: ChatResponse, *, key: str | None = None
    ) -> None:
        """Store a response (replacing any older one under the same key; ``key`` as in :meth:`get`)."""
        store = self.store
        if not self.enabled or store is None:
            return
        key = key or request_key(model, api_base, request)
        body = {
            "text": response.text,
            "tool_calls": [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in response.tool_calls],
            "usage": response.usage.model_dump(exclude={"cached"}),
            "finish_reason": response.finish_reason,
            "model": response.model,
        }
        try:
            store.save(key, model, json.dumps(body, ensure_ascii=False))
        except CacheStoreError as exc:
            self._switch_off(exc)

    # ---- from an event loop -------------------------------------------------------------------
    def _pool(self) -> Any:
        with self._threads_lock:
            if self._threads is None:
                from concurrent.futures import ThreadPoolExecutor

                self._threads = ThreadPoolExecutor(self.max_connections, thread_name_prefix="response-cache")
            return self._threads

    async def aget(
        self, model: str, api_base: str | None, request: ChatRequest, *, key: str | None = None
    ) -> ChatResponse | None:
        """:meth:`get` from an event loop: a remote store's lookup in a worker thread, a local
        one's inline (microseconds, less than a thread hand-off)."""
        store = self.store
        if store is None or not store.remote:
            return self.get(model, api_base, request, key=key)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool(), lambda: self.get(model, api_base, request, key=key))

    async def aput(
        self, model: str, api_base: str | None, request: ChatRequest, response: ChatResponse, *, key: str | None = None
    ) -> None:
        """:meth:`put` from an event loop (see :meth:`aget`)."""
        store = self.store
        if store is None or not store.remote:
            self.put(model, api_base, request, response, key=key)
            return
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._pool(), lambda: self.put(model, api_base, request, response, key=key))

    def close(self) -> None:
        """Release the store's connections and threads (the cache stays usable: a later call
        opens new connections)."""
        if self.store is not None:
            with contextlib.suppress(Exception):
                self.store.close()
        if self._threads is not None:
            self._threads.shutdown(wait=False)
            self._threads = None

    def __len__(self) -> int:
        return 0 if self.store is None else self.store.count()


def cached_keys(location: str | Path, keys: set[str]) -> set[str] | None:
    """Which of ``keys`` the cache at ``location`` (as :func:`open_store` takes) holds, read-only
    for SQLite: nothing is created or written (the dry run asks). An empty set when there is no
    cache; None when it is unreadable or unreachable."""
    if not keys:
        return set()
    text = str(location)
    if not is_postgres(text):
        from value_spectrum.agents.cache_sqlite import sqlite_cached_keys

        try:
            return sqlite_cached_keys(_sqlite_file(location), keys)
        except ValueError as exc:
            logger.info("%s", exc)
            return None
    from value_spectrum.agents.cache_postgres import PostgresStore

    try:
        store = PostgresStore(text, max_connections=1, create=False)
    except CacheStoreError as exc:
        logger.info("response cache %s not readable for the dry run: %s", describe_postgres(text), exc)
        return None
    try:
        return store.contains(keys)
    except CacheStoreError as exc:
        logger.info("response cache %s not readable for the dry run: %s", store.where, exc)
        return None
    finally:
        store.close()
