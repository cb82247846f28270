"""The run log: the only code that reads or writes a run directory.

A run directory (see ``docs/run-format.md``)::

    manifest.json        RunManifest, written once when the run is created
    labels.json          LabelsFile: every video's value labels (what scoring needs)
    personas.json        PersonasFile: every persona's name and target profile
    sessions/<id>.json   one Trajectory per ended session (status finished or error)
    checkpoints.sqlite   LangGraph checkpoints of unfinished sessions (working state)
    checkpoints/         per-session checkpoint databases (Ray executor; working state)
    .lock                held (flock) by the one process running the run

Every file is validated by a pydantic model and passes one version gate
(:func:`check_version`); every write goes through :func:`~value_spectrum.runlog.atomic.write_atomic`.

Example:
    >>> import tempfile
    >>> log = RunLog(tempfile.mkdtemp())
    >>> log.exists()
    False
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from value_spectrum._private import private_dir
from value_spectrum.personas.model import Persona
from value_spectrum.records import SCHEMA_VERSION, RunManifest, Trajectory, Video
from value_spectrum.runlog.atomic import fsync_dir, write_atomic
from value_spectrum.runlog.files import (
    SIDE_SCHEMA,
    LabelledVideo,
    LabelsFile,
    PersonaEntry,
    PersonasFile,
    VideoLabels,
    video_labels,
)
from value_spectrum.runlog.lock import LOCK_FILE, RunLock
from value_spectrum.values import ValueProfile

logger = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.json"
"""The run manifest."""
SESSIONS_DIR = "sessions"
"""One JSON trajectory per ended session."""
LABELS_FILE = "labels.json"
"""Value labels of every video the run may show."""
PERSONAS_FILE = "personas.json"
"""Target profiles of the personas in the run."""
CHECKPOINTS_FILE = "checkpoints.sqlite"
"""The local executor's checkpoint database."""
CHECKPOINT_DIR = "checkpoints"
"""Per-session checkpoint databases (Ray executor)."""
WORKING_STATE: frozenset[str] = frozenset(
    {LOCK_FILE, CHECKPOINTS_FILE, f"{CHECKPOINTS_FILE}-wal", f"{CHECKPOINTS_FILE}-shm", CHECKPOINT_DIR}
)
"""Names in a run directory that are not results."""

_M = TypeVar("_M", bound=BaseModel)


class RunDirError(ValueError):
    """A run directory cannot be read or used as asked; the message names the file, the field and
    what to do."""


def check_version(path: Path, version: object, current: int) -> None:
    """The one version gate: refuse a format this version of value-spectrum does not read.

    Raises:
        RunDirError: ``version`` is not an int, newer than ``current`` (upgrade) or older (no
            migration exists: the file predates the versioned format).
    """
    if not isinstance(version, int) or isinstance(version, bool):
        raise RunDirError(f"{path}: field 'schema_version': {version!r} is not a format version")
    if version > current:
        raise RunDirError(
            f"{path}: field 'schema_version': {version!r} is newer than this version of "
            f"value-spectrum reads ({current}); upgrade the package (pip install -U value-spectrum)"
        )
    if version < current:
        raise RunDirError(
            f"{path}: field 'schema_version': {version!r} is older than this version of "
            f"value-spectrum reads ({current}) and no migration exists; re-run it, or read it with "
            "the value-spectrum version that wrote it"
        )


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "<file>"
    return f"field {loc!r}: {err['msg']}"


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


