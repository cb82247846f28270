"""A run directory, read for scoring: everything comes through the run log
(:mod:`value_spectrum.runlog`), and nothing outside the run directory is consulted: the runner
writes ``labels.json`` and ``personas.json`` when it creates the run.

Everything here imports only :mod:`values`, :mod:`records`, :mod:`personas` and the run log, so a
report can be recomputed without torch, Chroma or a model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from value_spectrum.records import RunManifest, Trajectory
from value_spectrum.runlog import (
    LABELS_FILE,
    PERSONAS_FILE,
    LabelledVideo,
    RunDirError,
    RunLog,
    labelled,
)
from value_spectrum.values import VALUE_IDS, ValueProfile

__all__ = [
    "LABELS_FILE",
    "PERSONAS_FILE",
    "LabelledVideo",
    "RunData",
    "RunDirError",
    "injected_profile",
    "labelled",
    "own_turns",
    "read_run",
]


@dataclass(frozen=True)
class RunData:
    """A run directory, read: manifest, sessions, labels, personas, and what could not be read."""

    path: Path
    """The run directory."""
    manifest: RunManifest | None
    """The manifest, or None when missing or unreadable (see ``problems``)."""
    sessions: tuple[Trajectory, ...]
    """Every readable session, sorted by session id (a fork's without its shared turns:
    :func:`own_turns`)."""
    labels: Mapping[str, LabelledVideo]
    """Video id -> labels; empty when the run has no ``labels.json``."""
    targets: Mapping[str, ValueProfile]
    """Persona id -> target profile (from ``personas.json``)."""
    persona_names: Mapping[str, str] = field(default_factory=dict)
    """Persona id -> display name."""
    problems: tuple[str, ...] = ()
    """One line per file that could not be read (the rest was still scored)."""


def own_turns(traj: Trajectory) -> Trajectory:
    """A fork's session without the turns it shares with its parent (``extra["fork"]["at"]``):
    those decisions were made under the parent's condition and are scored once, in the parent's
    run; any other session unchanged. The record on disk keeps every step."""
    fork = traj.extra.get("fork")
    at = fork.get("at") if isinstance(fork, Mapping) else None
    if not isinstance(at, int) or at <= 0:
        return traj
    steps = traj.steps[at:]
    usage = traj.usage.model_copy(update={
        "prompt_tokens": sum(s.usage.prompt_tokens for s in steps),
        "completion_tokens": sum(s.usage.completion_tokens for s in steps),
        "cost_usd": round(sum(s.usage.cost_usd for s in steps), 10),
        "cached": bool(steps) and all(s.usage.cached for s in steps),
        **{k: sum(getattr(s.usage, k) or 0 for s in steps) for k in ("repairs", "retries")
           if getattr(traj.usage, k) is not None},
    })
    probes = tuple(p for p in traj.probes if p.after_turn > at)
    return traj.model_copy(update={"steps": steps, "probes": probes, "usage": usage})


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
    """Read a whole run directory for scoring. Unreadable session files and a damaged manifest
    are listed in ``problems`` and skipped; everything else is still scored.

    Raises:
        RunDirError: ``run_dir`` is not a run directory, a file is of a format version this
            package does not read, or ``labels.json`` / ``personas.json`` is damaged.
    """
    log = RunLog(run_dir)
    log.require_run()
    problems: list[str] = []
    manifest: RunManifest | None = None
    if log.exists():
        try:
            manifest = log.read_manifest()
        except RunDirError as exc:
            if "'schema_version'" in str(exc):
                raise
            problems.append(str(exc))
    sessions = sorted((own_turns(t) for t in log.iter_sessions(problems)), key=lambda t: t.session_id)
    targets, names = log.read_personas()
    return RunData(
        path=log.path,
        manifest=manifest,
        sessions=tuple(sessions),
        labels=log.read_labels(),
        targets=targets,
        persona_names=names,
        problems=tuple(problems),
    )
