"""The one atomic writer of the toolkit: write to a temporary file in the target's folder,
fsync it, ``os.replace`` it over the target, fsync the folder. A reader (or a process killed
half-way) sees the old file or the whole new one, never a part.

Used by the run log, ``export``, ``report --html`` and the corpus writers in ``retrieval/``.

Example:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> write_atomic(p, "hello\\n")
    >>> p.read_text()
    'hello\\n'
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on a folder
        pass
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | Path, *, sync_dir: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` for any writer (pandas, PIL, PyAV); on success it
    is fsynced and replaces ``path``; on failure it is removed and ``path`` is untouched.

    The temporary name keeps ``path``'s suffix so that writers which guess the format from the
    name still work. ``sync_dir=False`` leaves the folder's fsync to the caller (many records
    written close together: one folder fsync for all, :func:`fsync_dir`); a killed process never
    loses a renamed file, only an OS crash before that fsync could.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, target)
    except OSError as exc:  # a full disk names the file meant, not the temporary one
        tmp.unlink(missing_ok=True)
        if exc.filename in (None, str(tmp)):
            raise OSError(exc.errno, exc.strerror or str(exc), str(target)) from exc
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if sync_dir:
        _fsync_dir(target.parent)


@contextlib.contextmanager
def atomic_open(path: str | Path, *, newline: str | None = None) -> Iterator[TextIO]:
    """A UTF-8 text stream whose content replaces ``path`` atomically when the block ends
    without an exception (streaming writes: ``export``, ``corpus.jsonl``)."""
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8", newline=newline) as fh:
        yield fh


def fsync_dir(folder: str | Path) -> None:
    """fsync a folder (after renames into it with ``sync_dir=False``)."""
    _fsync_dir(Path(folder))


def write_atomic(path: str | Path, data: str | bytes, *, sync_dir: bool = True) -> None:
    """Write ``data`` (text as UTF-8, or bytes) to ``path`` atomically."""
    with atomic_path(path, sync_dir=sync_dir) as tmp:
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` as UTF-8 to ``path`` atomically."""
    write_atomic(path, text)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    write_atomic(path, data)
