"""The response cache: deterministic model answers kept on disk, shared across processes.

A request is cacheable only when it is deterministic (temperature 0). Its key is a SHA-256 over
the whole request (model, api base, messages, temperature, seed, max tokens, response format,
tools) with every base64 image replaced by the SHA-256 of its bytes, so the key is small and
changes exactly when what the model is shown changes. Entries live in one SQLite file (WAL mode,
safe for many processes); a hit comes back with ``usage.cached = True`` and no cost.

Hashing an image means decoding its base64 and hashing the bytes (milliseconds for a large
frame); the digest of each data URL is memoized in process, keyed by the URL string, so the same
keyframe shown to many personas is hashed once. The key itself is unchanged by the memo.

The cache is optional: a file that is not a database (or is damaged) is moved aside as
``responses.sqlite.damaged-<time>`` with one warning naming it, and a fresh cache is started; a
cache that cannot be opened or written at all (a full disk, a read-only folder) is switched off
with one warning, and the run goes on asking the model. The file and its folder are owner-only:
they hold every prompt and reply.

Each thread of each process keeps one open connection per cache file (opening and closing one
per lookup and per store cost about a millisecond each) with ``synchronous=NORMAL``: in WAL mode
a commit is then safe against a crash of the program, and only a power loss can drop the last
few entries, which costs nothing but asking the model again.

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

import base64
import binascii
import contextlib
import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from value_spectrum._private import SQLITE_SIDECARS, private_dir, private_file
from value_spectrum.agents._memo import SizedMemo
from value_spectrum.agents.chat import ChatRequest, ChatResponse, ToolCall
from value_spectrum.records import Usage

logger = logging.getLogger(__name__)

CACHE_FORMAT = 1
"""Bumped when the key or the stored shape changes (old entries are then ignored)."""


IMAGE_DIGEST_MEMO_BYTES = 64 * 1024 * 1024
"""The most data-URL text the digest memo keeps referenced (least recently used dropped first;
the URLs are usually the very strings :func:`~value_spectrum.agents.observe.data_url` keeps)."""

_local = threading.local()
"""Per-thread open SQLite connections, keyed by (file, process id)."""

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


_DAMAGED = frozenset({"SQLITE_NOTADB", "SQLITE_CORRUPT"})
"""SQLite error names meaning the file itself is bad (rather than busy, full or read-only)."""


def _damaged(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorname", "") in _DAMAGED or type(exc) is sqlite3.DatabaseError


class ResponseCache:
    """A SQLite-backed cache of chat responses in ``directory/responses.sqlite``.

    Never raises for the file's state: a damaged file is moved aside and replaced, an unusable
    one switches the cache off (:attr:`enabled` False), each with one warning.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / "responses.sqlite"
        self.enabled = True
        """False once the cache was switched off; lookups then miss and stores do nothing."""
        try:
            private_dir(self.directory)
            private_file(self.path)
            self._create()
        except sqlite3.Error as exc:
            if not _damaged(exc):
                self._switch_off(exc)
                return
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
                self._switch_off(again)
        except OSError as exc:
            self._switch_off(exc)

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

    def _switch_off(self, exc: BaseException) -> None:
        """Stop using the cache for the rest of this process, with one warning."""
        if self.enabled:
            logger.warning(
                "response cache %s cannot be used (%s); continuing without a cache "
                "(free disk space, fix the folder's permissions, or pass --no-cache)",
                self.path, " ".join(str(exc).split()),
            )
        self.enabled = False
        self._drop()

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

    def get(
        self, model: str, api_base: str | None, request: ChatRequest, *, key: str | None = None
    ) -> ChatResponse | None:
        """The cached response, marked ``cached`` and costing nothing; None on a miss.

        ``key``: the request's :func:`request_key`, when the caller has it already.
        """
        if not self.enabled:
            return None
        key = key or request_key(model, api_base, request)
        try:
            row = self._db().execute("SELECT body FROM responses WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            self._failed(exc)
            return None
        if row is None:
            return None
        try:
            body = json.loads(row[0])
            usage = Usage(**{**body["usage"], "cost_usd": 0.0, "cached": True})
            return ChatResponse(
                text=body["text"],
                tool_calls=tuple(ToolCall(**c) for c in body["tool_calls"]),
                usage=usage,
                finish_reason=body["finish_reason"],
                model=body["model"],
            )
        except (KeyError, TypeError, ValueError) as exc:
            logger.warning("response cache %s: corrupt entry %s ignored: %s", self.path, key[:12], exc)
            return None

    def put(
        self, model: str, api_base: str | None, request: ChatRequest, response: ChatResponse, *, key: str | None = None
    ) -> None:
        """Store a response (replacing any older one under the same key; ``key`` as in :meth:`get`)."""
        if not self.enabled:
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
            self._db().execute(
                "INSERT OR REPLACE INTO responses (key, model, created, body) VALUES (?, ?, ?, ?)",
                (key, model, time.time(), json.dumps(body, ensure_ascii=False)),
            )
        except sqlite3.Error as exc:
            self._failed(exc)

    def _failed(self, exc: sqlite3.Error) -> None:
        """A lookup or store failed: a busy database is skipped this once (the model is asked);
        anything else (damaged, full, read-only) switches the cache off with one warning."""
        self._drop()
        if getattr(exc, "sqlite_errorname", "") in {"SQLITE_BUSY", "SQLITE_LOCKED"}:
            logger.info("response cache %s busy: %s", self.path, exc)
            return
        self._switch_off(exc)

    def __len__(self) -> int:
        with closing(self._connect()) as db:
            return int(db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])


def cached_keys(directory: str | Path, keys: set[str]) -> set[str] | None:
    """Which of ``keys`` the cache in ``directory`` holds, read-only: nothing is created or
    written (the dry run asks). An empty set when there is no cache; None when it is unreadable."""
    path = Path(directory) / "responses.sqlite"
    if not path.is_file() or not keys:
        return set()
    # read-only; with no write-ahead log beside it, immutable too, so SQLite makes no -shm
    # file either (with a log, a writer is about: its -shm file is there and read as it is)
    live = Path(f"{path}-wal").exists()
    uri = f"{path.resolve().as_uri()}?mode=ro" + ("" if live else "&immutable=1")
    try:
        with closing(sqlite3.connect(uri, uri=True)) as db:
            found: set[str] = set()
            todo = sorted(keys)
            for start in range(0, len(todo), 500):
                chunk = todo[start:start + 500]
                marks = ",".join("?" * len(chunk))
                query = f"SELECT key FROM responses WHERE key IN ({marks})"  # noqa: S608 (only placeholders)
                found.update(r[0] for r in db.execute(query, chunk))
            return found
    except sqlite3.Error as exc:
        logger.info("response cache %s not readable for the dry run: %s", path, exc)
        return None
