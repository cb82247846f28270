"""Where an import builds its corpus before it is swapped in: a staging folder inside the corpus
directory, locked while its import runs, so that the folders of an import that was killed can be
told apart and removed (and a previous import's media restored if the kill came mid-swap)."""

from __future__ import annotations

import fcntl
import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from value_spectrum.retrieval._files import atomic_write_text
from value_spectrum.retrieval.corpus import CORPUS_FILE

log = logging.getLogger(__name__)

MEDIA_DIR = "media"
"""Folder of imported media inside the corpus directory."""

STAGING_PREFIX = ".import-"
"""Names of staging folders inside a corpus directory (never a corpus item: hidden)."""
OLD_PREFIX = STAGING_PREFIX + "old-"
"""The previous import's media wait here while the new ones are swapped in."""

_STAGING_LOCK = ".lock"
"""File inside a staging folder that its import holds locked while it runs: a folder whose lock
can be taken belongs to an import that was killed."""


@contextmanager
def staging(out: Path) -> Iterator[Path]:
    """A new staging folder in ``out``, locked for as long as the import runs, then removed."""
    stage = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out))
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
        if not path.name.startswith(STAGING_PREFIX) or path.is_symlink() or not path.is_dir():
            continue
        if _abandoned(path):
            kept = path / MEDIA_DIR
            if path.name.startswith(OLD_PREFIX) and kept.is_dir() and not (out / MEDIA_DIR).exists():
                # killed in the middle of the swap: the previous import's media go back
                kept.rename(out / MEDIA_DIR)
                log.warning("restored %s from %s", out / MEDIA_DIR, path)
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
            log.warning("removed %s, left by an import that was interrupted", path)
    return removed


def swap_in(stage: Path, out: Path, lines: list[str]) -> None:
    """Replace ``out``'s media and card file with the staged ones."""
    old_media = out / MEDIA_DIR
    trash = None
    if old_media.exists():
        trash = Path(tempfile.mkdtemp(prefix=OLD_PREFIX, dir=out))
        old_media.rename(trash / MEDIA_DIR)
    staged_media = stage / MEDIA_DIR
    staged_media.mkdir(exist_ok=True)
    staged_media.rename(old_media)
    atomic_write_text(out / CORPUS_FILE, "".join(f"{line}\n" for line in lines))
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)
