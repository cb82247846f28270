"""The run directory on disk: ``manifest.json``, ``sessions/<session_id>.json`` (one
:class:`~value_spectrum.records.Trajectory` per finished session, written atomically) and
``checkpoints.sqlite`` (LangGraph checkpoints of unfinished sessions). See
``docs/run-format.md``.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from value_spectrum.records import SCHEMA_VERSION, RunManifest, Trajectory

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
"""The manifest's file name."""
SESSIONS = "sessions"
"""The folder of session records."""
CHECKPOINTS = "checkpoints.sqlite"
"""The local executor's checkpoint database."""
CHECKPOINT_DIR = "checkpoints"
"""Per-session checkpoint databases (Ray executor)."""


class RunDirError(ValueError):
    """A run directory cannot be used as asked; the message says why and what to do."""


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the whole new one, never a
    part: temp file in the same folder, fsync, ``os.replace``, fsync of the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def trajectory_json(trajectory: Trajectory) -> str:
    """The canonical bytes of a session record (stable key order, trailing newline)."""
    return trajectory.model_dump_json(indent=1) + "\n"


@dataclass
class SessionScan:
    """What a scan of ``sessions/`` found."""

    finished: dict[str, Trajectory] = field(default_factory=dict)
    """Valid records by session id."""
    corrupt: list[str] = field(default_factory=list)
    """One line per unreadable record (moved aside as ``*.corrupt``, the session redone)."""
    stray: list[str] = field(default_factory=list)
    """Valid records of sessions not in the plan (kept, ignored)."""


class RunDir:
    """One run directory.

    Args:
        path: the directory (created on :meth:`create`).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    @property
    def sessions_path(self) -> Path:
        return self.path / SESSIONS

    @property
    def checkpoints_path(self) -> Path:
        return self.path / CHECKPOINTS

    def session_path(self, session_id: str) -> Path:
        """Where the record of ``session_id`` lives."""
        return self.sessions_path / f"{session_id}.json"

    def exists(self) -> bool:
        """True when the directory holds a manifest."""
        return self.manifest_path.is_file()

    # ---- manifest -------------------------------------------------------------------------
    def read_manifest(self) -> RunManifest:
        """The manifest.

        Raises:
            RunDirError: missing or invalid, naming the file and the field.
        """
        try:
            manifest = RunManifest.model_validate_json(self.manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunDirError(f"{self.manifest_path}: no manifest; not a run directory") from None
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"]) or "<file>"
            raise RunDirError(f"{self.manifest_path}: field {loc!r}: {err['msg']}") from None
        _check_version(self.manifest_path, manifest.schema_version)
        return manifest

    def write_manifest(self, manifest: RunManifest) -> None:
        """Write the manifest atomically."""
        write_atomic(self.manifest_path, manifest.model_dump_json(indent=2) + "\n")

    # ---- sessions -------------------------------------------------------------------------
    def write_session(self, trajectory: Trajectory) -> Path:
        """Write one finished session's record atomically; returns its path."""
        path = self.session_path(trajectory.session_id)
        write_atomic(path, trajectory_json(trajectory))
        return path

    def read_session(self, path: Path) -> Trajectory:
        """Parse one session record (raises on a bad file)."""
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("schema_version"), int):
            _check_version(path, data["schema_version"])  # before validation: new fields are not damage
        traj = Trajectory.model_validate(data)
        if traj.session_id != path.stem:
            raise ValueError(f"session_id {traj.session_id!r} does not match the file name")
        return traj

    def iter_sessions(self) -> Iterable[Trajectory]:
        """Every readable session record, in file-name order (unreadable ones are logged)."""
        for path in sorted(self.sessions_path.glob("*.json")):
            try:
                yield self.read_session(path)
            except RunDirError:
                raise
            except (ValueError, OSError) as exc:
                logger.warning("%s: unreadable session record: %s", path, _first_line(exc))

    def scan(self, planned: Iterable[str] | None = None, *, quarantine: bool = True) -> SessionScan:
        """Read every record; move unreadable ones aside (``<id>.json.corrupt``) so the session
        is redone, and report them.

        Args:
            planned: the session ids of the plan (None: accept any).
            quarantine: rename corrupt records (off for read-only inspection).
        """
        scan = SessionScan()
        wanted = None if planned is None else set(planned)
        if not self.sessions_path.is_dir():
            return scan
        for path in sorted(self.sessions_path.glob("*.json")):
            try:
                traj = self.read_session(path)
            except RunDirError:
                raise  # a newer format is not corruption: never move it aside
            except (ValueError, OSError) as exc:
                line = f"{path}: corrupt session record ({_first_line(exc)}); it will be redone"
                logger.warning(line)
                scan.corrupt.append(line)
                if quarantine:
                    os.replace(path, _free_name(path.with_name(path.name + ".corrupt")))
                continue
            if wanted is not None and traj.session_id not in wanted:
                scan.stray.append(traj.session_id)
                continue
            scan.finished[traj.session_id] = traj
        return scan


def _check_version(path: Path, version: int) -> None:
    if version > SCHEMA_VERSION:
        raise RunDirError(
            f"{path}: field 'schema_version': {version!r} is newer than this version of "
            f"value-spectrum reads ({SCHEMA_VERSION}); upgrade the package"
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _free_name(path: Path) -> Path:
    if not path.exists():
        return path
    n = 1
    while path.with_name(f"{path.name}.{n}").exists():
        n += 1
    return path.with_name(f"{path.name}.{n}")


def dump_json(data: object) -> str:
    """Stable JSON for small files."""
    return json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
