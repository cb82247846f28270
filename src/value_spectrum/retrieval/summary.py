"""A corpus at a glance: size, primary values, platforms, topics, videos, hash. What
``value-spectrum corpus info`` prints."""

from __future__ import annotations

from collections import Counter
from typing import Any

from value_spectrum.records import PLATFORMS
from value_spectrum.retrieval.corpus import Corpus
from value_spectrum.values import VALUE_IDS

NEUTRAL = "neutral"
"""Bucket for items without a primary value (unlabelled, or every label below 0.5)."""


def corpus_summary(corpus: Corpus) -> dict[str, Any]:
    """Counts over the corpus.

    Returns:
        ``{"name", "items", "per_primary_value": {value id: n, ..., "neutral": n},
        "platforms": {platform: n}, "topics": {topic: n}, "with_video": n,
        "labelled": n, "content_hash"}``. Every value id and every platform is present, with
        zero counts; topics are sorted by name (an empty topic is counted as ``""``).
    """
    primary: dict[str, int] = {v: 0 for v in VALUE_IDS}
    primary[NEUTRAL] = 0
    platforms: dict[str, int] = {p: 0 for p in PLATFORMS}
    topics: Counter[str] = Counter()
    with_video = 0
    labelled = 0
    for video in corpus:
        primary[video.primary_value or NEUTRAL] += 1
        platforms[video.platform] += 1
        topics[video.topic] += 1
        with_video += corpus.has_video(video)
        labelled += video.values is not None
    return {
        "name": corpus.name,
        "items": len(corpus),
        "per_primary_value": primary,
        "platforms": platforms,
        "topics": dict(sorted(topics.items())),
        "with_video": with_video,
        "labelled": labelled,
        "content_hash": corpus.content_hash(),
    }
