"""Reading a run directory for scoring, and the two side files scoring needs from it.

A run directory holds ``manifest.json`` (:class:`~value_spectrum.records.RunManifest`) and
``sessions/<session_id>.json`` (one :class:`~value_spectrum.records.Trajectory` each). Sessions
record only video ids, so scoring also needs the videos' value labels, and the personas' target
profiles (a user's own personas are not in the built-in library). The runner writes both once per
run with :func:`write_labels` and :func:`write_personas`:

* ``labels.json``: ``{"schema_version": 1, "corpus": {...}, "videos": {id: {...}}}`` where each
  video entry holds ``values`` (ten numbers or null), ``primary_value`` (the value the item stands
  for: the authored primary, or the value whose keyword retrieved it in the preference
  benchmark), ``title``, ``platform``, ``topic`` and ``keyframes`` (absolute paths, possibly empty).
* ``personas.json``: ``{"schema_version": 1, "personas": {id: {"name": ..., "target": {...}}}}``.

Everything here imports only :mod:`values`, :mod:`records` and :mod:`personas`, so a report can be
recomputed without torch, Chroma or a model.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from value_spectrum.personas.model import Persona
from value_spectrum.records import RunManifest, Trajectory, Video
from value_spectrum.values import VALUE_IDS, ValueProfile, parse_value

log = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.json"
"""The run manifest."""
SESSIONS_DIR = "sessions"
"""One JSON trajectory per finished session."""
LABELS_FILE = "labels.json"
"""Value labels of every video the run may show."""
PERSONAS_FILE = "personas.json"
"""Target profiles of the personas in the run."""
LABELS_SCHEMA = 1
"""Version of the labels / personas side files."""


class RunDirError(ValueError):
    """A run directory could not be read; the message names the file and the problem."""


@dataclass(frozen=True)
class LabelledVideo:
    """What scoring knows about one video: its labels and what a report may show of it."""

    id: str
    """The video id."""
    values: ValueProfile | None
    """Value labels (relevance in [0, 1]), or None when unlabelled."""
    primary_value: str | None
    """The value the item stands for (authored primary or retrieval value); None if neutral."""
    title: str = ""
    """Title, for example decisions in reports."""
    platform: str = "other"
    """Platform."""
    topic: str = ""
    """Coarse topic."""
    keyframes: tuple[str, ...] = ()
    """Absolute keyframe paths, when known."""


@dataclass(frozen=True)
class RunData:
    """A run directory, read: manifest, sessions, labels, personas, and what could not be read."""

    path: Path
    """The run directory."""
    manifest: RunManifest | None
    """The manifest, or None when missing or unreadable (see ``problems``)."""
    sessions: tuple[Trajectory, ...]
    """Every readable session, sorted by session id."""
    labels: Mapping[str, LabelledVideo]
    """Video id -> labels; empty when the run has no ``labels.json``."""
    targets: Mapping[str, ValueProfile]
    """Persona id -> target profile."""
    persona_names: Mapping[str, str] = field(default_factory=dict)
    """Persona id -> display name."""
    problems: tuple[str, ...] = ()
    """One line per file that could not be read (the rest was still scored)."""


# ---- writing ---------------------------------------------------------------------------------
def _atomic_write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, sort_keys=True, ensure_ascii=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def video_entry(
    video: Video, *, keyframes: Sequence[str | Path] = (), primary_value: str | None = None
) -> dict[str, Any]:
    """The ``labels.json`` entry for one video (``primary_value`` overrides the authored one)."""
    primary = video.primary_value if primary_value is None else parse_value(primary_value).value
    return {
        "values": None if video.values is None else video.values.as_dict(),
        "primary_value": primary,
        "title": video.title,
        "platform": video.platform,
        "topic": video.topic,
        "keyframes": [str(k) for k in keyframes],
    }


def write_labels(
    run_dir: str | Path,
    videos: Iterable[Video],
    *,
    corpus: Mapping[str, Any] | None = None,
    keyframes: Mapping[str, Sequence[str | Path]] | None = None,
    primary_values: Mapping[str, str] | None = None,
) -> Path:
    """Write ``labels.json`` into ``run_dir``: every video's labels, for scoring.

    Args:
        run_dir: The run directory.
        videos: The videos the run may show (a :class:`~value_spectrum.retrieval.corpus.Corpus`
            iterates as videos). Keyframe paths stored on the cards are resolved against the
            corpus's ``root`` when ``videos`` has one.
        corpus: Corpus provenance (``Corpus.describe()``), stored alongside.
        keyframes: Optional video id -> absolute keyframe paths (e.g. rendered demo media).
        primary_values: Optional video id -> the value the item stands for (the preference
            benchmark's retrieval value), overriding the authored primary value.

    Returns:
        The path written.
    """
    root = getattr(videos, "root", None)
    entries: dict[str, Any] = {}
    for v in videos:
        frames: Sequence[str | Path] = ()
        if keyframes is not None and v.id in keyframes:
            frames = keyframes[v.id]
        elif v.keyframes and root is not None:
            frames = [str((Path(root) / k).resolve()) for k in v.keyframes]
        override = None if primary_values is None else primary_values.get(v.id)
        entries[v.id] = video_entry(v, keyframes=frames, primary_value=override)
    path = Path(run_dir) / LABELS_FILE
    _atomic_write_json(
        path, {"schema_version": LABELS_SCHEMA, "corpus": dict(corpus or {}), "videos": entries}
    )
    return path


def write_personas(run_dir: str | Path, personas: Iterable[Persona]) -> Path:
    """Write ``personas.json`` into ``run_dir``: each persona's name and target profile."""
    data = {p.id: {"name": p.name, "target": p.target.as_dict()} for p in personas}
    path = Path(run_dir) / PERSONAS_FILE
    _atomic_write_json(path, {"schema_version": LABELS_SCHEMA, "personas": data})
    return path


def labelled(
    videos: Iterable[Video], *, primary_values: Mapping[str, str] | None = None
) -> dict[str, LabelledVideo]:
    """Video id -> :class:`LabelledVideo`, in memory (what ``labels.json`` would hold, without
    keyframes)."""
    out: dict[str, LabelledVideo] = {}
    for v in videos:
        override = None if primary_values is None else primary_values.get(v.id)
        primary = v.primary_value if override is None else parse_value(override).value
        out[v.id] = LabelledVideo(v.id, v.values, primary, v.title, v.platform, v.topic)
    return out


# ---- reading ---------------------------------------------------------------------------------
def read_labels(run_dir: str | Path) -> dict[str, LabelledVideo]:
    """Read ``labels.json``; an empty mapping when the file is absent.

    Raises:
        RunDirError: the file exists but is not valid (names the file, video and field).
    """
    path = Path(run_dir) / LABELS_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        videos = data["videos"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise RunDirError(f"{path}: not a labels file ({exc})") from None
    out: dict[str, LabelledVideo] = {}
    for vid, entry in videos.items():
        try:
            values = entry.get("values")
            profile = None if values is None else ValueProfile.from_mapping(values)
            primary = entry.get("primary_value")
            out[vid] = LabelledVideo(
                id=vid,
                values=profile,
                primary_value=None if primary is None else parse_value(primary).value,
                title=str(entry.get("title", "")),
                platform=str(entry.get("platform", "other")),
                topic=str(entry.get("topic", "")),
                keyframes=tuple(str(k) for k in entry.get("keyframes", ())),
            )
        except (ValueError, AttributeError, ValidationError) as exc:
            raise RunDirError(f"{path}: video {vid!r}: {exc}".splitlines()[0]) from None
    return out


def read_personas(run_dir: str | Path) -> tuple[dict[str, ValueProfile], dict[str, str]]:
    """Persona id -> target, and id -> name, from ``personas.json`` (empty when absent)."""
    path = Path(run_dir) / PERSONAS_FILE
    if not path.is_file():
        return {}, {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))["personas"]
        targets = {pid: ValueProfile.from_mapping(e["target"]) for pid, e in data.items()}
        names = {pid: str(e.get("name", pid)) for pid, e in data.items()}
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise RunDirError(f"{path}: not a personas file ({exc})".splitlines()[0]) from None
    return targets, names


def _builtin_targets() -> tuple[dict[str, ValueProfile], dict[str, str]]:
    """Targets of the built-in persona library, when it is installed."""
    try:
        from value_spectrum import personas as personas_pkg

        loader = getattr(personas_pkg, "load_builtin_personas", None)
        if loader is None:
            return {}, {}
        found = list(loader())
    except Exception as exc:  # the library is optional for scoring; say why it is unused
        log.warning("built-in personas unavailable for scoring: %s", exc)
        return {}, {}
    return {p.id: p.target for p in found}, {p.id: p.name for p in found}


def injected_profile(traj: Trajectory) -> ValueProfile | None:
    """The profile a reference viewer was given, when its trajectory recorded one."""
    extra = traj.extra
    candidates: list[Any] = [extra.get("injected"), extra.get("injected_profile")]
    for key in ("reference", "viewer", "reference_viewer"):
        sub = extra.get(key)
        if isinstance(sub, Mapping):
            candidates += [sub.get("injected"), sub.get("profile"), sub.get("target")]
    for c in candidates:
        if isinstance(c, Mapping) and set(c) >= set(VALUE_IDS):
            try:
                return ValueProfile.from_mapping(c)
            except ValueError:
                continue
    return None


def read_run(run_dir: str | Path) -> RunData:
    """Read a whole run directory for scoring. Unreadable session files are listed in
    ``problems`` and skipped; everything else is still scored.

    Raises:
        RunDirError: ``run_dir`` is not a directory, or has neither a manifest nor sessions.
    """
    path = Path(run_dir)
    if not path.is_dir():
        raise RunDirError(f"{path}: not a directory")
    problems: list[str] = []
    manifest: RunManifest | None = None
    mpath = path / MANIFEST_FILE
    if mpath.is_file():
        try:
            manifest = RunManifest.model_validate_json(mpath.read_text(encoding="utf-8"))
        except ValidationError as exc:
            problems.append(f"{mpath}: {exc.errors()[0]['msg']}")
    sessions: list[Trajectory] = []
    sdir = path / SESSIONS_DIR
    files = sorted(sdir.glob("*.json")) if sdir.is_dir() else []
    for f in files:
        try:
            sessions.append(Trajectory.model_validate_json(f.read_text(encoding="utf-8")))
        except (ValidationError, OSError, UnicodeDecodeError) as exc:
            first = exc.errors()[0] if isinstance(exc, ValidationError) else None
            where = "" if first is None else f" field {'.'.join(map(str, first['loc']))!r}:"
            msg = first["msg"] if first is not None else str(exc)
            problems.append(f"{f}:{where} {msg}")
    if manifest is None and not files:
        raise RunDirError(
            f"{path}: not a run directory (no {MANIFEST_FILE} and no {SESSIONS_DIR}/*.json)"
        )
    targets, names = _builtin_targets()
    own_targets, own_names = read_personas(path)
    targets.update(own_targets)
    names.update(own_names)
    sessions.sort(key=lambda t: t.session_id)
    return RunData(
        path=path,
        manifest=manifest,
        sessions=tuple(sessions),
        labels=read_labels(path),
        targets=targets,
        persona_names=names,
        problems=tuple(problems),
    )
