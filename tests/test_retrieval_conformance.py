"""Conformance suite: every embedder (fake, MiniLM text, tiny random-weight OpenCLIP) and every
index (Chroma persistent, in-memory) passes the same checks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from _tiny_clip import write_tiny_clip
from value_spectrum.records import Video
from value_spectrum.retrieval.corpus import Corpus
from value_spectrum.retrieval.embedders import (
    Embedder,
    EmbedderError,
    TextOnlyError,
    embed_videos,
    embedder_from_description,
    make_embedder,
)
from value_spectrum.retrieval.index import ChromaVideoIndex, MemoryVideoIndex, VideoIndex

TEXTS = ["volunteers cleaning plastic from a beach", "grandparents cooking a holiday dinner", ""]


def _images() -> list[Image.Image]:
    rng = np.random.default_rng(7)
    return [Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)) for _ in range(3)]


@pytest.fixture(scope="module")
def tiny_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny OpenCLIP config folder and a random-weight checkpoint saved from it."""
    return write_tiny_clip(tmp_path_factory.mktemp("tinyclip"),
                           tmp_path_factory.mktemp("ckpt") / "tiny.pt", seed=123)


@pytest.fixture(scope="module")
def text_embedder() -> Embedder:
    return make_embedder("text")


@pytest.fixture(scope="module")
def clip_embedder(tiny_clip_dir: tuple[Path, Path]) -> Embedder:
    folder, ckpt = tiny_clip_dir
    return make_embedder("clip", model=f"local-dir:{folder}", checkpoint=str(ckpt))


@pytest.fixture(params=["fake", "text", "clip"])
def embedder(request: pytest.FixtureRequest) -> Embedder:
    if request.param == "fake":
        return make_embedder("fake", dim=32)
    return request.getfixturevalue(f"{request.param}_embedder")


def test_texts_shape_norm_determinism(embedder: Embedder) -> None:
    a = embedder.embed_texts(TEXTS)
    b = embedder.embed_texts(TEXTS)
    assert a.shape == (3, embedder.dim)
    assert a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert embedder.embed_texts([]).shape == (0, embedder.dim)


def test_images_or_text_only(embedder: Embedder, tmp_path: Path) -> None:
    ims = _images()
    if not embedder.supports_images:
        with pytest.raises(TextOnlyError, match="text-only"):
            embedder.embed_images(ims)
        return
    path = tmp_path / "x.png"
    ims[0].save(path)
    a = embedder.embed_images([*ims, path])
    assert a.shape == (4, embedder.dim)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(a[0], a[3], atol=1e-5)  # a PIL image and its PNG agree
    np.testing.assert_allclose(a, embedder.embed_images([*ims, path]), atol=1e-6)
    assert not np.allclose(a[0], a[1])


def test_describe_rebuilds_same_embedder(embedder: Embedder) -> None:
    desc = embedder.describe()
    assert {"kind", "name", "version", "dim", "options"} <= desc.keys()
    if desc["kind"] == "text":
        return  # rebuilding MiniLM costs seconds and proves nothing new
    again = embedder_from_description(desc)
    assert again.name == embedder.name
    np.testing.assert_allclose(again.embed_texts(TEXTS), embedder.embed_texts(TEXTS), atol=1e-6)


def test_text_meaning_is_captured(text_embedder: Embedder) -> None:
    q, near, far = text_embedder.embed_texts(
        [
            "family holiday dinner",
            "grandma cooking christmas meal for everyone",
            "stock market chart",
        ]
    )
    assert q @ near > q @ far


def test_clip_checkpoint_loads_saved_weights(
    tiny_clip_dir: tuple[Path, Path], clip_embedder: Embedder
) -> None:
    import open_clip
    import torch

    folder, ckpt = tiny_clip_dir
    state = torch.load(ckpt, weights_only=True)
    model = open_clip.create_model(f"local-dir:{folder}")
    model.load_state_dict(state)
    model.eval()
    tok = open_clip.get_tokenizer(f"local-dir:{folder}")
    with torch.inference_mode():
        ref = model.encode_text(tok(TEXTS[:1])).numpy()
    ref = ref / np.linalg.norm(ref)
    np.testing.assert_allclose(clip_embedder.embed_texts(TEXTS[:1]), ref, atol=1e-5)
    assert "ckpt-" in clip_embedder.name


def test_clip_missing_checkpoint_is_clear(tiny_clip_dir: tuple[Path, Path], tmp_path: Path) -> None:
    folder, _ = tiny_clip_dir
    with pytest.raises(EmbedderError, match="does not exist"):
        make_embedder("clip", model=f"local-dir:{folder}", checkpoint=str(tmp_path / "nope.pt"))


