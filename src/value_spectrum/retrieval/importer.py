"""Import a user's folder of short videos and screenshots as a corpus directory.

``import_collection(src, out)`` walks ``src`` recursively for videos (``.mp4``, ``.webm``,
``.mov``: K keyframes are sampled with PyAV and the file is copied) and screenshots (``.jpg``,
``.jpeg``, ``.png``, ``.webp``: one still per video, as in the paper, verified and re-encoded
as PNG). Metadata comes from a same-name JSON sidecar (``clip.json`` or ``clip.mp4.json``) and/or
a CSV/JSONL manifest; the sidecar wins field by field.

One bad item (a truncated or fake video, an unreadable image, a sidecar with a bad field, a file
name that is not UTF-8, a link that leaves the folder, an image or video frame of more than
:data:`DEFAULT_MAX_PIXELS` pixels) is rejected with its path and reason; the rest is imported. The input folder is never written to
and nothing is written outside ``out``: the new corpus is built in a staging folder inside
``out`` and swapped in at the end, replacing a previous import's ``corpus.jsonl`` and
``media/``. Staging folders left behind by a killed import are removed by the next one.

The parts: :mod:`~value_spectrum.retrieval.import_scan` (the files found, their metadata and
ids), :mod:`~value_spectrum.retrieval.stills` (screenshots and keyframes as stored PNGs) and
:mod:`~value_spectrum.retrieval.staging` (the staging folder and the swap); this module runs
them and reports what was imported and rejected.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from value_spectrum.records import Video
from value_spectrum.retrieval.corpus import CORPUS_FILE
from value_spectrum.retrieval.import_scan import (
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    ImportUsageError,
    Item,
    Rejection,
    assign_ids,
    collect,
    find_media,
    printable,
    problem_with_path,
)
from value_spectrum.retrieval.keyframes import (
    DEFAULT_KEYFRAMES,
    MediaError,
    sample_keyframes,
    video_duration,
)
from value_spectrum.retrieval.metadata import MetadataError, build_video
from value_spectrum.retrieval.staging import (
    MEDIA_DIR,
    STAGING_PREFIX,
    clean_stale_staging,
    staging,
    swap_in,
)
from value_spectrum.retrieval.stills import (
    DEFAULT_MAX_PIXELS,
    DEFAULT_MAX_SIDE,
    fit,
    image_still,
    too_many_pixels,
)

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MAX_SIDE",
    "IMAGE_SUFFIXES",
    "MEDIA_DIR",
    "VIDEO_SUFFIXES",
    "ImportResult",
    "ImportUsageError",
    "Rejection",
    "clean_stale_staging",
    "default_workers",
    "find_media",
    "import_collection",
    "printable",
    "problem_with_path",
    "too_many_pixels",
]


@dataclass(frozen=True)
class ImportResult:
    """What an import did."""

    out: Path
    """The corpus directory."""
    imported: tuple[str, ...]
    """Ids of the imported items, in corpus order."""
    rejected: tuple[Rejection, ...] = field(default=())
    """Items left out, with reasons."""

    def as_json(self) -> dict[str, Any]:
        """``{"imported": N, "rejected": [{"path": ..., "reason": ...}]}``."""
        return {
            "imported": len(self.imported),
            "rejected": [{"path": r.path, "reason": r.reason} for r in self.rejected],
        }


def default_workers() -> int:
    """Threads for an import: the CPU count, at most 4."""
    return min(4, os.cpu_count() or 1)


def _check_folders(src: Path, out: Path) -> None:
    if not src.is_dir():
        raise ImportUsageError(f"{src}: no such folder")
    s, o = src.resolve(), out.resolve()
    if o == s or s in o.parents or o in s.parents:
        raise ImportUsageError(
            f"--out {out} and the imported folder {src} must not contain each other"
        )
    if o.exists() and not o.is_dir():
        raise ImportUsageError(f"--out {out}: exists and is not a folder")
    if (
        o.is_dir()
        and not (o / CORPUS_FILE).is_file()
        and any(p for p in o.iterdir() if not p.name.startswith(STAGING_PREFIX))
    ):
        raise ImportUsageError(
            f"--out {out}: a non-empty folder that is not a corpus; refusing to write into it"
        )


def _import_one(
    item: Item, video_id: str, stage: Path, k: int, max_side: int | None, max_pixels: int | None
) -> Video:
    rel_dir = Path(MEDIA_DIR) / video_id
    folder = stage / rel_dir
    folder.mkdir(parents=True, exist_ok=True)
    fields = dict(item.fields, id=video_id, source=printable(str(item.path.resolve())))
    if item.kind == "image":
        image_still(item.path, folder / "kf-0.png", max_side, max_pixels)
        fields["keyframes"] = ((rel_dir / "kf-0.png").as_posix(),)
        fields.setdefault("duration_s", 0.0)
    else:
        frames = sample_keyframes(item.path, k, max_pixels=max_pixels)
        names = []
        for i, frame in enumerate(frames):
            fit(frame, max_side).save(folder / f"kf-{i}.png", format="PNG")
            names.append((rel_dir / f"kf-{i}.png").as_posix())
        target = folder / f"video{item.path.suffix.lower()}"
        shutil.copyfile(item.path, target)
        fields["keyframes"] = tuple(names)
        fields["video_path"] = (rel_dir / target.name).as_posix()
        if "duration_s" not in fields:
            fields["duration_s"] = round(video_duration(item.path), 3)
    return build_video(fields)


def import_collection(
    src: Path,
    out: Path,
    *,
    keyframes: int = DEFAULT_KEYFRAMES,
    manifest: Path | None = None,
    on_item: Callable[[str], None] | None = None,
    workers: int | None = None,
    max_side: int | None = DEFAULT_MAX_SIDE,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> ImportResult:
    """Import the media under ``src`` into the corpus directory ``out``.

    Args:
        src: The folder to import (read only).
        out: The corpus directory: missing, empty, or a previous import (replaced).
        keyframes: Keyframes sampled from each video (screenshots give one).
        manifest: Optional CSV/JSONL manifest; its ``file`` column is relative to ``src``.
        on_item: Called with each media path as it is processed (for progress display);
            it may be called from worker threads.
        max_side: Keyframes and stills are shrunk so their longer side is at most this many
            pixels (default 1280, i.e. 720p for a 9:16 frame); None keeps the original size.
        max_pixels: Images and video frames with more pixels than this are rejected before
            they are decoded (default :data:`DEFAULT_MAX_PIXELS`); None lifts the limit.
        workers: Files processed at once (default :func:`default_workers`). The result does
            not depend on it.

    Returns:
        The imported ids and the rejected items. When nothing could be imported, ``out`` is
        left as it was.

    Raises:
        ImportUsageError: ``src`` is missing, the folders overlap, ``out`` is an unrelated
            non-empty folder, the manifest is unusable, or there is no media file at all.
    """
    if keyframes < 1:
        raise ImportUsageError(f"--keyframes must be at least 1, got {keyframes!r}")
    _check_folders(src, out)
    rejected: list[Rejection] = []
    items = collect(src, src, manifest, rejected)
    if not items and not rejected:
        raise ImportUsageError(
            f"{src}: nothing to import (no {', '.join(sorted(VIDEO_SUFFIXES | IMAGE_SUFFIXES))} files)"
        )
    pairs = assign_ids(items, src, rejected)
    created = not out.exists()
    clean_stale_staging(out)
    out.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    ids: list[str] = []

    def work(pair: tuple[Item, str], stage: Path) -> Video | Exception:
        item, video_id = pair
        if on_item is not None:
            on_item(printable(str(src / item.rel)))
        try:
            return _import_one(item, video_id, stage, keyframes, max_side, max_pixels)
        except (MediaError, MetadataError, OSError) as exc:
            shutil.rmtree(stage / MEDIA_DIR / video_id, ignore_errors=True)
            return exc

    try:
        with staging(out) as stage:
            # decoding and PNG encoding release the GIL, so threads overlap well; map() keeps
            # the corpus order whatever finishes first
            with ThreadPoolExecutor(max_workers=max(1, workers or default_workers())) as pool:
                done_all = pool.map(lambda pair: work(pair, stage), pairs)
                for (item, video_id), done in zip(pairs, done_all, strict=True):
                    if isinstance(done, Exception):
                        reason = printable(str(done).replace(f"{item.path}: ", ""))
                        rejected.append(Rejection(printable(str(src / item.rel)), reason))
                        log.info("rejected %s: %s", printable(str(item.path)), reason)
                        continue
                    lines.append(done.model_dump_json())
                    ids.append(video_id)
            if ids:
                swap_in(stage, out, lines)
    finally:
        if created and not ids:
            shutil.rmtree(out, ignore_errors=True)
    rejected.sort(key=lambda r: r.path)
    return ImportResult(out=out, imported=tuple(ids), rejected=tuple(rejected))
