"""What an import finds in a folder: the media files (skipping hidden ones, refusing links that
leave the folder and names that are not UTF-8), each paired with its metadata (a sidecar and/or
a manifest row, checked before any decoding), and the ids they will have."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from value_spectrum.retrieval.metadata import (
    MetadataError,
    build_video,
    normalise_metadata,
    read_manifest,
    read_sidecar,
)

VIDEO_SUFFIXES = frozenset({".mp4", ".webm", ".mov"})
"""Video files the importer reads."""

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})
"""Screenshot files the importer reads."""

class ImportUsageError(ValueError):
    """The import cannot start: a missing folder, overlapping folders, nothing to import."""


@dataclass(frozen=True)
class Rejection:
    """One item that was not imported."""

    path: str
    """The media file (or manifest line) as the user would name it."""
    reason: str
    """Why, in one line."""


@dataclass
class Item:
    path: Path
    rel: str
    kind: Literal["video", "image"]
    fields: dict[str, Any]
    explicit_id: bool


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


def sidecar_of(path: Path, root: Path) -> Path | None:
    for candidate in (path.with_name(path.name + ".json"), path.with_suffix(".json")):
        if candidate.is_file() or candidate.is_symlink():
            problem = problem_with_path(candidate, root)
            if problem is not None:
                raise MetadataError(f"sidecar {printable(candidate.name)}: {problem}")
            return candidate
    return None


def _slug(stem: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._")
    return slug[:100] or "item"


def collect(
    src: Path, shown: Path, manifest: Path | None, rejected: list[Rejection]
) -> list[Item]:
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
            side = sidecar_of(path, src)
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
        items.append(Item(path, rel, kind, fields, "id" in fields))
    return items


def assign_ids(
    items: list[Item], shown: Path, rejected: list[Rejection]
) -> list[tuple[Item, str]]:
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
