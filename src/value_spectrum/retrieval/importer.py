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
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from PIL import Image, ImageOps

from value_spectrum.records import Video
from value_spectrum.retrieval._files import atomic_write_text
from value_spectrum.retrieval.corpus import CORPUS_FILE
from value_spectrum.retrieval.keyframes import (
    DEFAULT_KEYFRAMES,
    MediaError,
    sample_keyframes,
    video_duration,
)
from value_spectrum.retrieval.metadata import (
    MetadataError,
    build_video,
    normalise_metadata,
    read_manifest,
    read_sidecar,
)

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = frozenset({".mp4", ".webm", ".mov"})
"""Video files the importer reads."""

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})
"""Screenshot files the importer reads."""

DEFAULT_MAX_SIDE = 1280
"""Longest side of stored keyframes and stills, in pixels: 720x1280 for a 9:16 video. Vision
models downscale larger images anyway, and full-HD PNGs cost seconds and megabytes each."""

DEFAULT_MAX_PIXELS = 40_000_000
"""The most pixels an image or a video frame may have to be decoded (an 8K frame is 33 million).
A 12,000 x 12,000 PNG compresses to a few hundred kilobytes and decodes to 430 MB; larger ones
are rejected before any pixel is decoded."""

MEDIA_DIR = "media"
"""Folder of imported media inside the corpus directory."""

_STAGING_PREFIX = ".import-"
_OLD_PREFIX = _STAGING_PREFIX + "old-"
"""The previous import's media wait here while the new ones are swapped in."""

_STAGING_LOCK = ".lock"
"""File inside a staging folder that its import holds locked while it runs: a folder whose lock
can be taken belongs to an import that was killed."""


class ImportUsageError(ValueError):
    """The import cannot start: a missing folder, overlapping folders, nothing to import."""


@dataclass(frozen=True)
class Rejection:
    """One item that was not imported."""

    path: str
    """The media file (or manifest line) as the user would name it."""
    reason: str
    """Why, in one line."""


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


@dataclass
class _Item:
    path: Path
    rel: str
    kind: Literal["video", "image"]
    fields: dict[str, Any]
    explicit_id: bool


def default_workers() -> int:
    """Threads for an import: the CPU count, at most 4."""
    return min(4, os.cpu_count() or 1)


