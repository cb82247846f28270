"""Fill an index from a corpus, incrementally, and open the ready-made demo index.

:func:`build_index` embeds only the videos whose content hash changed (or that are new), deletes
videos that left the corpus, and leaves the rest alone. :func:`open_index` is the one call the
CLI, the agents and the feed policies use: corpus + embedder + index, built on first use and
reused afterwards.

Example:
    >>> from value_spectrum.records import Video
    >>> from value_spectrum.retrieval.corpus import Corpus
    >>> from value_spectrum.retrieval.embedders import make_embedder
    >>> from value_spectrum.retrieval.index import MemoryVideoIndex
    >>> corpus = Corpus("tiny", [Video(id="a", title="beach clean-up")])
    >>> emb = make_embedder("fake")
    >>> build_index(corpus, emb, MemoryVideoIndex(emb.describe())).added
    1
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from value_spectrum._private import private_dir, tighten_tree
from value_spectrum.records import Video
from value_spectrum.retrieval.corpus import DEMO, Corpus, load_corpus
from value_spectrum.retrieval.embedders.base import DEFAULT_TEXT_WEIGHT, Embedder, embed_videos
from value_spectrum.retrieval.embedders.registry import make_embedder
from value_spectrum.retrieval.index import ChromaVideoIndex, MetaValue, VideoIndex, check_identity

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Called with (done, total) after each batch."""


class BuildReport(BaseModel):
    """What one :func:`build_index` call did."""

    model_config = ConfigDict(frozen=True)

    added: int
    """Videos embedded for the first time."""
    updated: int
    """Videos re-embedded because their content changed."""
    skipped: int
    """Videos not re-embedded (same content hash, same embedder)."""
    relabelled: int = 0
    """Of the skipped, videos whose stored metadata (labels, topic) was refreshed."""
    removed: int
    """Videos deleted because they left the corpus."""
    total: int
    """Items in the index afterwards."""
    seconds: float
    """Wall time of the call."""
    embedder: dict[str, Any]
    """The embedder's description."""


def video_metadata(video: Video) -> dict[str, MetaValue]:
    """What the index stores per video: filter fields and the content hash (labels are stored
    for filtering and labelling, never shown to a model)."""
    return {
        "platform": video.platform,
        "topic": video.topic,
        "primary_value": video.primary_value or "",
        "content_hash": video.content_hash(),
    }


def build_index(
    corpus: Corpus,
    embedder: Embedder,
    index: VideoIndex,
    *,
    text_weight: float = DEFAULT_TEXT_WEIGHT,
    batch: int = 256,
    prune: bool = True,
    progress: Progress | None = None,
) -> BuildReport:
    """Embed what is new or changed and store it; skip the rest.

    Args:
        corpus: The videos.
        embedder: Must match the index's embedder.
        index: Any :class:`VideoIndex`.
        text_weight: Text share of a video vector for image embedders.
        batch: Videos per embed-and-store round (work already stored survives an interruption).
        prune: Delete items whose id is no longer in the corpus.
        progress: Optional callback (done, total).

    Raises:
        EmbedderMismatchError: ``index`` was built with another embedder.
    """
    t0 = time.perf_counter()
    check_identity(index.embedder, embedder.describe(), getattr(index, "location", "index"))
    stored = index.metadata()
    todo: list[Video] = []
    relabel: list[Video] = []
    added = updated = 0
    for v in corpus:
        old = stored.get(v.id)
        if old is None:
            added += 1
            todo.append(v)
        elif old.get("content_hash") != v.content_hash():
            updated += 1
            todo.append(v)
        elif old != video_metadata(v):
            relabel.append(v)  # same content, new labels: keep the vector, refresh metadata
    if relabel:
        ids = [v.id for v in relabel]
        index.add(ids, index.get_vectors(ids), [video_metadata(v) for v in relabel])
    removed_ids = [i for i in stored if i not in corpus] if prune else []
    if removed_ids:
        index.delete(removed_ids)
    for s in range(0, len(todo), batch):
        chunk = todo[s : s + batch]
        vecs = embed_videos(embedder, corpus, chunk, text_weight=text_weight)
        index.add([v.id for v in chunk], vecs, [video_metadata(v) for v in chunk])
        if progress is not None:
            progress(min(s + batch, len(todo)), len(todo))
    report = BuildReport(
        added=added,
        updated=updated,
        skipped=len(corpus) - added - updated,
        removed=len(removed_ids),
        relabelled=len(relabel),
        total=len(index),
        seconds=round(time.perf_counter() - t0, 3),
        embedder=embedder.describe(),
    )
    log.info(
        "index build: %d added, %d updated, %d skipped, %d removed",
        report.added,
        report.updated,
        report.skipped,
        report.removed,
    )
    return report


