"""Feed policies: which video a session shows next.

A policy is a pure function of the session's feed state and a seeded RNG: the session derives a
fresh ``random.Random`` for every turn from (session seed, turn), so a resumed session draws
exactly what an uninterrupted one would. No policy repeats a video within a session; ``None``
means the feed is exhausted.

Built in (see :data:`FEED_POLICIES`):

* ``random``: uniform over unseen videos.
* ``balanced``: round-robin over the videos' primary values (near-neutral videos form their own
  bucket), uniform inside a bucket.
* ``adaptive``: like a short-video recommender: with probability ``epsilon`` explore at random,
  otherwise pick among the ``top_k`` unseen videos most similar (cosine of embeddings) to the
  mean of the last ``window`` likes. Random until the first like.
* ``search``: the viewer's search hits come first (queued in the order found), random otherwise.
* ``replay``: one feed pre-drawn from the run seed (and session index) only, identical for every
  persona and model: paired comparisons.
* ``items``: a fixed list of videos, in order (the preference benchmark's items).

A user's own policy (any object with ``name`` and ``next(state, rng)``) goes wherever a name
does: :func:`make_feed` returns it as it is, and the runner records it as ``user:<name>``.

Example:
    >>> import random
    >>> from value_spectrum.records import Video
    >>> videos = [Video(id=f"v{i}") for i in range(3)]
    >>> feed = RandomFeed([v.id for v in videos])
    >>> state = FeedState(turn=0, seen=(), liked=(), search_queue=())
    >>> feed.next(state, random.Random(0)) in {"v0", "v1", "v2"}
    True
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, get_args, runtime_checkable

import numpy as np

from value_spectrum.records import Video

NEUTRAL = "_neutral"
"""The bucket of videos without a primary value, for the balanced policy."""


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from a SHA-256 over ``parts``: stable across processes and platforms
    (unlike ``hash()``)."""
    key = "\x1f".join(str(p) for p in parts).encode("utf-8")
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") >> 1


@dataclass(frozen=True)
class FeedState:
    """What a feed policy may look at: the session so far."""

    turn: int
    """The turn about to be shown (0-based)."""
    seen: tuple[str, ...]
    """Videos already shown, in order."""
    liked: tuple[str, ...]
    """Videos liked, in order."""
    search_queue: tuple[str, ...]
    """Video ids returned by the viewer's searches, oldest first (may include seen ones)."""


@runtime_checkable
class FeedPolicy(Protocol):
    """Picks the next video."""

    name: str
    """Registry name, recorded in trajectories."""

    def next(self, state: FeedState, rng: random.Random) -> str | None:
        """The next video id, never one in ``state.seen``; None when nothing is left."""
        ...


def _unseen(ids: Sequence[str], seen: Sequence[str]) -> list[str]:
    done = set(seen)
    return [i for i in ids if i not in done]


class RandomFeed:
    """Uniform over the unseen videos."""

    name = "random"

    def __init__(self, ids: Sequence[str]) -> None:
        self.ids = tuple(ids)

    def next(self, state: FeedState, rng: random.Random) -> str | None:
        pool = _unseen(self.ids, state.seen)
        return rng.choice(pool) if pool else None


class BalancedFeed:
    """Round-robin over primary values: turn ``t`` draws from bucket ``t mod n`` (skipping
    empty buckets), uniform inside the bucket."""

    name = "balanced"

    def __init__(self, videos: Sequence[Video]) -> None:
        buckets: dict[str, list[str]] = {}
        for v in videos:
            buckets.setdefault(v.primary_value or NEUTRAL, []).append(v.id)
        self.buckets: tuple[tuple[str, tuple[str, ...]], ...] = tuple(
            (k, tuple(buckets[k])) for k in sorted(buckets)
        )

    def next(self, state: FeedState, rng: random.Random) -> str | None:
        n = len(self.buckets)
        for offset in range(n):
            _, ids = self.buckets[(state.turn + offset) % n]
            pool = _unseen(ids, state.seen)
            if pool:
                return rng.choice(pool)
        return None


class AdaptiveFeed:
    """Recommends by embedding similarity to recent likes, with epsilon exploration.

    Args:
        embeddings: video id -> vector (any dimension, all equal); videos without one are
            only reached by exploration.
        ids: every candidate id, in corpus order.
        epsilon: probability of a random pick.
        top_k: the pick is uniform among this many most similar unseen videos.
        window: how many recent likes form the taste vector.
    """

    name = "adaptive"

    def __init__(
        self,
        ids: Sequence[str],
        embeddings: Mapping[str, np.ndarray],
        *,
        epsilon: float = 0.1,
        top_k: int = 3,
        window: int = 5,
    ) -> None:
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"adaptive feed: epsilon must be in [0, 1], got {epsilon!r}")
        if top_k < 1 or window < 1:
            raise ValueError(f"adaptive feed: top_k and window must be >= 1, got {top_k!r}, {window!r}")
        self.ids = tuple(ids)
        self.epsilon, self.top_k, self.window = epsilon, top_k, window
        self._row = {i: n for n, i in enumerate(i for i in self.ids if i in embeddings)}
        rows = [np.asarray(embeddings[i], dtype=np.float64) for i in self._row]
        mat = np.vstack(rows) if rows else np.zeros((0, 1))
        norms = np.linalg.norm(mat, axis=1, keepdims=True)
        self._mat = mat / np.where(norms == 0, 1.0, norms)

    def next(self, state: FeedState, rng: random.Random) -> str | None:
        pool = _unseen(self.ids, state.seen)
        if not pool:
            return None
        recent = [i for i in state.liked[-self.window :] if i in self._row]
        # draw the exploration coin every turn so the stream does not depend on the branch
        explore = rng.random() < self.epsilon
        candidates = [i for i in pool if i in self._row]
        if explore or not recent or not candidates:
            return rng.choice(pool)
        taste = self._mat[[self._row[i] for i in recent]].mean(axis=0)
        sims = self._mat[[self._row[i] for i in candidates]] @ taste
        # stable order: highest similarity first, corpus order breaks ties
        order = sorted(range(len(candidates)), key=lambda n: (-round(float(sims[n]), 12), n))
        best = [candidates[n] for n in order[: self.top_k]]
        return rng.choice(best)


