"""Human baselines: like/skip logs from people, stored as a run that reports and ``compare`` read
like any model's.

A log is CSV (a header row) or JSONL (one object per line), one row per decision:

========== ======== ===================================================================
field      required meaning
========== ======== ===================================================================
participant yes     who decided (any text; made into a persona id, lower-case)
video_id   yes      a video of the corpus (``video`` also accepted)
decision   yes      ``like`` or ``skip`` (also ``yes``/``no``, ``1``/``0``, ``true``/``false``)
dwell_s    no       seconds watched (``dwell`` also accepted), a number >= 0
turn       no       the order within the participant's feed (default: the file's order)
profile    no       the participant's stated value profile: a JSON object value -> [0, 1]
                    (in CSV a JSON text, or ten columns ``stated_<value>``); one per participant
========== ======== ===================================================================

Every row is checked against the corpus; each bad row is one line naming the file, the row, the
field and the value. Each participant becomes one session (model ``human``, strategy ``human``,
feed ``human-log``) written through the run log, with the corpus's labels, so
``value-spectrum report RUN`` gives the people's revealed profiles (and their alignment with a
stated profile), and ``compare RUN MODEL_RUN...`` puts them beside the models.

Example:
    >>> import tempfile, pathlib
    >>> from value_spectrum.retrieval.demo import load_demo_corpus
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> vid = load_demo_corpus().ids[0]
    >>> _ = (d / "log.csv").write_text(f"participant,video_id,decision\\nP1,{vid},like\\n")
    >>> log = read_human_log(d / "log.csv", load_demo_corpus())
    >>> (len(log.rows), log.errors)
    (1, ())
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from value_spectrum.records import Decision, Outcome, RunManifest, Step, Trajectory
from value_spectrum.retrieval.corpus import Corpus
from value_spectrum.runlog import PersonaEntry, RunDirError, RunLog
from value_spectrum.values import VALUE_IDS, ValueProfile

HUMAN = "human"
"""The model string of human sessions."""
FEED = "human-log"
"""The feed recorded in human sessions."""
DECISIONS = {"like": "like", "yes": "like", "1": "like", "true": "like",
             "skip": "skip", "no": "skip", "0": "skip", "false": "skip"}
"""Accepted decision words (lower-cased) -> the decision."""
ALIASES = {"video": "video_id", "dwell": "dwell_s", "participant_id": "participant"}
"""Other column names accepted for a field."""
MAX_ERRORS_SHOWN = 50
"""Bad rows named one by one; past this many the rest are counted."""


class HumanLogError(ValueError):
    """A log that cannot be imported; the message names the file, the row and the field."""


@dataclass(frozen=True)
class HumanRow:
    """One valid decision of a log."""

    row: int
    """Row number in the file (the header is row 1 in CSV; line numbers in JSONL)."""
    participant: str
    """As written in the file."""
    video_id: str
    """A corpus video."""
    action: str
    """like | skip."""
    dwell_s: float | None
    """Seconds watched, when given."""
    turn: int | None
    """The order given, when given."""
    profile: dict[str, float] | None
    """The stated profile on this row, when given."""


@dataclass(frozen=True)
class HumanLog:
    """A parsed log: the valid rows and one line per bad row."""

    path: Path
    """The file."""
    rows: tuple[HumanRow, ...]
    """Valid rows, in file order."""
    errors: tuple[str, ...]
    """``FILE:ROW: field 'f': value 'v' ...`` per bad row (or per participant problem)."""
    sha256: str
    """Digest of the file's bytes (the run's identity)."""


def participant_id(name: str) -> str:
    """A persona id for a participant: lower-case letters, digits, ``_`` and ``-``.

    Example:
        >>> participant_id("Participant 7")
        'participant-7'
    """
    slug = re.sub(r"[^a-z0-9_\-]+", "-", name.strip().lower()).strip("-_")
    return slug or "participant"


def _records(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(row number, fields) per row; a string instead of fields is that row's error."""
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                yield n, f"not a JSON object ({exc.msg})"
                continue
            yield n, obj if isinstance(obj, dict) else f"not a JSON object (got {type(obj).__name__})"
        return
    reader = csv.DictReader(text.splitlines())
    for n, row in enumerate(reader, start=2):
        if None in row:
            yield n, f"more cells than the header has columns ({len(row) - 1 + len(row[None])})"
            continue
        yield n, {k.strip(): v for k, v in row.items() if k is not None}


