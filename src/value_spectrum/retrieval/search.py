"""The agent's search box: a query in, compact video cards out, never the value labels.

:class:`VideoSearch` embeds the query, asks the index, and returns cards a person would see in
search results (id, title, caption, platform, score). It never raises: a failure becomes a
readable string the model can act on. Every call is logged in :attr:`VideoSearch.log` so the
agents can record the queries in their trajectories.

Example:
    >>> from value_spectrum.records import Video
    >>> from value_spectrum.retrieval.corpus import Corpus
    >>> from value_spectrum.retrieval.embedders import make_embedder
    >>> from value_spectrum.retrieval.index import MemoryVideoIndex
    >>> from value_spectrum.retrieval.building import build_index
    >>> corpus = Corpus("tiny", [Video(id="a", title="beach clean-up"), Video(id="b", title="cat")])
    >>> emb = make_embedder("fake")
    >>> idx = MemoryVideoIndex(emb.describe())
    >>> _ = build_index(corpus, emb, idx)
    >>> VideoSearch(idx, emb, corpus)("beach clean-up", k=1)[0]["id"]
    'a'
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from value_spectrum.records import PLATFORMS
from value_spectrum.retrieval.corpus import Corpus
from value_spectrum.retrieval.embedders.base import Embedder
from value_spectrum.retrieval.index import VideoIndex

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

log = logging.getLogger(__name__)

MAX_K = 20
"""The most results one search returns."""
CAPTION_CHARS = 200
"""Captions are cut to this many characters in cards."""


class SearchRecord(BaseModel):
    """One call of the search tool, as the agents record it."""

    model_config = ConfigDict(frozen=True)

    query: str
    """What was typed."""
    k: int
    """How many results were asked for (after clamping)."""
    platform: str | None
    """The platform filter, if any."""
    result_ids: tuple[str, ...] = ()
    """Ids returned, best first."""
    error: str | None = None
    """The message returned instead of results, when the search failed."""


def _card(video_id: str, score: float, corpus: Corpus) -> dict[str, Any]:
    v = corpus.get(video_id)
    caption = v.caption if len(v.caption) <= CAPTION_CHARS else v.caption[: CAPTION_CHARS - 1] + "…"
    return {
        "id": v.id,
        "title": v.title,
        "caption": caption,
        "platform": v.platform,
        "score": round(score, 4),
    }


class VideoSearch:
    """Callable search over an index: ``search(query, k=5, platform=None)``.

    Args:
        index: The vector index.
        embedder: Embeds queries into the index's space (its text tower).
        corpus: Supplies the cards.
    """

    def __init__(self, index: VideoIndex, embedder: Embedder, corpus: Corpus) -> None:
        self.index = index
        self.embedder = embedder
        self.corpus = corpus
        self.log: list[SearchRecord] = []

    def __call__(
        self, query: str, k: int = 5, platform: str | None = None
    ) -> list[dict[str, Any]] | str:
        """Cards of the best matches, best first, or a message explaining why there are none."""
        q = (query or "").strip()
        try:
            k = max(1, min(int(k), MAX_K))
        except (TypeError, ValueError):
            return self._fail(q, 5, platform, f"k must be a whole number, got {k!r}")
        if not q:
            return self._fail(q, k, platform, "empty query: type a few words to search for")
        if platform is not None and platform not in PLATFORMS:
            return self._fail(
                q, k, platform, f"unknown platform {platform!r}; use one of {', '.join(PLATFORMS)}"
            )
        try:
            vec = self.embedder.embed_texts([q])[0]
            where = {"platform": platform} if platform else None
            hits = self.index.query(vec, k=k, where=where)
            cards = [_card(h.id, h.score, self.corpus) for h in hits if h.id in self.corpus]
        except Exception as exc:  # the session must go on: the model reads the failure
            log.warning("search %r failed: %s", q, exc)
            return self._fail(q, k, platform, f"search failed ({type(exc).__name__}: {exc})")
        self.log.append(
            SearchRecord(query=q, k=k, platform=platform, result_ids=tuple(c["id"] for c in cards))
        )
        if not cards:
            return f"no videos found for {q!r}" + (f" on {platform}" if platform else "")
        return cards

    def _fail(self, q: str, k: int, platform: str | None, message: str) -> str:
        self.log.append(SearchRecord(query=q, k=k, platform=platform, error=message))
        return message


def make_search_tool(search: VideoSearch) -> BaseTool:
    """A LangChain tool named ``search_videos`` around ``search``; it never raises."""
    from langchain_core.tools import StructuredTool
    from pydantic import Field

    class SearchArgs(BaseModel):
        query: str = Field(description="What to look for, in a few words.")
        k: int = Field(default=5, ge=1, le=MAX_K, description="How many videos to return.")
        platform: str | None = Field(
            default=None, description=f"Only this platform: one of {', '.join(PLATFORMS)}."
        )

    def search_videos(
        query: str, k: int = 5, platform: str | None = None
    ) -> list[dict[str, Any]] | str:
        try:
            return search(query, k=k, platform=platform)
        except Exception as exc:  # belt and braces: VideoSearch already catches
            return f"search failed ({type(exc).__name__}: {exc})"

    return StructuredTool.from_function(
        func=search_videos,
        name="search_videos",
        description=(
            "Search the short-video collection like a search box. Returns up to k videos "
            "(id, title, caption, platform, score), best match first."
        ),
        args_schema=SearchArgs,
        handle_tool_error=True,
        handle_validation_error=True,
    )
