"""Embedders: OpenCLIP, an offline text model, a deterministic fake, and ``auto``.

Import cost is nil: torch, open_clip and sentence-transformers load inside the factories.
"""

from value_spectrum.retrieval.embedders.base import (
    DEFAULT_TEXT_WEIGHT,
    Embedder,
    EmbedderError,
    TextOnlyError,
    embed_videos,
    identity,
    l2_normalise,
)
from value_spectrum.retrieval.embedders.registry import (
    EMBEDDER_KINDS,
    choose_auto,
    embedder_from_description,
    make_embedder,
)

__all__ = [
    "DEFAULT_TEXT_WEIGHT",
    "EMBEDDER_KINDS",
    "Embedder",
    "EmbedderError",
    "TextOnlyError",
    "choose_auto",
    "embed_videos",
    "embedder_from_description",
    "identity",
    "l2_normalise",
    "make_embedder",
]