def _profile(fields: Mapping[str, Any]) -> tuple[dict[str, float] | None, str]:
    """The stated profile of a row (None when none), or an error."""
    stated = {k.removeprefix("stated_"): v for k, v in fields.items()
              if k.startswith("stated_") and v not in (None, "")}
    raw = fields.get("profile")
    if raw not in (None, ""):
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except json.JSONDecodeError:
                return None, f"field 'profile': value {raw[:80]!r} is not a JSON object"
        if not isinstance(raw, dict):
            return None, f"field 'profile': value {str(raw)[:80]!r} is not an object of value -> score"
        stated |= raw
    if not stated:
        return None, ""
    unknown = sorted(set(stated) - set(VALUE_IDS))
    if unknown:
        return None, f"field 'profile': value {unknown[0]!r} is not one of the ten values {list(VALUE_IDS)}"
    out: dict[str, float] = {}
    for k, v in stated.items():
        try:
            x = float(v)
        except (TypeError, ValueError):
            return None, f"field 'profile.{k}': value {v!r} is not a number"
        if not (math.isfinite(x) and 0.0 <= x <= 1.0):
            return None, f"field 'profile.{k}': value {v!r} is not in [0, 1]"
        out[k] = x
    missing = [v for v in VALUE_IDS if v not in out]
    if missing:
        return None, f"field 'profile': value {missing[0]!r} is missing (a stated profile gives all ten values)"
    return out, ""


def _row(n: int, fields: Mapping[str, Any], corpus: Corpus) -> HumanRow | str:
    """One row validated, or its error (without the file name)."""
    f = {ALIASES.get(str(k).strip().lower(), str(k).strip().lower()): v for k, v in fields.items()}
    who = str(f.get("participant") or "").strip()
    if not who:
        return f"field 'participant': value {f.get('participant')!r} is empty"
    vid = str(f.get("video_id") or "").strip()
    if not vid:
        return f"field 'video_id': value {f.get('video_id')!r} is empty"
    if vid not in corpus.ids:
        return f"field 'video_id': value {vid!r} is not a video of corpus {corpus.name!r}"
    word = str(f.get("decision") if f.get("decision") is not None else "").strip().lower()
    action = DECISIONS.get(word)
    if action is None:
        return f"field 'decision': value {f.get('decision')!r} is not like or skip"
    dwell: float | None = None
    if f.get("dwell_s") not in (None, ""):
        try:
            dwell = float(f["dwell_s"])
        except (TypeError, ValueError):
            return f"field 'dwell_s': value {f['dwell_s']!r} is not a number of seconds"
        if not (math.isfinite(dwell) and dwell >= 0):
            return f"field 'dwell_s': value {f['dwell_s']!r} is not a number of seconds >= 0"
    turn: int | None = None
    if f.get("turn") not in (None, ""):
        try:
            turn = int(str(f["turn"]).strip())
        except ValueError:
            return f"field 'turn': value {f['turn']!r} is not a whole number"
        if turn < 0:
            return f"field 'turn': value {f['turn']!r} is negative"
    profile, problem = _profile(f)
    if problem:
        return problem
    return HumanRow(row=n, participant=who, video_id=vid, action=action, dwell_s=dwell, turn=turn, profile=profile)


