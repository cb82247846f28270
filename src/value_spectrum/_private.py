"""Owner-only files and folders for the stores that hold prompts, replies and transcripts.

Checkpoint databases, the response cache and chat threads hold everything a model was shown and
said; other local users must not read them. SQLite creates a database's ``-wal``, ``-shm`` and
``-journal`` files with the database file's own mode, so creating the database owner-only (before
SQLite opens it) is enough for those too; existing ones from older versions are tightened. A
library that creates its own files with the umask (Chroma's index segments) is called inside
:func:`owner_only_creation`. Depends on nothing in the package.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

FILE_MODE = 0o600
"""Read and write for the owner only."""
DIR_MODE = 0o700
"""Owner only: other users cannot even list or enter the folder."""

SQLITE_SIDECARS = ("-wal", "-shm", "-journal")
"""Files SQLite keeps next to a database."""

OWNER_ONLY_UMASK = 0o077
"""The umask that makes every new file and folder owner-only."""

_umask_lock = threading.Lock()
_umask_depth = 0
_umask_saved = 0


@contextlib.contextmanager
def owner_only_creation() -> Iterator[None]:
    """Within the block, every file and folder the process creates is owner-only (umask 077).

    For libraries that create files with the umask, out of our hands (Chroma's SQLite file and
    HNSW segment files, written from its native code). The umask is process-wide: files other
    threads create meanwhile are owner-only too (tighter, never looser). Blocks may nest and
    overlap across threads; the umask the first one found is restored when the last one ends.
    """
    global _umask_depth, _umask_saved
    with _umask_lock:
        if _umask_depth == 0:
            _umask_saved = os.umask(OWNER_ONLY_UMASK)
        _umask_depth += 1
    try:
        yield
    finally:
        with _umask_lock:
            _umask_depth -= 1
            if _umask_depth == 0:
                os.umask(_umask_saved)


def private_dir(path: str | Path) -> Path:
    """Create ``path`` (and missing parents) and make the folder itself owner-only.

    Parents that already existed keep their mode (``~/.cache`` is not ours to change); parents
    created here are owner-only too.
    """
    p = Path(path)
    missing = [q for q in (p, *p.parents) if not q.exists()]
    p.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    for q in (p, *missing):
        with contextlib.suppress(OSError):  # a folder we may use but do not own
            os.chmod(q, DIR_MODE)
    return p


def private_file(path: str | Path) -> Path:
    """Make ``path`` an owner-only file (created empty when missing, in an owner-only folder)
    and tighten any SQLite side files next to it."""
    p = Path(path)
    if not p.parent.exists():
        private_dir(p.parent)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    os.close(fd)
    for q in (p, *(p.with_name(p.name + s) for s in SQLITE_SIDECARS)):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            os.chmod(q, FILE_MODE)
    return p


def tighten_tree(path: str | Path) -> None:
    """Make every folder under ``path`` (itself included) 0700 and every file 0600: for stores
    that a library creates with the umask (Chroma's index folder)."""
    root = Path(path)
    if not root.is_dir():
        return
    for p in (root, *root.rglob("*")):
        if p.is_symlink():
            continue
        with contextlib.suppress(OSError):
            os.chmod(p, DIR_MODE if p.is_dir() else FILE_MODE)
