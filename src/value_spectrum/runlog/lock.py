"""One process per run directory: an exclusive ``flock`` on ``RUN/.lock``.

Why ``fcntl.flock`` and not a lock file that merely exists: the kernel releases a flock when
the process that holds it exits, however it exits (``kill -9`` included), so a stale lock can
never block a rerun, and there is no pid-liveness guessing. The holder writes its pid into the
file so that a refused process can name it. (``filelock`` uses the same call on Unix; the pid
message is why this is ten lines of our own.) On Linux NFS clients flock is mapped to POSIX
byte-range locks, so it also holds across machines sharing the directory.

Example:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with RunLock(d):
    ...     pass
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from types import TracebackType

logger = logging.getLogger(__name__)

LOCK_FILE = ".lock"
"""The lock file inside a run directory (working state, not a result)."""


class RunInUseError(RuntimeError):
    """Another process holds the run directory; the message names it and the holder's pid."""


class RunLock:
    """An exclusive, non-blocking lock on a run directory, held until :meth:`release`.

    Raises (on acquiring):
        RunInUseError: another process (or another open lock in this process) holds it.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock at once or raise :class:`RunInUseError`."""
        if self._fd is not None:
            return self
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no flock; say so once
            logger.warning("%s: no fcntl on this platform; the run directory is not locked", self.run_dir)
            return self
        from value_spectrum._private import private_dir

        private_dir(self.run_dir)  # owner-only, like every run folder
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"process {holder}" if holder else "another process"
            raise RunInUseError(
                f"{self.run_dir}: in use by {who}; wait for it to finish or pass another --out"
            ) from None
        except OSError:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def check_free(self) -> None:
        """Raise :class:`RunInUseError` at once when another process holds an existing run
        directory (a quick check before slow preparations; creates nothing when the directory
        does not exist)."""
        if self._fd is None and self.path.is_file():
            self.acquire().release()

    def release(self) -> None:
        """Let go (closing the descriptor drops the flock)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def _read_pid(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 32).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return text if text.isdigit() else ""
