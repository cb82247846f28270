"""Feed policies: no repeats, determinism, and each policy's own behaviour."""

from __future__ import annotations

import random

import numpy as np
import pytest

from _sim_fakes import tiny_videos
from value_spectrum.graphs.feeds import (
    FEED_POLICIES,
    AdaptiveFeed,
    FeedState,
    derive_seed,
    make_feed,
)


def drive(feed, n: int, seed: int = 1, liked=lambda vid: False, queue=()):
    seen: list[str] = []
    likes: list[str] = []
    for turn in range(n):
        state = FeedState(turn=turn, seen=tuple(seen), liked=tuple(likes), search_queue=tuple(queue))
        vid = feed.next(state, random.Random(derive_seed(seed, turn)))
        if vid is None:
            break
        seen.append(vid)
        if liked(vid):
            likes.append(vid)
    return seen


def embeddings(videos):
    # one axis per value: videos of the same value are identical directions
    return {v.id: np.eye(10)[int(v.id[1:]) % 10] for v in videos}


@pytest.mark.parametrize("name", sorted(FEED_POLICIES))
def test_no_repeats_deterministic_and_exhaustion(name: str) -> None:
    videos = tiny_videos(20)
    items = [v.id for v in reversed(videos)]  # the items feed: a fixed list, shown in order
    feed = make_feed(name, videos, embeddings=embeddings(videos), feed_seed=3, items=items)
    a = drive(feed, 25, liked=lambda v: v.endswith("1"))
    b = drive(make_feed(name, videos, embeddings=embeddings(videos), feed_seed=3, items=items), 25,
              liked=lambda v: v.endswith("1"))
    if name == "items":
        assert a == items
    assert a == b
    assert len(a) == len(set(a)) == 20  # every video once, then None


def test_unknown_policy_names_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown feed policy 'tiktok'.*random"):
        make_feed("tiktok", tiny_videos(3))


def test_balanced_cycles_through_values() -> None:
    videos = tiny_videos(40)
    seen = drive(make_feed("balanced", videos), 10)
    primaries = [next(v for v in videos if v.id == s).primary_value for s in seen]
    assert len(set(primaries)) == 10


def test_adaptive_follows_likes_and_explores() -> None:
    videos = tiny_videos(100)
    vecs = embeddings(videos)
    greedy = AdaptiveFeed([v.id for v in videos], vecs, epsilon=0.0, top_k=3)
    # like only benevolence (index 8): after the first such like, stay there
    is_bene = lambda vid: int(vid[1:]) % 10 == 8  # noqa: E731
    seen = drive(greedy, 40, liked=is_bene)
    first = next(i for i, v in enumerate(seen) if is_bene(v))
    after = seen[first + 1 : first + 9]
    assert all(is_bene(v) for v in after)
    explorer = AdaptiveFeed([v.id for v in videos], vecs, epsilon=1.0)
    seen = drive(explorer, 40, liked=is_bene)
    assert sum(is_bene(v) for v in seen) < 20  # pure exploration does not lock in


def test_adaptive_needs_embeddings() -> None:
    with pytest.raises(ValueError, match="embeddings"):
        make_feed("adaptive", tiny_videos(3))


def test_search_queue_comes_first() -> None:
    videos = tiny_videos(20)
    feed = make_feed("search", videos)
    seen = drive(feed, 4, queue=("v007", "nope", "v003"))
    assert seen[:2] == ["v007", "v003"]


def test_replay_is_shared_and_ignores_the_session_rng() -> None:
    videos = tiny_videos(20)
    a = drive(make_feed("replay", videos, feed_seed=11), 10, seed=1)
    b = drive(make_feed("replay", videos, feed_seed=11), 10, seed=999)
    c = drive(make_feed("replay", videos, feed_seed=12), 10, seed=1)
    assert a == b
    assert a != c
