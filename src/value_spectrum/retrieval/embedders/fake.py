"""A deterministic hashing embedder: no model, no download, the same vectors everywhere.

Texts: lower-cased word tokens and their bigrams are hashed (BLAKE2b) into ``dim`` signed
buckets, then normalised, so texts that share words are close. Images: the picture is shrunk to
8x8 grey levels and projected with a fixed, seeded random matrix, so identical images give
identical vectors and similar images similar ones. Text and image vectors share the space only
in shape; the fake is for tests and pipelines, not for meaning across modalities.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from value_spectrum.retrieval.embedders.base import ImageInput, l2_normalise, load_image

_TOKEN = re.compile(r"[a-z0-9]+")


class HashingEmbedder:
    """Token hashing for texts, a seeded projection of tiny thumbnails for images.

    Args:
        dim: Vector length.
        seed: Seed of the image projection matrix.
    """

    supports_images = True

    def __init__(self, dim: int = 64, seed: int = 0) -> None:
        if dim < 2:
            raise ValueError(f"dim must be at least 2, got {dim!r}")
        self.dim = dim
        self.seed = seed
        self.name = f"fake-hash-{dim}"
        self.version = f"1-seed{seed}"
        rng = np.random.default_rng(seed)
        self._proj = rng.standard_normal((64, dim)).astype(np.float32)

    def _bucket(self, token: str) -> tuple[int, float]:
        digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
        h = int.from_bytes(digest, "little")
        return h % self.dim, 1.0 if (h >> 40) & 1 else -1.0

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Hashed bag of words and bigrams, normalised; an empty text hashes a marker token."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            tokens = _TOKEN.findall(text.lower()) or ["<empty>"]
            grams = tokens + [f"{a}_{b}" for a, b in itertools.pairwise(tokens)]
            for g in grams:
                i, sign = self._bucket(g)
                out[row, i] += sign
        return l2_normalise(out)

    def embed_images(self, images: Sequence[ImageInput]) -> np.ndarray:
        """8x8 grey thumbnail, centred, times a fixed random matrix, normalised."""
        out = np.zeros((len(images), self.dim), dtype=np.float32)
        for row, image in enumerate(images):
            thumb = load_image(image).convert("L").resize((8, 8))
            px = np.asarray(thumb, dtype=np.float32).reshape(64) / 255.0
            px = px - px.mean() + 1e-3  # a flat image still gets a non-zero vector
            out[row] = px @ self._proj
        return l2_normalise(out)

    def describe(self) -> dict[str, Any]:
        """Kind, identity and options."""
        return {
            "kind": "fake",
            "name": self.name,
            "version": self.version,
            "dim": self.dim,
            "options": {"dim": self.dim, "seed": self.seed},
        }