class SearchFeed:
    """The viewer's search results steer the feed: the oldest unseen hit comes next; random
    when the queue holds nothing new."""

    name = "search"

    def __init__(self, ids: Sequence[str]) -> None:
        self.ids = tuple(ids)
        self._known = frozenset(self.ids)

    def next(self, state: FeedState, rng: random.Random) -> str | None:
        seen = set(state.seen)
        for hit in state.search_queue:
            if hit in self._known and hit not in seen:
                return hit
        pool = _unseen(self.ids, state.seen)
        return rng.choice(pool) if pool else None


class ItemsFeed:
    """A fixed list of videos, shown in order (unseen ones only)."""

    name = "items"

    def __init__(self, ids: Sequence[str]) -> None:
        self.order = tuple(dict.fromkeys(ids))

    def next(self, state: FeedState, rng: random.Random) -> str | None:
        seen = set(state.seen)
        for i in self.order:
            if i not in seen:
                return i
        return None


class ReplayFeed(ItemsFeed):
    """One pre-drawn feed: a permutation of the corpus from ``feed_seed`` alone (the runner
    derives it from the run seed and the session index, never from persona or model), so every
    persona and model sees the same videos in the same order."""

    name = "replay"

    def __init__(self, ids: Sequence[str], feed_seed: int) -> None:
        order = list(ids)
        random.Random(feed_seed).shuffle(order)
        super().__init__(order)


FeedFactory = Callable[..., FeedPolicy]
"""``(videos, *, embeddings=None, feed_seed=0, items=(), **opts) -> FeedPolicy``."""

FeedName = Literal["random", "balanced", "adaptive", "search", "replay", "items"]
"""The built-in policy names, declared once: :data:`FEED_POLICIES` and ``RunConfig.feed`` derive
from it."""
FEED_NAMES: tuple[str, ...] = get_args(FeedName)
"""The built-in policy names, in order."""
USER_PREFIX = "user:"
"""How a run records a user's own policy object: ``user:<its name>``."""


def _random(videos: Sequence[Video], **_: Any) -> FeedPolicy:
    return RandomFeed([v.id for v in videos])


def _balanced(videos: Sequence[Video], **_: Any) -> FeedPolicy:
    return BalancedFeed(videos)


def _adaptive(
    videos: Sequence[Video], *, embeddings: Mapping[str, np.ndarray] | None = None, **opts: Any
) -> FeedPolicy:
    if embeddings is None:
        raise ValueError("adaptive feed: needs video embeddings (embeddings=...)")
    keep = {k: opts[k] for k in ("epsilon", "top_k", "window") if k in opts}
    return AdaptiveFeed([v.id for v in videos], embeddings, **keep)


def _search(videos: Sequence[Video], **_: Any) -> FeedPolicy:
    return SearchFeed([v.id for v in videos])


def _replay(videos: Sequence[Video], *, feed_seed: int = 0, **_: Any) -> FeedPolicy:
    return ReplayFeed([v.id for v in videos], feed_seed)


def _items(videos: Sequence[Video], *, items: Sequence[str] = (), **_: Any) -> FeedPolicy:
    known = {v.id for v in videos}
    missing = [i for i in items if i not in known]
    if missing:
        raise ValueError(f"items feed: video {missing[0]!r} is not in the corpus")
    return ItemsFeed(items)


_FACTORIES: tuple[FeedFactory, ...] = (_random, _balanced, _adaptive, _search, _replay, _items)
FEED_POLICIES: Mapping[str, FeedFactory] = dict(zip(FEED_NAMES, _FACTORIES, strict=True))
"""Built-in policy name -> factory; pass ``registry=`` to :func:`make_feed` to add your own."""


def check_feed_name(name: str, registry: Mapping[str, FeedFactory] | None = None) -> str:
    """``name`` when it is a built-in or registered policy, or a user's object (``user:<name>``).

    Raises:
        ValueError: an unknown name, listing the known ones.
    """
    known = {**FEED_POLICIES, **(registry or {})}
    if name in known or (name.startswith(USER_PREFIX) and len(name) > len(USER_PREFIX)):
        return name
    raise ValueError(f"unknown feed policy {name!r}; choose one of {sorted(known)}")


def make_feed(
    policy: str | FeedPolicy,
    videos: Sequence[Video],
    *,
    registry: Mapping[str, FeedFactory] | None = None,
    **opts: Any,
) -> FeedPolicy:
    """The policy ``policy`` over ``videos``: a user's policy object as it is, or the one
    registered under that name (built-in, or in ``registry``).

    Raises:
        ValueError: an unknown name (the message lists the known ones) or a bad option.
    """
    if not isinstance(policy, str):
        if not isinstance(policy, FeedPolicy):
            raise TypeError(f"a feed policy needs a name and next(state, rng); got {type(policy).__name__}")
        return policy
    known = {**FEED_POLICIES, **(registry or {})}
    if policy.startswith(USER_PREFIX):
        raise ValueError(f"feed {policy!r} was a user's policy object; pass the object itself (feed=...)")
    check_feed_name(policy, registry)
    return known[policy](videos, **opts)
