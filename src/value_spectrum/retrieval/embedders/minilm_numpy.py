"""Query-time MiniLM without torch: the same all-MiniLM-L6-v2 vectors in plain numpy.

``import sentence_transformers`` costs about 10 s of CPU (torch, transformers); a search embeds
one short query. This module runs the bundled model's six BERT layers with numpy from its
``model.safetensors`` and tokenizes with the ``tokenizers`` library from its ``tokenizer.json``
(both already dependencies of sentence-transformers; together about 0.2 s to import), then mean
pooling and L2 normalisation as the model's ``modules.json`` prescribes. The vectors equal
sentence-transformers' to 1e-4 (``tests/test_retrieval_minilm_numpy.py``); an index built with
:class:`~value_spectrum.retrieval.embedders.text.TextEmbedder` is searched with these.

The weights are read once per process (float32, about 90 MB).
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

MAX_TOKENS = 256
"""The model's ``max_seq_length`` (sentence_bert_config.json)."""

_lock = threading.Lock()
_loaded: dict[str, tuple[Any, dict[str, np.ndarray], dict[str, Any]]] = {}


def _load(path: Path) -> tuple[Any, dict[str, np.ndarray], dict[str, Any]]:
    key = str(path)
    with _lock:
        hit = _loaded.get(key)
        if hit is None:
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(path / "tokenizer.json"))
            tok.enable_truncation(MAX_TOKENS)
            tok.no_padding()
            weights = {k.removeprefix("bert.").removeprefix("0."): v.astype(np.float32)
                       for k, v in load_file(str(path / "model.safetensors")).items()}
            config = json.loads((path / "config.json").read_text(encoding="utf-8"))
            hit = _loaded[key] = (tok, weights, config)
        return hit


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return np.asarray(((x - mean) / np.sqrt(var + eps)) * w + b, dtype=np.float32)


_erf = np.frompyfunc(math.erf, 1, 1)


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, x * Phi(x) (numpy has no erf; a query has few tokens)."""
    e = np.asarray(_erf(x.astype(np.float64) / math.sqrt(2.0)), dtype=np.float64)
    return np.asarray(0.5 * x * (1.0 + e), dtype=np.float32)


def _encode_one(ids: list[int], weights: dict[str, np.ndarray], config: dict[str, Any]) -> np.ndarray:
    w = weights
    eps = float(config.get("layer_norm_eps", 1e-12))
    heads = int(config["num_attention_heads"])
    n = len(ids)
    x = (w["embeddings.word_embeddings.weight"][ids]
         + w["embeddings.position_embeddings.weight"][:n]
         + w["embeddings.token_type_embeddings.weight"][0])
    x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    dim = x.shape[-1]
    hd = dim // heads
    for i in range(int(config["num_hidden_layers"])):
        p = f"encoder.layer.{i}."

        def lin(v: np.ndarray, name: str, p: str = p) -> np.ndarray:
            return np.asarray(v @ w[p + name + ".weight"].T + w[p + name + ".bias"])

        q = lin(x, "attention.self.query").reshape(n, heads, hd).transpose(1, 0, 2)
        k = lin(x, "attention.self.key").reshape(n, heads, hd).transpose(1, 0, 2)
        v = lin(x, "attention.self.value").reshape(n, heads, hd).transpose(1, 0, 2)
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(hd)
        scores = scores - scores.max(-1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(-1, keepdims=True)
        ctx = (probs @ v).transpose(1, 0, 2).reshape(n, dim)
        x = _layer_norm(lin(ctx, "attention.output.dense") + x,
                        w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"], eps)
        h = _gelu(lin(x, "intermediate.dense"))
        x = _layer_norm(lin(h, "output.dense") + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
    pooled = x.mean(0)
    return np.asarray(pooled / max(float(np.linalg.norm(pooled)), 1e-12), dtype=np.float32)


def embed_texts(path: Path, texts: Sequence[str]) -> np.ndarray:
    """Unit-length MiniLM vectors of ``texts`` (rows), from the model folder ``path``."""
    tok, weights, config = _load(path)
    if not texts:
        return np.zeros((0, int(config["hidden_size"])), dtype=np.float32)
    return np.stack([_encode_one(enc.ids, weights, config) for enc in tok.encode_batch(list(texts))])