def read_human_log(path: str | Path, corpus: Corpus) -> HumanLog:
    """Parse and check a log against ``corpus``; bad rows become :attr:`HumanLog.errors`.

    Raises:
        HumanLogError: the file cannot be read, or it has no header with the required fields.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise HumanLogError(f"{p}: cannot read it ({exc.strerror or exc})") from None
    if p.suffix.lower() not in (".jsonl", ".ndjson", ".json"):
        header = next(csv.reader(data.decode("utf-8-sig", errors="replace").splitlines()[:1]), [])
        names = {ALIASES.get(h.strip().lower(), h.strip().lower()) for h in header}
        need = [k for k in ("participant", "video_id", "decision") if k not in names]
        if need:
            raise HumanLogError(f"{p}: row 1: field {need[0]!r} is missing from the header {header!r} "
                                "(need participant, video_id, decision)")
    rows: list[HumanRow] = []
    errors: list[str] = []
    try:
        for n, fields in _records(p):
            got = fields if isinstance(fields, str) else _row(n, fields, corpus)
            if isinstance(got, str):
                errors.append(f"{p}:{n}: {got}")
            else:
                rows.append(got)
    except UnicodeDecodeError as exc:
        raise HumanLogError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    problems = _participant_problems(p, rows)
    errors += problems.values()
    return HumanLog(path=p, rows=tuple(r for r in rows if r.row not in problems), errors=tuple(errors),
                    sha256=hashlib.sha256(data).hexdigest())


def _participant_problems(path: Path, rows: list[HumanRow]) -> dict[int, str]:
    """Row -> error for rows that contradict their participant's other rows: a second stated
    profile that differs, a video decided twice, a turn given twice; two names made one id."""
    problems: dict[int, str] = {}
    first_profile: dict[str, dict[str, float]] = {}
    seen: dict[tuple[str, str], int] = {}
    turns: dict[tuple[str, int], int] = {}
    names: dict[str, str] = {}
    for r in rows:
        pid = participant_id(r.participant)
        if names.setdefault(pid, r.participant) != r.participant:
            problems[r.row] = (f"{path}:{r.row}: field 'participant': value {r.participant!r} has the same id "
                            f"{pid!r} as {names[pid]!r}; rename one")
            continue
        if r.profile is not None and first_profile.setdefault(pid, r.profile) != r.profile:
            problems[r.row] = (f"{path}:{r.row}: field 'profile': value differs from the profile stated "
                               f"earlier for participant {r.participant!r}")
            continue
        if (pid, r.video_id) in seen:
            problems[r.row] = (f"{path}:{r.row}: field 'video_id': value {r.video_id!r} was decided by "
                            f"{r.participant!r} already (row {seen[(pid, r.video_id)]})")
            continue
        seen[(pid, r.video_id)] = r.row
        if r.turn is not None:
            if (pid, r.turn) in turns:
                problems[r.row] = (f"{path}:{r.row}: field 'turn': value {r.turn!r} was given for {r.participant!r} "
                                f"already (row {turns[(pid, r.turn)]})")
                continue
            turns[(pid, r.turn)] = r.row
    return problems


def human_trajectories(log: HumanLog) -> tuple[tuple[Trajectory, ...], dict[str, PersonaEntry]]:
    """One session per participant (turns in the order given, else the file's), and the stated
    profiles as persona entries (participants without one have no target)."""
    by: dict[str, list[HumanRow]] = {}
    for r in log.rows:
        by.setdefault(participant_id(r.participant), []).append(r)
    sessions: list[Trajectory] = []
    personas: dict[str, PersonaEntry] = {}
    for pid, rows in by.items():
        ordered = sorted(rows, key=lambda r: (r.turn if r.turn is not None else math.inf, r.row))
        steps = tuple(
            Step(turn=t, video_id=r.video_id, outcome=Outcome(r.action),
                 decision=Decision(action="like" if r.action == "like" else "skip", dwell_s=r.dwell_s),
                 raw=f"{log.path.name}:{r.row}")
            for t, r in enumerate(ordered)
        )
        sessions.append(Trajectory(
            session_id=f"{pid}--{HUMAN}--000", persona_id=pid, model=HUMAN, strategy=HUMAN, feed=FEED,
            steps=steps, extra={"participant": rows[0].participant, "source": log.path.name},
        ))
        stated = next((r.profile for r in rows if r.profile is not None), None)
        if stated is not None:
            personas[pid] = PersonaEntry(name=rows[0].participant, target=ValueProfile.from_mapping(stated).as_dict())
    return tuple(sessions), personas


def import_human_log(
    path: str | Path, corpus: Corpus, out: str | Path, *, skip_bad: bool = False, force_new: bool = False
) -> tuple[RunLog, HumanLog]:
    """Read a log, check it against ``corpus`` and store it as a run in ``out``.

    Args:
        path: the CSV or JSONL log.
        corpus: the corpus the people saw.
        out: the new run directory.
        skip_bad: import the valid rows when some are bad (default: import nothing).
        force_new: move a run already in ``out`` aside first.

    Raises:
        HumanLogError: unreadable file, bad rows (without ``skip_bad``), or no valid row.
        RunDirError: ``out`` holds something else.
    """
    log = read_human_log(path, corpus)
    if log.errors and not skip_bad:
        raise HumanLogError(f"{log.path}: {len(log.errors)} bad rows; nothing imported (fix them, or pass "
                            "--skip-bad to import the others)")
    if not log.rows:
        raise HumanLogError(f"{log.path}: no valid decision to import")
    sessions, personas = human_trajectories(log)
    run = RunLog(out)
    if run.exists() and force_new:
        run.move_aside()
    if run.exists():
        raise RunDirError(f"{run.path}: already exists; pass another --out or --force-new")
    run.check_can_create()
    corpus_info = corpus.describe()
    run.create(RunManifest(
        run_id=run.path.name,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        config={"plan": "humans", "source": str(log.path), "source_sha256": log.sha256,
                "rows": len(log.rows), "rows_skipped": len(log.errors), "corpus": corpus.name},
        models=(HUMAN,),
        personas=tuple(t.persona_id for t in sessions),
        corpus=dict(corpus_info),
        prompt_strategy=HUMAN,
    ))
    run.write_labels(corpus, corpus=corpus_info, root=corpus.root,
                     keyframes={v.id: corpus.keyframe_locations(v) for v in corpus})
    run.write_persona_entries(personas)
    for t in sessions:
        run.write_session(t)
    return run, log
