"""The run log: the only reader and writer of a run directory (see ``docs/run-format.md``).

It imports only :mod:`value_spectrum.values`, :mod:`value_spectrum.records` and
:mod:`value_spectrum.personas`, so scoring can sit on it without torch, Chroma or a model.

Example:
    >>> from value_spectrum.runlog import RunLog
    >>> # for trajectory in RunLog("runs/sim-1a2b3c4d5e").iter_sessions(): ...
"""

from value_spectrum.runlog.atomic import atomic_open, atomic_path, write_atomic
from value_spectrum.runlog.files import (
    SIDE_SCHEMA,
    LabelledVideo,
    LabelsFile,
    PersonaEntry,
    PersonasFile,
    VideoLabels,
    labelled,
    video_labels,
)
from value_spectrum.runlog.lock import LOCK_FILE, RunInUseError, RunLock
from value_spectrum.runlog.log import (
    CHECKPOINT_DIR,
    CHECKPOINTS_FILE,
    LABELS_FILE,
    MANIFEST_FILE,
    PERSONAS_FILE,
    SESSIONS_DIR,
    RunDirError,
    RunLog,
    SessionScan,
    check_version,
    read_labels,
    trajectory_json,
    write_labels,
    write_personas,
)

__all__ = [
    "CHECKPOINTS_FILE",
    "CHECKPOINT_DIR",
    "LABELS_FILE",
    "LOCK_FILE",
    "MANIFEST_FILE",
    "PERSONAS_FILE",
    "SESSIONS_DIR",
    "SIDE_SCHEMA",
    "LabelledVideo",
    "LabelsFile",
    "PersonaEntry",
    "PersonasFile",
    "RunDirError",
    "RunInUseError",
    "RunLock",
    "RunLog",
    "SessionScan",
    "VideoLabels",
    "atomic_open",
    "atomic_path",
    "check_version",
    "labelled",
    "read_labels",
    "trajectory_json",
    "video_labels",
    "write_atomic",
    "write_labels",
    "write_personas",
]
