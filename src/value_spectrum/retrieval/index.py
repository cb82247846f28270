"""The vector index seam and its two implementations: Chroma (persistent local directory or a
Chroma server) and an in-memory NumPy index.

Every index holds unit vectors and answers cosine top-k with equality metadata filters
(``platform``, ``topic``, ``primary_value``, ...). An index remembers the embedder that filled
it (name, version, dim); opening it with another embedder raises :class:`EmbedderMismatchError`,
so vectors from two spaces are never mixed.

A local Chroma folder holds every title and caption: it is made owner-only before Chroma opens
it, its database file is created 0600 first (SQLite's journal files take its mode), and Chroma's
calls that create files run under an owner-only umask
(:func:`~value_spectrum._private.owner_only_creation`), so no file is ever readable by others.

Example:
    >>> import numpy as np
    >>> idx = MemoryVideoIndex({"name": "x", "version": "1", "dim": 2})
    >>> idx.add(["a", "b"], np.array([[1, 0], [0, 1]], dtype=np.float32), [{}, {}])
    >>> idx.query(np.array([1.0, 0.1]), k=1)[0].id
    'a'
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict

from value_spectrum._private import owner_only_creation, private_dir, private_file
from value_spectrum.retrieval.embedders.base import l2_normalise

log = logging.getLogger(__name__)

COLLECTION = "videos"
"""Default Chroma collection name."""
DEFAULT_EF_SEARCH = 256
"""HNSW search breadth. Chroma's default (100) gave recall@10 of 0.84 on 20,000 clustered
384-d vectors; 256-400 gives 0.91-0.99 for about 1 ms more (benchmarks/bench_retrieval.py)."""
DEFAULT_EF_CONSTRUCTION = 200
"""HNSW build breadth."""
OVERFETCH = 8
"""Filtered queries first fetch ``max(50, OVERFETCH * k)`` unfiltered candidates."""

MetaValue = str | int | float | bool
Where = Mapping[str, MetaValue]
"""Equality filters, all of which must hold: ``{"platform": "tiktok", "topic": "food"}``."""


class Hit(BaseModel):
    """One search result."""

    model_config = ConfigDict(frozen=True)

    id: str
    """The video id."""
    score: float
    """Cosine similarity to the query, in [-1, 1]; higher is closer."""
    metadata: dict[str, MetaValue] = {}
    """The stored metadata (platform, topic, primary_value, content_hash, ...)."""


class VideoIndexError(RuntimeError):
    """The index cannot be opened or used; the message names the location and the cause."""


class EmbedderMismatchError(VideoIndexError):
    """The index was built with another embedder."""


@runtime_checkable
class VideoIndex(Protocol):
    """Unit vectors keyed by video id, with metadata, answering cosine top-k."""

    embedder: dict[str, Any]
    """Identity of the embedder that filled it: ``name``, ``version``, ``dim`` (+ ``kind``,
    ``options`` when known)."""

    def add(
        self, ids: Sequence[str], vectors: np.ndarray, metadatas: Sequence[Mapping[str, MetaValue]]
    ) -> None:
        """Insert or replace items."""
        ...

    def query(self, vector: np.ndarray, k: int = 5, where: Where | None = None) -> list[Hit]:
        """The ``k`` nearest items (fewer when fewer match), best first."""
        ...

    def get_vectors(self, ids: Sequence[str]) -> np.ndarray:
        """Stored vectors in the order of ``ids``; raises KeyError naming a missing id."""
        ...

    def metadata(self) -> dict[str, dict[str, MetaValue]]:
        """id -> stored metadata, for every item."""
        ...

    def delete(self, ids: Sequence[str]) -> None:
        """Remove items (unknown ids are ignored)."""
        ...

    def __len__(self) -> int: ...


def check_identity(stored: Mapping[str, Any], wanted: Mapping[str, Any], where: str) -> None:
    """Raise :class:`EmbedderMismatchError` unless name, version and dim agree."""
    keys = ("name", "version", "dim")
    if any(str(stored.get(k)) != str(wanted.get(k)) for k in keys):
        have = "/".join(str(stored.get(k)) for k in keys)
        want = "/".join(str(wanted.get(k)) for k in keys)
        raise EmbedderMismatchError(
            f"{where}: index was built with embedder {have}, not {want}; "
            "use the same --embedder, or build a new index with --out DIR"
        )


def _matches(meta: Mapping[str, MetaValue], where: Where | None) -> bool:
    return where is None or all(meta.get(k) == v for k, v in where.items())


class MemoryVideoIndex:
    """Brute-force cosine search over a NumPy matrix: exact, for tests and small corpora.

    Args:
        embedder: Identity of the embedder (``name``, ``version``, ``dim``).
    """

    def __init__(self, embedder: Mapping[str, Any]) -> None:
        self.embedder = dict(embedder)
        self._dim = int(self.embedder["dim"])
        self._ids: list[str] = []
        self._pos: dict[str, int] = {}
        self._meta: list[dict[str, MetaValue]] = []
        self._mat = np.zeros((0, self._dim), dtype=np.float32)

    def add(
        self, ids: Sequence[str], vectors: np.ndarray, metadatas: Sequence[Mapping[str, MetaValue]]
    ) -> None:
        """Insert or replace items."""
        vecs = l2_normalise(vectors)
        _check_batch(ids, vecs, metadatas, self._dim, "memory index")
        new_rows = []
        for i, vid in enumerate(ids):
            if vid in self._pos:
                self._mat[self._pos[vid]] = vecs[i]
                self._meta[self._pos[vid]] = dict(metadatas[i])
            else:
                self._pos[vid] = len(self._ids)
                self._ids.append(vid)
                self._meta.append(dict(metadatas[i]))
                new_rows.append(vecs[i])
        if new_rows:
            self._mat = np.vstack([self._mat, np.stack(new_rows)])

    def query(self, vector: np.ndarray, k: int = 5, where: Where | None = None) -> list[Hit]:
        """Exact top-k by dot product (vectors are unit length)."""
        if not self._ids or k <= 0:
            return []
        q = l2_normalise(vector)[0]
        scores = self._mat @ q
        if where:
            mask = np.array([_matches(m, where) for m in self._meta], dtype=bool)
            scores = np.where(mask, scores, -np.inf)
        k = min(k, len(self._ids))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [
            Hit(id=self._ids[i], score=float(scores[i]), metadata=self._meta[i])
            for i in top
            if np.isfinite(scores[i])
        ]

    def get_vectors(self, ids: Sequence[str]) -> np.ndarray:
        """Stored vectors, in the order asked."""
        try:
            rows = [self._pos[i] for i in ids]
        except KeyError as exc:
            raise KeyError(f"no video {exc.args[0]!r} in the index") from None
        return self._mat[rows].copy()

    def metadata(self) -> dict[str, dict[str, MetaValue]]:
        """id -> metadata."""
        return {vid: dict(self._meta[i]) for vid, i in self._pos.items()}

    def delete(self, ids: Sequence[str]) -> None:
        """Remove items."""
        drop = {self._pos[i] for i in ids if i in self._pos}
        if not drop:
            return
        keep = [i for i in range(len(self._ids)) if i not in drop]
        self._ids = [self._ids[i] for i in keep]
        self._meta = [self._meta[i] for i in keep]
        self._mat = self._mat[keep]
        self._pos = {vid: i for i, vid in enumerate(self._ids)}

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._ids))


def _check_batch(
    ids: Sequence[str], vecs: np.ndarray, metas: Sequence[Any], dim: int, where: str
) -> None:
    if len(ids) != len(vecs) or len(ids) != len(metas):
        raise ValueError(f"{where}: {len(ids)} ids, {len(vecs)} vectors, {len(metas)} metadatas")
    if len(ids) and vecs.shape[1] != dim:
        raise ValueError(f"{where}: vectors have dim {vecs.shape[1]}, the index holds dim {dim}")


def _chroma_where(where: Where | None) -> dict[str, Any] | None:
    if not where:
        return None
    clauses = [{k: {"$eq": v}} for k, v in where.items()]
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class ChromaVideoIndex:
    """A Chroma collection holding our own vectors in cosine space.

    Args:
        embedder: Identity (``name``, ``version``, ``dim``; ``kind``/``options`` are stored too,
            so the search CLI can rebuild the embedder). ``None`` opens an existing index and
            adopts its embedder.
        path: Directory of a persistent local index (created when missing).
        chroma_url: ``http://host:port`` of a Chroma server, instead of ``path``.
        collection: Collection name.
        ef_search: HNSW search breadth (recall against speed; changeable on an existing index).
        ef_construction: HNSW build breadth (fixed when the collection is created).

    Filtered queries first over-fetch unfiltered candidates and filter them in Python, which
    is exact with respect to the candidate ranking and avoids Chroma's slow metadata
    pre-filter; only when too few candidates match does the query go through Chroma's
    ``where``.

    Raises:
        VideoIndexError: the directory is not a readable Chroma index, the server cannot be
            reached, or ``embedder`` is None and there is no index yet.
        EmbedderMismatchError: the index was built with another embedder.
    """

    def __init__(
        self,
        embedder: Mapping[str, Any] | None,
        path: str | Path | None = None,
        *,
        chroma_url: str | None = None,
        collection: str = COLLECTION,
        ef_search: int = DEFAULT_EF_SEARCH,
        ef_construction: int = DEFAULT_EF_CONSTRUCTION,
    ) -> None:
        import chromadb
        from chromadb.config import Settings

        self._ef = (ef_search, ef_construction)
        if (path is None) == (chroma_url is None):
            raise ValueError("give exactly one of path or chroma_url")
        self.location = str(chroma_url or Path(path).resolve())  # type: ignore[arg-type]
        settings = Settings(anonymized_telemetry=False)
        try:
            if chroma_url is not None:
                from urllib.parse import urlparse

                u = urlparse(chroma_url if "://" in chroma_url else f"http://{chroma_url}")
                self._client = chromadb.HttpClient(
                    host=u.hostname or "localhost",
                    port=u.port or 8000,
                    ssl=u.scheme == "https",
                    settings=settings,
                )
            else:
                folder = Path(path)  # type: ignore[arg-type]
                if folder.exists() and not folder.is_dir():
                    raise VideoIndexError(f"{folder}: not a directory")
                if embedder is None and not (folder / "chroma.sqlite3").is_file():
                    raise VideoIndexError(
                        f"{folder}: no index here (build one with 'value-spectrum index build')"
                    )
                # owner-only before Chroma opens it: the index holds every caption and title
                private_dir(folder)
                if not (folder / "chroma.sqlite3").exists():  # a read-only index stays usable
                    private_file(folder / "chroma.sqlite3")  # SQLite's journal files take its mode
                with owner_only_creation():
                    self._client = chromadb.PersistentClient(path=str(folder), settings=settings)
            with owner_only_creation():
                self._col = self._open_collection(collection, embedder)
        except VideoIndexError:
            raise
        except Exception as exc:
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise VideoIndexError(f"{self.location}: cannot open Chroma index ({msg})") from None
        self._max_batch = int(self._client.get_max_batch_size())

    def _open_collection(self, name: str, embedder: Mapping[str, Any] | None) -> Any:
        existing = {c.name for c in self._client.list_collections()}
        if name in existing:
            col = self._client.get_collection(name, embedding_function=None)
            stored = dict(col.metadata or {})
            info = json.loads(str(stored.get("embedder", "{}")))
            if embedder is not None:
                check_identity(info, embedder, self.location)
            self.embedder = info
            return col
        if embedder is None:
            raise VideoIndexError(
                f"{self.location}: no collection {name!r} (build the index first)"
            )
        self.embedder = dict(embedder)
        meta = {
            "embedder": json.dumps(self.embedder, sort_keys=True, default=str),
            "embedder_name": str(embedder["name"]),
            "dim": int(embedder["dim"]),
        }
        return self._client.create_collection(
            name,
            configuration={
                "hnsw": {
                    "space": "cosine",
                    "ef_search": self._ef[0],
                    "ef_construction": self._ef[1],
                }
            },
            metadata=meta,
            embedding_function=None,
        )

    def add(
        self, ids: Sequence[str], vectors: np.ndarray, metadatas: Sequence[Mapping[str, MetaValue]]
    ) -> None:
        """Upsert in batches of the server's maximum size."""
        vecs = l2_normalise(vectors)
        _check_batch(ids, vecs, metadatas, int(self.embedder["dim"]), self.location)
        with owner_only_creation():  # Chroma writes its segment files here, with the umask
            for s in range(0, len(ids), self._max_batch):
                e = s + self._max_batch
                self._col.upsert(
                    ids=list(ids[s:e]),
                    embeddings=vecs[s:e],
                    metadatas=[dict(m) or {"_": 0} for m in metadatas[s:e]],
                )

    def query(self, vector: np.ndarray, k: int = 5, where: Where | None = None) -> list[Hit]:
        """HNSW cosine top-k; score = 1 - cosine distance."""
        if k <= 0:
            return []
        q = l2_normalise(vector)
        if where:
            candidates = self._query(q, max(50, OVERFETCH * k), None)
            kept = [h for h in candidates if _matches(h.metadata, where)]
            if len(kept) >= k:
                return kept[:k]
        return self._query(q, k, where)

    def _query(self, q: np.ndarray, k: int, where: Where | None) -> list[Hit]:
        res = self._col.query(
            query_embeddings=q,
            n_results=k,
            where=_chroma_where(where),
            include=["distances", "metadatas"],
        )
        ids = res["ids"][0]
        dists = (res.get("distances") or [[]])[0]
        metas = (res.get("metadatas") or [[{}] * len(ids)])[0]
        return [
            Hit(id=i, score=1.0 - float(d), metadata=dict(m or {}))
            for i, d, m in zip(ids, dists, metas, strict=True)
        ]

    def get_vectors(self, ids: Sequence[str]) -> np.ndarray:
        """Stored vectors, in the order asked (Chroma returns its own order)."""
        if not ids:
            return np.zeros((0, int(self.embedder["dim"])), dtype=np.float32)
        found: dict[str, np.ndarray] = {}
        for s in range(0, len(ids), self._max_batch):
            res = self._col.get(ids=list(ids[s : s + self._max_batch]), include=["embeddings"])
            for vid, emb in zip(res["ids"], res["embeddings"], strict=True):
                found[vid] = np.asarray(emb, dtype=np.float32)
        missing = [i for i in ids if i not in found]
        if missing:
            raise KeyError(f"no video {missing[0]!r} in the index at {self.location}")
        return np.stack([found[i] for i in ids])

    def metadata(self) -> dict[str, dict[str, MetaValue]]:
        """id -> metadata for every item, read in pages."""
        out: dict[str, dict[str, MetaValue]] = {}
        n = len(self)
        for offset in range(0, n, self._max_batch):
            res = self._col.get(include=["metadatas"], limit=self._max_batch, offset=offset)
            for vid, m in zip(res["ids"], res["metadatas"] or [], strict=True):
                out[vid] = dict(m or {})
        return out

    def delete(self, ids: Sequence[str]) -> None:
        """Remove items."""
        with owner_only_creation():
            for s in range(0, len(ids), self._max_batch):
                self._col.delete(ids=list(ids[s : s + self._max_batch]))

    def __len__(self) -> int:
        return int(self._col.count())
