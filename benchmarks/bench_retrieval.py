"""Retrieval benchmarks: query latency, embedding throughput, build time.

Run: ``HF_HUB_OFFLINE=1 python benchmarks/bench_retrieval.py [--items 50000] [--json-out F]``

1. Query latency, p50/p99 over ``--queries`` queries, at ``--items`` unit vectors (384-d,
   clustered like real embeddings, and i.i.d. random: HNSW's worst case): Chroma (HNSW, cosine) against a NumPy brute-force exact top-k on the same vectors;
   also Chroma's recall@k against the exact answer, and the time to fill Chroma (build).
2. Embedding throughput, frames per second: our whole pipeline (decode the PNG keyframes of a
   synthetic corpus, preprocess, embed, fuse, store in Chroma) against the bare model forward on
   the same frames already preprocessed in memory, for the tiny random-weight OpenCLIP config,
   the ViT-B-32 architecture with random weights (no download; the real forward cost), and the
   text embedder (pipeline = visible text -> embed -> store; bare = the model's encode).
3. A full ``build_index`` of ``--items`` synthetic cards with the fake embedder (the pipeline's
   own cost without a model).

Everything is measured in one run, so the ratios are what to compare across machines.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

TINY = {
    "model_cfg": {
        "embed_dim": 64,
        "vision_cfg": {
            "image_size": 64,
            "layers": 2,
            "width": 64,
            "patch_size": 16,
            "head_width": 32,
        },
        "text_cfg": {
            "context_length": 32,
            "vocab_size": 49408,
            "width": 64,
            "heads": 2,
            "layers": 2,
        },
    },
    "preprocess_cfg": {},
}


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q))


def bench_query(items: int, dim: int, queries: int, k: int, tmp: Path, data: str) -> dict[str, Any]:
    from value_spectrum.retrieval.embedders import l2_normalise
    from value_spectrum.retrieval.index import ChromaVideoIndex

    rng = np.random.default_rng(0)
    if data == "clustered":  # like real embeddings: topics form clusters
        centres = rng.standard_normal((max(1, items // 100), dim))
        noise = 0.6 * rng.standard_normal((items, dim))
        vecs = l2_normalise(centres[rng.integers(0, len(centres), items)] + noise)
    else:  # i.i.d. Gaussian: the worst case for HNSW
        vecs = l2_normalise(rng.standard_normal((items, dim)))
    ids = [f"v{i}" for i in range(items)]
    plats = ("tiktok", "youtube_shorts", "instagram_reels")
    metas = [
        {"platform": plats[i % 3], "topic": "t", "primary_value": "", "content_hash": ""}
        for i in range(items)
    ]
    ident = {"name": "bench", "version": "1", "dim": dim}
    t0 = time.perf_counter()
    idx = ChromaVideoIndex(ident, tmp / f"q-index-{data}")
    idx.add(ids, vecs, metas)
    build_s = time.perf_counter() - t0
    # queries land near stored items, as a text query lands near its topic
    near = vecs[rng.integers(0, items, queries)]
    qs = l2_normalise(near + 0.4 * rng.standard_normal((queries, dim)) / np.sqrt(dim) * 4)

    chroma_ms, numpy_ms, recall = [], [], []
    for q in qs[:5]:
        idx.query(q, k)  # warm-up
    for q in qs:
        t = time.perf_counter()
        hits = idx.query(q, k)
        chroma_ms.append(1000 * (time.perf_counter() - t))
        t = time.perf_counter()
        s = vecs @ q
        top = np.argpartition(-s, k - 1)[:k]
        top = top[np.argsort(-s[top])]
        numpy_ms.append(1000 * (time.perf_counter() - t))
        exact = {ids[i] for i in top}
        recall.append(len(exact & {h.id for h in hits}) / k)
    filt_ms = []
    for q in qs[:50]:
        t = time.perf_counter()
        idx.query(q, k, where={"platform": "tiktok"})
        filt_ms.append(1000 * (time.perf_counter() - t))
    return {
        "data": data,
        "items": items,
        "dim": dim,
        "k": k,
        "queries": queries,
        "chroma_build_s": round(build_s, 2),
        "chroma_p50_ms": round(pct(chroma_ms, 50), 3),
        "chroma_p99_ms": round(pct(chroma_ms, 99), 3),
        "chroma_filtered_p50_ms": round(pct(filt_ms, 50), 3),
        "numpy_p50_ms": round(pct(numpy_ms, 50), 3),
        "numpy_p99_ms": round(pct(numpy_ms, 99), 3),
        "chroma_recall_at_k": round(float(np.mean(recall)), 4),
    }


def make_frame_corpus(folder: Path, videos: int, frames: int, size: int) -> Any:
    from PIL import Image

    from value_spectrum.records import Video
    from value_spectrum.retrieval.corpus import Corpus

    rng = np.random.default_rng(1)
    cards = []
    for i in range(videos):
        names = []
        for j in range(frames):
            name = f"v{i:05d}-{j}.png"
            base = rng.integers(0, 255, (1, 1, 3))
            noise = rng.integers(0, 40, (size, size, 3))
            Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8)).save(folder / name)
            names.append(name)
        cards.append(
            Video(
                id=f"v{i:05d}",
                title=f"video {i} about topic {i % 17}",
                caption="a caption with a few words " * 3,
                keyframes=tuple(names),
            )
        )
    return Corpus("bench-frames", cards, root=folder)


def bench_clip_throughput(
    label: str, embedder: Any, corpus: Any, tmp: Path, reps: int
) -> dict[str, Any]:
    import torch

    from value_spectrum.retrieval.building import build_index
    from value_spectrum.retrieval.embedders.base import load_image
    from value_spectrum.retrieval.index import ChromaVideoIndex

    frames = [p for v in corpus for p in corpus.keyframe_paths(v)]
    pixels = torch.stack([embedder.preprocess(load_image(p)) for p in frames])
    embedder.encode_pixels(pixels[:8])  # warm-up
    bare, pipe = [], []
    for r in range(reps):
        t = time.perf_counter()
        embedder.encode_pixels(pixels)
        bare.append(time.perf_counter() - t)
        idx = ChromaVideoIndex(embedder.describe(), tmp / f"{label}-{r}")
        t = time.perf_counter()
        build_index(corpus, embedder, idx, text_weight=0.0)
        pipe.append(time.perf_counter() - t)
    n = len(frames)
    b, p = min(bare), min(pipe)
    return {
        "embedder": label,
        "frames": n,
        "bare_fps": round(n / b, 1),
        "pipeline_fps": round(n / p, 1),
        "ratio": round(b / p, 3),
    }


def bench_text_throughput(embedder: Any, n: int, tmp: Path, reps: int) -> dict[str, Any]:
    from value_spectrum.records import Video
    from value_spectrum.retrieval.building import build_index
    from value_spectrum.retrieval.corpus import Corpus
    from value_spectrum.retrieval.index import ChromaVideoIndex

    cards = [
        Video(
            id=f"t{i}",
            title=f"video {i}: cooking dinner with family number {i % 13}",
            caption="caption words about the scene " * 4,
            hashtags=("food", "family"),
            description="A person does something in a kitchen. " * 3,
        )
        for i in range(n)
    ]
    corpus = Corpus("bench-text", cards)
    texts = [v.visible_text() for v in cards]
    embedder.embed_texts(texts[:8])
    bare, pipe = [], []
    for r in range(reps):
        t = time.perf_counter()
        embedder._model.encode(
            texts,
            batch_size=embedder.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        bare.append(time.perf_counter() - t)
        idx = ChromaVideoIndex(embedder.describe(), tmp / f"text-{r}")
        t = time.perf_counter()
        build_index(corpus, embedder, idx)
        pipe.append(time.perf_counter() - t)
    b, p = min(bare), min(pipe)
    return {
        "embedder": "text (MiniLM)",
        "frames": n,
        "bare_fps": round(n / b, 1),
        "pipeline_fps": round(n / p, 1),
        "ratio": round(b / p, 3),
    }


def bench_build(items: int, tmp: Path) -> dict[str, Any]:
    from value_spectrum.records import Video
    from value_spectrum.retrieval.building import build_index
    from value_spectrum.retrieval.corpus import Corpus
    from value_spectrum.retrieval.embedders import make_embedder
    from value_spectrum.retrieval.index import ChromaVideoIndex

    emb = make_embedder("fake", dim=384)
    cards = [
        Video(
            id=f"b{i}",
            title=f"title {i}",
            caption=f"caption {i % 97} words",
            platform=("tiktok", "youtube_shorts")[i % 2],
            topic=f"t{i % 9}",
        )
        for i in range(items)
    ]
    corpus = Corpus("bench-build", cards)
    idx = ChromaVideoIndex(emb.describe(), tmp / "build")
    t = time.perf_counter()
    first = build_index(corpus, emb, idx, batch=2048)
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    again = build_index(corpus, emb, idx, batch=2048)
    rebuild_s = time.perf_counter() - t
    return {
        "items": items,
        "build_s": round(build_s, 2),
        "items_per_s": round(items / build_s, 1),
        "noop_rebuild_s": round(rebuild_s, 2),
        "added": first.added,
        "skipped_on_rebuild": again.skipped,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=50_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--videos", type=int, default=64, help="videos (3 frames each) for throughput")
    ap.add_argument("--frame-size", type=int, default=256)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument(
        "--skip", nargs="*", default=[], choices=["query", "throughput", "vitb32", "build"]
    )
    ap.add_argument(
        "--data", nargs="+", default=["clustered", "random"], choices=["clustered", "random"]
    )
    ap.add_argument("--json-out", type=Path)
    args = ap.parse_args(argv)

    from rich.console import Console
    from rich.table import Table

    con = Console()
    tmp = Path(tempfile.mkdtemp(prefix="vs-bench-"))
    results: dict[str, Any] = {"cpu_count": os.cpu_count()}
    try:
        if "query" not in args.skip:
            results["query"] = []
            for data in args.data:
                con.print(f"query latency at {args.items} x {args.dim}, {data} ...")
                results["query"].append(
                    bench_query(args.items, args.dim, args.queries, args.k, tmp, data)
                )
        if "throughput" not in args.skip:
            from value_spectrum.retrieval.embedders.clip import ClipEmbedder
            from value_spectrum.retrieval.embedders.text import TextEmbedder

            folder = tmp / "frames"
            folder.mkdir()
            corpus = make_frame_corpus(folder, args.videos, 3, args.frame_size)
            tiny_dir = tmp / "tiny"
            tiny_dir.mkdir()
            (tiny_dir / "open_clip_config.json").write_text(json.dumps(TINY))
            rows = []
            con.print("throughput: tiny OpenCLIP ...")
            rows.append(
                bench_clip_throughput(
                    "tiny OpenCLIP (random)",
                    ClipEmbedder(f"local-dir:{tiny_dir}"),
                    corpus,
                    tmp,
                    args.reps,
                )
            )
            if "vitb32" not in args.skip:
                con.print("throughput: ViT-B-32 architecture, random weights ...")
                rows.append(
                    bench_clip_throughput(
                        "ViT-B-32 (random weights)",
                        ClipEmbedder("ViT-B-32", None),
                        corpus,
                        tmp,
                        args.reps,
                    )
                )
            con.print("throughput: text embedder ...")
            rows.append(bench_text_throughput(TextEmbedder(), args.videos * 3, tmp, args.reps))
            results["throughput"] = rows
        if "build" not in args.skip:
            con.print(f"build of {args.items} cards (fake embedder) ...")
            results["build"] = bench_build(args.items, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    for q in results.get("query", []):
        t = Table(title=f"query latency, {q['items']} x {q['dim']}-d {q['data']}, k={q['k']}")
        for c in ("backend", "p50 ms", "p99 ms", "note"):
            t.add_column(c)
        t.add_row(
            "Chroma HNSW",
            str(q["chroma_p50_ms"]),
            str(q["chroma_p99_ms"]),
            f"recall@k {q['chroma_recall_at_k']}, filtered p50 {q['chroma_filtered_p50_ms']} ms, fill {q['chroma_build_s']} s",
        )
        t.add_row("NumPy exact", str(q["numpy_p50_ms"]), str(q["numpy_p99_ms"]), "")
        con.print(t)
    if "throughput" in results:
        t = Table(title="embedding throughput (items/s), pipeline vs bare forward")
        for c in ("embedder", "frames/texts", "bare", "pipeline", "ratio"):
            t.add_column(c)
        for r in results["throughput"]:
            t.add_row(
                r["embedder"],
                str(r["frames"]),
                str(r["bare_fps"]),
                str(r["pipeline_fps"]),
                str(r["ratio"]),
            )
        con.print(t)
    if "build" in results:
        con.print(f"build: {results['build']}")
    text = json.dumps(results, indent=2)
    print(text)
    if args.json_out:
        args.json_out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