def test_clip_offline_without_weights_is_clear(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(EmbedderError, match="HF_HUB_OFFLINE"):
        make_embedder("clip", model="ViT-B-32", pretrained="laion2b_s34b_b79k")


def test_auto_falls_back_to_text_without_weights(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import huggingface_hub.constants

    from value_spectrum.retrieval.embedders import choose_auto

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    kind, why = choose_auto()
    assert kind == "text"
    assert f"no OpenCLIP weights in the Hugging Face cache ({tmp_path})" in why


def test_auto_without_weights_imports_neither_open_clip_nor_torch(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    code = (
        "import json, sys\n"
        "from value_spectrum.retrieval.embedders import choose_auto\n"
        "kind, why = choose_auto()\n"
        "print(json.dumps([kind, 'open_clip' in sys.modules, 'torch' in sys.modules]))\n"
    )
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == ["text", False, False]


def test_a_file_in_the_url_cache_means_look_properly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import huggingface_hub.constants

    from value_spectrum.retrieval.embedders import clip

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(clip, "URL_CACHE", tmp_path / "clip")
    assert not clip._stock_weights_anywhere()
    (tmp_path / "clip").mkdir()
    (tmp_path / "clip" / "vit_b_32-quickgelu-laion400m_e32-46683a32.pt").write_bytes(b"w")
    assert clip._stock_weights_anywhere()


def test_unknown_embedder_kind() -> None:
    with pytest.raises(ValueError, match="unknown embedder 'bert'"):
        make_embedder("bert")


def _frame(path: Path, colour: tuple[int, int, int]) -> str:
    Image.new("RGB", (36, 36), colour).save(path)
    return path.name


def test_embed_videos_frames_text_and_fallback(embedder: Embedder, tmp_path: Path) -> None:
    videos = [
        Video(
            id="f",
            title="red frames",
            keyframes=(
                _frame(tmp_path / "r1.png", (200, 10, 10)),
                _frame(tmp_path / "r2.png", (180, 30, 20)),
            ),
        ),
        Video(id="t", title="no frames at all", caption="just text"),
        Video(id="bad", title="broken frame", keyframes=("missing.png",)),
    ]
    corpus = Corpus("frames", videos, root=tmp_path)
    vecs = embed_videos(embedder, corpus, videos, text_weight=0.3)
    assert vecs.shape == (3, embedder.dim)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    text_only = embedder.embed_texts([videos[1].visible_text()])[0]
    np.testing.assert_allclose(vecs[1], text_only, atol=1e-5)  # no frames: its text
    if embedder.supports_images:
        frames_only = embed_videos(embedder, corpus, videos[:1], text_weight=0.0)[0]
        mean = embedder.embed_images([tmp_path / "r1.png", tmp_path / "r2.png"]).mean(axis=0)
        np.testing.assert_allclose(frames_only, mean / np.linalg.norm(mean), atol=1e-5)


# ---- indexes -------------------------------------------------------------------------------

IDENT = {
    "kind": "fake",
    "name": "fake-hash-16",
    "version": "1-seed0",
    "dim": 16,
    "options": {"dim": 16},
}


def _chroma(tmp: Path) -> VideoIndex:
    return ChromaVideoIndex(IDENT, tmp / "chroma")


def _memory(tmp: Path) -> VideoIndex:
    return MemoryVideoIndex(IDENT)


@pytest.fixture(params=[_chroma, _memory], ids=["chroma", "memory"])
def index_factory(request: pytest.FixtureRequest) -> Callable[[Path], VideoIndex]:
    return request.param  # type: ignore[no-any-return]


def _items(n: int = 40) -> tuple[list[str], np.ndarray, list[dict[str, Any]]]:
    rng = np.random.default_rng(3)
    vecs = rng.standard_normal((n, 16)).astype(np.float32)
    ids = [f"v{i:03d}" for i in range(n)]
    metas = [
        {
            "platform": ("tiktok", "youtube_shorts")[i % 2],
            "topic": ("food", "travel", "tech")[i % 3],
            "primary_value": "tradition" if i < 10 else "",
        }
        for i in range(n)
    ]
    return ids, vecs, metas


def test_index_self_retrieval_and_filters(
    index_factory: Callable[[Path], VideoIndex], tmp_path: Path
) -> None:
    idx = index_factory(tmp_path)
    ids, vecs, metas = _items()
    idx.add(ids, vecs, metas)
    assert len(idx) == 40
    for i in (0, 7, 39):
        hits = idx.query(vecs[i], k=3)
        assert hits[0].id == ids[i]
        assert hits[0].score == pytest.approx(1.0, abs=1e-4)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    hits = idx.query(vecs[1], k=50, where={"platform": "tiktok"})
    assert len(hits) == 20
    assert all(h.metadata["platform"] == "tiktok" for h in hits)
    both = idx.query(vecs[0], k=50, where={"platform": "youtube_shorts", "topic": "food"})
    assert both
    assert all(
        h.metadata["topic"] == "food" and h.metadata["platform"] == "youtube_shorts" for h in both
    )
    assert {h.id for h in idx.query(vecs[0], k=50, where={"primary_value": "tradition"})} == set(
        ids[:10]
    )
    assert idx.query(vecs[0], k=5, where={"platform": "other"}) == []


def test_index_get_vectors_upsert_delete(
    index_factory: Callable[[Path], VideoIndex], tmp_path: Path
) -> None:
    idx = index_factory(tmp_path)
    ids, vecs, metas = _items(10)
    idx.add(ids, vecs, metas)
    got = idx.get_vectors([ids[5], ids[2]])
    unit = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    np.testing.assert_allclose(got, unit[[5, 2]], atol=1e-5)
    with pytest.raises(KeyError, match="nope"):
        idx.get_vectors(["nope"])
    idx.add([ids[0]], vecs[1:2], [{"platform": "other"}])
    assert len(idx) == 10
    assert idx.metadata()[ids[0]]["platform"] == "other"
    idx.delete([ids[0], "unknown"])
    assert len(idx) == 9
    assert ids[0] not in idx.metadata()


def test_index_rejects_wrong_dim(
    index_factory: Callable[[Path], VideoIndex], tmp_path: Path
) -> None:
    idx = index_factory(tmp_path)
    with pytest.raises(ValueError, match="dim 8"):
        idx.add(["a"], np.ones((1, 8), dtype=np.float32), [{}])