def _read_versioned(path: Path, model: type[_M], current: int) -> _M:
    """Parse ``path`` as ``model`` after the version gate (a newer file is not damage)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{path}: cannot read ({_first_line(exc)})") from None
    except json.JSONDecodeError as exc:
        raise RunDirError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise RunDirError(f"{path}: expected a JSON object, got {type(data).__name__}")
    check_version(path, data.get("schema_version", current), current)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RunDirError(f"{path}: {_first_error(exc)}") from None


def trajectory_json(trajectory: Trajectory) -> str:
    """The canonical bytes of a session record (stable key order, trailing newline)."""
    return trajectory.model_dump_json(indent=1) + "\n"


@dataclass
class SessionScan:
    """What a scan of ``sessions/`` found (statuses only: the records are handed to a callback
    one at a time, so a scan of a million sessions keeps none in memory)."""

    statuses: dict[str, str] = field(default_factory=dict)
    """Session id -> status (finished or error) of every valid planned record."""
    corrupt: list[str] = field(default_factory=list)
    """One line per unreadable record (moved aside as ``*.corrupt``, the session redone)."""
    stray: list[str] = field(default_factory=list)
    """Valid records of sessions not in the plan (kept, ignored)."""


class RunLog:
    """One run directory.

    Args:
        path: the directory (it need not exist yet).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    # ---- paths ------------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        """``manifest.json``."""
        return self.path / MANIFEST_FILE

    @property
    def sessions_path(self) -> Path:
        """``sessions/``."""
        return self.path / SESSIONS_DIR

    @property
    def labels_path(self) -> Path:
        """``labels.json``."""
        return self.path / LABELS_FILE

    @property
    def personas_path(self) -> Path:
        """``personas.json``."""
        return self.path / PERSONAS_FILE

    @property
    def checkpoints_path(self) -> Path:
        """The local executor's checkpoint database."""
        return self.path / CHECKPOINTS_FILE

    @property
    def checkpoint_dir(self) -> Path:
        """The folder of per-session checkpoint databases (Ray executor)."""
        return self.path / CHECKPOINT_DIR

    def session_path(self, session_id: str) -> Path:
        """Where the record of ``session_id`` lives."""
        return self.sessions_path / f"{session_id}.json"

    # ---- the directory ----------------------------------------------------------------------
    def exists(self) -> bool:
        """True when the directory holds a manifest."""
        return self.manifest_path.is_file()

    def is_run(self) -> bool:
        """True when the directory holds a manifest or session records."""
        return self.exists() or bool(self.session_files())

    def require_run(self) -> None:
        """Raise :class:`RunDirError` unless the directory holds a run."""
        if not self.path.is_dir():
            raise RunDirError(f"{self.path}: not a run directory (not a directory)")
        if not self.is_run():
            raise RunDirError(
                f"{self.path}: not a run directory (no {MANIFEST_FILE} and no {SESSIONS_DIR}/*.json)"
            )

    def check_can_create(self) -> None:
        """Raise :class:`RunDirError` when a new run cannot be created here: not a folder, or a
        folder holding files but no run (working state such as ``.lock`` is ignored)."""
        if self.path.exists() and not self.path.is_dir():
            raise RunDirError(f"{self.path}: not a folder; pass --out NEW_DIR")
        if self.path.is_dir() and any(p.name not in WORKING_STATE for p in self.path.iterdir()):
            raise RunDirError(
                f"{self.path}: a folder with files but no run in it (no {MANIFEST_FILE}); "
                "pass --out NEW_DIR (an empty or missing folder)"
            )

    def lock(self) -> RunLock:
        """The directory's one-process lock (acquire it, or use it as a context manager)."""
        return RunLock(self.path)

    def move_aside(self) -> Path:
        """Rename the directory to ``<name>.old-N`` (``--force-new``); returns the new path."""
        n = 1
        while self.path.with_name(f"{self.path.name}.old-{n}").exists():
            n += 1
        aside = self.path.with_name(f"{self.path.name}.old-{n}")
        os.replace(self.path, aside)
        return aside

    def create(self, manifest: RunManifest) -> None:
        """Create the directory, ``sessions/`` and the manifest (folders owner-only: the records
        hold every prompt's answer)."""
        private_dir(self.path)
        private_dir(self.sessions_path)
        self.write_manifest(manifest)

    # ---- manifest ---------------------------------------------------------------------------
    def read_manifest(self) -> RunManifest:
        """The manifest.

        Raises:
            RunDirError: missing, invalid or of another format version (names file and field).
        """
        if not self.manifest_path.is_file():
            raise RunDirError(f"{self.manifest_path}: no manifest; not a run directory")
        return _read_versioned(self.manifest_path, RunManifest, SCHEMA_VERSION)

    def write_manifest(self, manifest: RunManifest) -> None:
        """Write the manifest atomically."""
        write_atomic(self.manifest_path, manifest.model_dump_json(indent=2) + "\n")

    # ---- sessions ---------------------------------------------------------------------------
    def write_session(self, trajectory: Trajectory, *, sync_dir: bool = True) -> Path:
        """Write one ended session's record atomically; returns its path. ``sync_dir=False``:
        the caller fsyncs ``sessions/`` once for many records (:meth:`sync_sessions`)."""
        path = self.session_path(trajectory.session_id)
        write_atomic(path, trajectory_json(trajectory), sync_dir=sync_dir)
        return path

    def sync_sessions(self) -> None:
        """fsync ``sessions/`` (after records written with ``sync_dir=False``)."""
        if self.sessions_path.is_dir():
            fsync_dir(self.sessions_path)

    def read_session(self, path: Path) -> Trajectory:
        """Parse one session record.

        Raises:
            RunDirError: of another format version, or damaged (the file and field named).
        """
        traj = _read_versioned(path, Trajectory, SCHEMA_VERSION)
        if traj.session_id != path.stem:
            raise RunDirError(f"{path}: field 'session_id': {traj.session_id!r} does not match the file name")
        return traj

    def session_files(self) -> list[Path]:
        """Every ``sessions/*.json``, sorted by name (hidden files, such as a temporary file left
        by a killed writer, are not records)."""
        if not self.sessions_path.is_dir():
            return []
        return sorted(p for p in self.sessions_path.glob("*.json") if not p.name.startswith("."))

    def iter_sessions(self, problems: list[str] | None = None) -> Iterator[Trajectory]:
        """Every readable session record, in file-name order, one at a time (memory stays flat).

        Unreadable records are logged and, when ``problems`` is given, appended to it; a record
        of a newer or older format raises.
        """
        for path in self.session_files():
            try:
                yield self.read_session(path)
            except RunDirError as exc:
                if "'schema_version'" in str(exc):
                    raise
                logger.warning("%s", exc)
                if problems is not None:
                    problems.append(str(exc))

    def scan(
        self,
        planned: Iterable[str] | None = None,
        *,
        quarantine: bool = True,
        on_record: Callable[[Trajectory], None] | None = None,
    ) -> SessionScan:
        """Read every record; move unreadable ones aside (``<id>.json.corrupt``) so the session
        is redone, and report them.

        Args:
            planned: the session ids of the plan (None: accept any).
            quarantine: rename corrupt records (off for read-only inspection).
            on_record: called with each valid planned record (then dropped).

        Raises:
            RunDirError: a record of another format version (never moved aside).
        """
        scan = SessionScan()
        wanted = None if planned is None else set(planned)
        for path in self.session_files():
            try:
                traj = self.read_session(path)
            except RunDirError as exc:
                if "'schema_version'" in str(exc):
                    raise
                line = f"{exc}; it will be redone"
                logger.warning(line)
                scan.corrupt.append(line)
                if quarantine:
                    os.replace(path, _free_name(path.with_name(path.name + ".corrupt")))
                continue
            if wanted is not None and traj.session_id not in wanted:
                scan.stray.append(traj.session_id)
                continue
            scan.statuses[traj.session_id] = traj.status
            if on_record is not None:
                on_record(traj)
        return scan

    # ---- labels and personas ----------------------------------------------------------------
    def write_labels(
        self,
        videos: Iterable[Video],
        *,
        corpus: Mapping[str, Any] | None = None,
        root: str | Path | None = None,
        keyframes: Mapping[str, Sequence[str | Path]] | None = None,
        primary_values: Mapping[str, str] | None = None,
    ) -> Path:
        """Write ``labels.json``: every video's labels, for scoring.

        Args:
            videos: the videos the run may show.
            corpus: corpus provenance (``Corpus.describe()``), stored alongside.
            root: the corpus folder; relative keyframe paths on the cards resolve against it.
            keyframes: video id -> absolute keyframe paths (e.g. rendered demo media).
            primary_values: video id -> the value the item stands for (the preference
                benchmark's retrieval value), overriding the authored primary value.
        """
        entries: dict[str, VideoLabels] = {}
        for v in videos:
            frames: Sequence[str | Path] = ()
            if keyframes is not None and v.id in keyframes:
                frames = keyframes[v.id]
            elif v.keyframes and root is not None:
                frames = [str((Path(root) / k).resolve()) for k in v.keyframes]
            override = None if primary_values is None else primary_values.get(v.id)
            entries[v.id] = video_labels(v, keyframes=frames, primary_value=override)
        data = LabelsFile(schema_version=SIDE_SCHEMA, corpus=dict(corpus or {}), videos=entries)
        write_atomic(self.labels_path, data.model_dump_json(indent=1) + "\n")
        return self.labels_path

    def read_labels(self) -> dict[str, LabelledVideo]:
        """Video id -> labels from ``labels.json``; empty when the file is absent.

        Raises:
            RunDirError: the file exists but is not valid (names the file, video and field).
        """
        if not self.labels_path.is_file():
            return {}
        data = _read_versioned(self.labels_path, LabelsFile, SIDE_SCHEMA)
        return {vid: LabelledVideo.from_entry(vid, e) for vid, e in data.videos.items()}

    def write_personas(self, personas: Iterable[Persona]) -> Path:
        """Write ``personas.json``: each persona's name and target profile."""
        data = PersonasFile(
            schema_version=SIDE_SCHEMA,
            personas={
                p.id: PersonaEntry(name=p.name, target=p.target.as_dict(), traits=p.traits)
                for p in personas
            },
        )
        write_atomic(self.personas_path, data.model_dump_json(indent=1) + "\n")
        return self.personas_path

    def write_persona_entries(self, entries: Mapping[str, PersonaEntry]) -> Path:
        """Write ``personas.json`` from entries directly (people, who have no traits)."""
        data = PersonasFile(schema_version=SIDE_SCHEMA, personas=dict(entries))
        write_atomic(self.personas_path, data.model_dump_json(indent=1) + "\n")
        return self.personas_path

    def read_personas(self) -> tuple[dict[str, ValueProfile], dict[str, str]]:
        """Persona id -> target, and id -> name, from ``personas.json`` (empty when absent).

        Raises:
            RunDirError: the file exists but is not valid.
        """
        if not self.personas_path.is_file():
            return {}, {}
        data = _read_versioned(self.personas_path, PersonasFile, SIDE_SCHEMA)
        targets = {pid: ValueProfile.from_mapping(e.target) for pid, e in data.personas.items()}
        names = {pid: e.name for pid, e in data.personas.items()}
        return targets, names

    def read_persona_traits(self) -> dict[str, tuple[str, ...]]:
        """Persona id -> traits from ``personas.json`` (empty when absent or not recorded).

        Raises:
            RunDirError: the file exists but is not valid.
        """
        if not self.personas_path.is_file():
            return {}
        data = _read_versioned(self.personas_path, PersonasFile, SIDE_SCHEMA)
        return {pid: e.traits for pid, e in data.personas.items() if e.traits}


# ---- function forms (scripts and tests) ---------------------------------------------------------
def write_labels(run_dir: str | Path, videos: Iterable[Video], **options: Any) -> Path:
    """``RunLog(run_dir).write_labels(videos, **options)``."""
    return RunLog(run_dir).write_labels(videos, **options)


def write_personas(run_dir: str | Path, personas: Iterable[Persona]) -> Path:
    """``RunLog(run_dir).write_personas(personas)``."""
    return RunLog(run_dir).write_personas(personas)


def read_labels(run_dir: str | Path) -> dict[str, LabelledVideo]:
    """``RunLog(run_dir).read_labels()``."""
    return RunLog(run_dir).read_labels()