def printable(text: str) -> str:
    """A file name as text that can be printed and stored: bytes that are not UTF-8 (which
    Python keeps as lone surrogates) are shown as ``\\xff`` escapes."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def find_media(src: Path) -> list[Path]:
    """Media files under ``src`` (recursively, sorted), skipping hidden files and folders.

    Links are listed too (whatever they point at); :func:`problem_with_path` says which of them
    the importer refuses.
    """
    found = []
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.suffix.lower() not in VIDEO_SUFFIXES | IMAGE_SUFFIXES:
            continue
        if path.is_file() or path.is_symlink():
            found.append(path)
    return found


def problem_with_path(path: Path, root: Path) -> str | None:
    """Why the file at ``path`` (under the folder ``root``) must not be imported, or None.

    Refused: a name that is not valid UTF-8 (it cannot be stored or printed faithfully), a
    link whose target lies outside ``root`` or does not exist, and anything that is not a
    regular file.
    """
    try:
        str(path.relative_to(root)).encode("utf-8")
    except UnicodeEncodeError:
        return "the file name is not valid UTF-8; rename the file"
    if path.is_symlink():
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return "a broken link"
        base = root.resolve()
        if base not in target.parents:
            return f"a link to {printable(str(target))}, outside the imported folder; copy the file in instead"
    if not path.is_file():
        return "not a regular file"
    return None


def _sidecar(path: Path, root: Path) -> Path | None:
    for candidate in (path.with_name(path.name + ".json"), path.with_suffix(".json")):
        if candidate.is_file() or candidate.is_symlink():
            problem = problem_with_path(candidate, root)
            if problem is not None:
                raise MetadataError(f"sidecar {printable(candidate.name)}: {problem}")
            return candidate
    return None


@contextmanager
def _staging(out: Path) -> Iterator[Path]:
    """A new staging folder in ``out``, locked for as long as the import runs, then removed."""
    stage = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=out))
    try:
        with open(stage / _STAGING_LOCK, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _abandoned(folder: Path) -> bool:
    """Whether no running import holds ``folder``'s lock (a folder with no lock file at all was
    left between ``mkdtemp`` and the lock, or by the swap, by a process that died there)."""
    try:
        with open(folder / _STAGING_LOCK, "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True
    except OSError:
        return True


def clean_stale_staging(out: Path) -> list[Path]:
    """Remove staging folders that imports into ``out`` left behind when they were killed
    (those of an import still running elsewhere hold a lock and are kept).

    Returns:
        The folders removed.
    """
    removed: list[Path] = []
    if not out.is_dir():
        return removed
    for path in sorted(out.iterdir()):
        if not path.name.startswith(_STAGING_PREFIX) or path.is_symlink() or not path.is_dir():
            continue
        if _abandoned(path):
            kept = path / MEDIA_DIR
            if path.name.startswith(_OLD_PREFIX) and kept.is_dir() and not (out / MEDIA_DIR).exists():
                # killed in the middle of the swap: the previous import's media go back
                kept.rename(out / MEDIA_DIR)
                log.warning("restored %s from %s", out / MEDIA_DIR, path)
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
            log.warning("removed %s, left by an import that was interrupted", path)
    return removed


def _slug(stem: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._")
    return slug[:100] or "item"


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
        and any(p for p in o.iterdir() if not p.name.startswith(_STAGING_PREFIX))
    ):
        raise ImportUsageError(
            f"--out {out}: a non-empty folder that is not a corpus; refusing to write into it"
        )


def _fit(image: Image.Image, max_side: int | None) -> Image.Image:
    """Shrink so the longer side is at most ``max_side`` (never enlarge; None keeps the size)."""
    if max_side and max(image.size) > max_side:
        image = image.copy()
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return image


def too_many_pixels(width: int, height: int, max_pixels: int | None) -> str | None:
    """The reason an image of ``width`` x ``height`` is refused, or None when it is not."""
    if max_pixels is not None and width * height > max_pixels:
        return (
            f"{width} x {height} pixels is more than the {max_pixels:,}-pixel limit "
            "(a decompression bomb or a huge picture; shrink it, or raise --max-pixels)"
        )
    return None


_header_lock = threading.Lock()


def _open_image(path: Path) -> Image.Image:
    """``Image.open`` (which reads the header only) without Pillow's own bomb warning: our limit
    is lower and gives the reason. ``catch_warnings`` is process-wide, hence the lock; opening
    is cheap, decoding happens outside it."""
    with _header_lock, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(path)


def _image_still(path: Path, dest: Path, max_side: int | None, max_pixels: int | None) -> None:
    try:
        with _open_image(path) as img:
            # the header gives the size; refuse before a single pixel is decoded
            refused = too_many_pixels(*img.size, max_pixels)
            if refused is not None:
                raise MediaError(refused)
            img.load()
            still = ImageOps.exif_transpose(img).convert("RGB")
    except MediaError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise MediaError(f"not a readable image ({' '.join(str(exc).split())})") from None
    dest.parent.mkdir(parents=True, exist_ok=True)
    _fit(still, max_side).save(dest, format="PNG")


def _import_one(
    item: _Item, video_id: str, stage: Path, k: int, max_side: int | None, max_pixels: int | None
) -> Video:
    rel_dir = Path(MEDIA_DIR) / video_id
    folder = stage / rel_dir
    folder.mkdir(parents=True, exist_ok=True)
    fields = dict(item.fields, id=video_id, source=printable(str(item.path.resolve())))
    if item.kind == "image":
        _image_still(item.path, folder / "kf-0.png", max_side, max_pixels)
        fields["keyframes"] = ((rel_dir / "kf-0.png").as_posix(),)
        fields.setdefault("duration_s", 0.0)
    else:
        frames = sample_keyframes(item.path, k, max_pixels=max_pixels)
        names = []
        for i, frame in enumerate(frames):
            _fit(frame, max_side).save(folder / f"kf-{i}.png", format="PNG")
            names.append((rel_dir / f"kf-{i}.png").as_posix())
        target = folder / f"video{item.path.suffix.lower()}"
        shutil.copyfile(item.path, target)
        fields["keyframes"] = tuple(names)
        fields["video_path"] = (rel_dir / target.name).as_posix()
        if "duration_s" not in fields:
            fields["duration_s"] = round(video_duration(item.path), 3)
    return build_video(fields)


def _collect(
    src: Path, shown: Path, manifest: Path | None, rejected: list[Rejection]
) -> list[_Item]:
    """Pair every media file with its metadata; items with bad metadata are rejected here."""
    media = find_media(src)
    by_rel = {p.relative_to(src).as_posix(): p for p in media}
    rows: dict[str, tuple[str, dict[str, Any]]] = {}
    if manifest is not None:
        try:
            entries, bad = read_manifest(manifest)
        except MetadataError as exc:
            raise ImportUsageError(str(exc)) from None
        rejected.extend(Rejection(where, reason) for where, reason in bad)
        for row in entries:
            if row.file not in by_rel:
                rejected.append(Rejection(row.where, f"no media file {row.file!r} in {shown}"))
            elif row.file in rows:
                rejected.append(
                    Rejection(row.where, f"{row.file!r} already listed at {rows[row.file][0]}")
                )
            else:
                rows[row.file] = (row.where, row.fields)
    items = []
    for rel, path in by_rel.items():
        name = printable(str(shown / rel))
        problem = problem_with_path(path, src)
        if problem is not None:
            rejected.append(Rejection(name, problem))
            continue
        try:
            fields: dict[str, Any] = {}
            if rel in rows:
                where, raw = rows[rel]
                fields.update(normalise_metadata(raw, f"{where}: "))
            side = _sidecar(path, src)
            if side is not None:
                fields.update(read_sidecar(side))
            # type errors now, before any decoding, naming where the metadata came from
            origin = [f"sidecar {printable(side.name)}"] if side is not None else []
            origin += [rows[rel][0]] if rel in rows else []
            build_video({"id": "probe", **fields}, f"{' + '.join(origin) or 'metadata'}: ")
        except MetadataError as exc:
            rejected.append(Rejection(name, str(exc)))
            continue
        kind: Literal["video", "image"] = (
            "video" if path.suffix.lower() in VIDEO_SUFFIXES else "image"
        )
        items.append(_Item(path, rel, kind, fields, "id" in fields))
    return items


def _assign_ids(
    items: list[_Item], shown: Path, rejected: list[Rejection]
) -> list[tuple[_Item, str]]:
    """Metadata ids first (a repeated one is rejected), then unique slugs of file stems.

    Ids are compared without case: they name media folders, and ``Clip`` and ``clip`` are one
    folder on macOS and Windows.
    """
    taken: dict[str, str] = {}  # lower-cased id -> the file that holds it
    chosen: dict[int, str] = {}
    for n, item in enumerate(items):
        if item.explicit_id:
            ident = str(item.fields["id"])
            name = printable(str(shown / item.rel))
            if ident.lower() in taken:
                rejected.append(
                    Rejection(name, f"duplicate id {ident!r} (also {taken[ident.lower()]})")
                )
                continue
            taken[ident.lower()] = name
            chosen[n] = ident
    for n, item in enumerate(items):
        if item.explicit_id:
            continue
        base = _slug(item.path.stem)
        ident, k = base, 2
        while ident.lower() in taken:
            ident, k = f"{base}-{k}", k + 1
        taken[ident.lower()] = printable(str(shown / item.rel))
        chosen[n] = ident
    return [(items[n], chosen[n]) for n in sorted(chosen, key=lambda n: items[n].rel)]


def _swap_in(stage: Path, out: Path, lines: list[str]) -> None:
    """Replace ``out``'s media and card file with the staged ones."""
    old_media = out / MEDIA_DIR
    trash = None
    if old_media.exists():
        trash = Path(tempfile.mkdtemp(prefix=_OLD_PREFIX, dir=out))
        old_media.rename(trash / MEDIA_DIR)
    staged_media = stage / MEDIA_DIR
    staged_media.mkdir(exist_ok=True)
    staged_media.rename(old_media)
    atomic_write_text(out / CORPUS_FILE, "".join(f"{line}\n" for line in lines))
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)


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
    items = _collect(src, src, manifest, rejected)
    if not items and not rejected:
        raise ImportUsageError(
            f"{src}: nothing to import (no {', '.join(sorted(VIDEO_SUFFIXES | IMAGE_SUFFIXES))} files)"
        )
    pairs = _assign_ids(items, src, rejected)
    created = not out.exists()
    clean_stale_staging(out)
    out.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    ids: list[str] = []

    def work(pair: tuple[_Item, str], stage: Path) -> Video | Exception:
        item, video_id = pair
        if on_item is not None:
            on_item(printable(str(src / item.rel)))
        try:
            return _import_one(item, video_id, stage, keyframes, max_side, max_pixels)
        except (MediaError, MetadataError, OSError) as exc:
            shutil.rmtree(stage / MEDIA_DIR / video_id, ignore_errors=True)
            return exc

    try:
        with _staging(out) as stage:
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
                _swap_in(stage, out, lines)
    finally:
        if created and not ids:
            shutil.rmtree(out, ignore_errors=True)
    rejected.sort(key=lambda r: r.path)
    return ImportResult(out=out, imported=tuple(ids), rejected=tuple(rejected))
