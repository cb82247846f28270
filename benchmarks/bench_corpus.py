"""Corpus speed, as ratios measured in one run: demo keyframe rendering against a warm cache,
and folder import with one worker against several.

    python benchmarks/bench_corpus.py [--cards 40] [--videos 12]

Prints one JSON object. Uses a temporary cache and temporary folders; touches nothing else.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cards", type=int, default=40, help="demo cards to render")
    parser.add_argument("--videos", type=int, default=12, help="videos in the import folder")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        os.environ["VALUE_SPECTRUM_CACHE"] = str(tmp / "cache")
        from value_spectrum.retrieval import media
        from value_spectrum.retrieval.demo import ensure_media, load_demo_corpus
        from value_spectrum.retrieval.importer import default_workers, import_collection

        cards = load_demo_corpus().videos[: args.cards]
        t0 = time.perf_counter()
        for video in cards:
            for i in range(media.KEYFRAMES_PER_CARD):
                media.png_bytes(media.render_keyframe(video, i))
        draw = (time.perf_counter() - t0) / (len(cards) * media.KEYFRAMES_PER_CARD)

        t0 = time.perf_counter()
        for video in cards:
            ensure_media(video, with_video=False)
        cold = (time.perf_counter() - t0) / len(cards)
        t0 = time.perf_counter()
        for video in cards:
            ensure_media(video, with_video=False)
        warm = (time.perf_counter() - t0) / len(cards)

        src = tmp / "in"
        src.mkdir()
        t0 = time.perf_counter()
        for video in cards[: args.videos]:
            media.render_video(video, src / f"{video.id}.mp4")
        encode = (time.perf_counter() - t0) / max(1, min(args.videos, len(cards)))

        t0 = time.perf_counter()
        import_collection(src, tmp / "one", workers=1)
        serial = time.perf_counter() - t0
        workers = default_workers()
        t0 = time.perf_counter()
        import_collection(src, tmp / "many", workers=workers)
        parallel = time.perf_counter() - t0

    json.dump(
        {
            "cards": len(cards),
            "keyframe_draw_ms": round(1000 * draw, 1),
            "card_cold_ms": round(1000 * cold, 1),
            "card_warm_ms": round(1000 * warm, 2),
            "cold_over_warm": round(cold / warm, 1),
            "mp4_encode_ms": round(1000 * encode, 1),
            "import_videos": min(args.videos, len(cards)),
            "import_serial_s": round(serial, 2),
            "import_workers": workers,
            "import_speedup": round(serial / parallel, 2),
        },
        sys.stdout,
        indent=2,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