def index_key(corpus: Corpus) -> str:
    """What tells one corpus's index from another's: the corpus folder's resolved path, or, for
    a corpus held only in memory, its content hash (the built-in demo corpus is ``demo``).

    Two corpora in folders of the same name, or two in-memory corpora of the same name with
    different videos, never share an index.
    """
    if corpus.root is not None:
        return "path:" + str(Path(corpus.root).resolve())
    if corpus.name == DEMO:
        return DEMO
    return "content:" + corpus.content_hash()


def default_index_dir(corpus: Corpus, embedder_name: str) -> Path:
    """``<user cache>/index/<corpus>-<embedder>-<12 hex digits of the index key>``, the cache
    read at call time (the demo corpus keeps ``<user cache>/index/demo-<embedder>``)."""
    from value_spectrum.retrieval.cache import cache_dir

    key = index_key(corpus)
    readable = f"{corpus.name}-{embedder_name}"
    if key != DEMO:
        readable += "-" + hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", readable)
    return cache_dir() / "index" / safe


@dataclass
class OpenedIndex:
    """An index ready to query, with the embedder that fills it and the corpus it indexes."""

    index: ChromaVideoIndex
    """The index."""
    embedder: Embedder
    """Embeds queries into the index's space."""
    corpus: Corpus
    """The videos (cards for search results)."""
    report: BuildReport | None
    """What building did on this call (None when the index was opened without building)."""


def open_index(
    corpus: Corpus | str | Path | None = None,
    embedder: Embedder | str = "auto",
    *,
    path: str | Path | None = None,
    chroma_url: str | None = None,
    build: bool = True,
    text_weight: float = DEFAULT_TEXT_WEIGHT,
    progress: Progress | None = None,
    **embedder_options: Any,
) -> OpenedIndex:
    """Open (and by default build or refresh) the index of a corpus.

    Args:
        corpus: A :class:`Corpus`, a corpus directory, or None / ``"demo"`` for the demo corpus.
        embedder: An embedder or a kind (``auto``, ``clip``, ``text``, ``fake``).
        path: Index directory; default :func:`default_index_dir`.
        chroma_url: A Chroma server instead of a directory.
        build: Embed new and changed videos before returning (cheap when nothing changed).
        text_weight: Text share of video vectors for image embedders.
        progress: Optional callback (done, total) while building.
        **embedder_options: Passed to :func:`make_embedder` when ``embedder`` is a kind.
    """
    corp = corpus if isinstance(corpus, Corpus) else load_corpus(corpus)
    emb = make_embedder(embedder, **embedder_options) if isinstance(embedder, str) else embedder
    if chroma_url is None and path is None:
        path = default_index_dir(corp, emb.name)
        private_dir(Path(path).parent.parent)  # the user cache: owner-only, like its contents
        private_dir(Path(path).parent)
    index = ChromaVideoIndex(emb.describe(), path, chroma_url=chroma_url)
    report = (
        build_index(corp, emb, index, text_weight=text_weight, progress=progress) if build else None
    )
    if chroma_url is None and path is not None:
        tighten_tree(path)  # Chroma writes with the umask; the index holds every caption
    return OpenedIndex(index=index, embedder=emb, corpus=corp, report=report)


def open_demo_index(embedder: Embedder | str = "auto", **options: Any) -> OpenedIndex:
    """The demo corpus's index in the user cache: built on first use, reused afterwards."""
    return open_index(None, embedder, **options)
