"""Fork a recorded session at turn K: the same session continued from its state at turn K under
one changed condition (another model, persona or prompt strategy).

The fork is a plan of its own (``Plan(kind="fork")``) run by the one runner into a new, normal
run directory. Its only session keeps the parent session's id, seed and feed seed, and its graph
thread starts from the parent's state at turn K, so:

* steps ``0..K-1`` of the fork's record are the parent's records, unchanged (the same JSON);
* from turn K on, the feed's per-turn RNG (a pure function of (session seed, turn)) and every
  seeded draw are those the parent would have made, and only the changed condition differs.

Where the state at turn K comes from. The runner deletes a session's checkpoint thread once its
record is written (the record is the durable artefact; a thread may also live in a PostgreSQL
store or a Ray worker's file), so a finished parent has no checkpoint history to travel back in.
The state at turn K is therefore rebuilt from the parent's record: the session graph's state is a
pure function of the steps (and probes) recorded so far (``graphs.session``: the seen and liked
videos are read off the steps, the turn counter is the number of steps, the error run is the
trailing ``error`` steps). ``tests/test_fork.py`` checks that the rebuilt state equals the
checkpoint LangGraph itself saved at turn K (``get_state_history`` of a session whose thread was
kept). The one part of the state the record does not hold is the search tool's hits (the record
keeps the queries): a search-fed session that searched before turn K is refused.

The fork's own thread is an ordinary LangGraph thread rooted at turn K: a fork that is
interrupted resumes from its last checkpoint like any run. It keeps the session id, but its run
directory has a thread namespace of its own (the manifest's ``thread_ns``), so the fork may keep
its checkpoints in any store, its parent's included, without touching the parent's threads.

Example:
    >>> # plan, services = fork_plan("runs/a", session="carer--reference--000", at=10,
    >>> #                            model="openai/gpt-4o-mini", out="runs/a-fork")
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from value_spectrum.records import Outcome, Trajectory
from value_spectrum.runlog import RunDirError, RunLog
from value_spectrum.runner.config import RUNTIME_FIELDS, RunConfig
from value_spectrum.runner.plan import PLAIN_PERSONA, ForkOrigin, Plan
from value_spectrum.runner.services import Services, ViewerFactory

logger = logging.getLogger(__name__)

CONDITIONS = ("model", "persona", "strategy")
"""What a fork may change (one at a time)."""

_NOTE_TURN = re.compile(r"after turn (\d+)")


class ForkError(ValueError):
    """A fork that cannot be made (unknown session, K out of range, nothing changed, ...); the
    message is one line naming the option and the value."""


def prefix_digest(trajectory: Trajectory, at: int) -> str:
    """SHA-256 of the first ``at`` steps' JSON (the shared part of a fork)."""
    data = [s.model_dump(mode="json") for s in trajectory.steps[:at]]
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def state_at(trajectory: Trajectory, at: int) -> dict[str, Any]:
    """The session graph's state after ``at`` turns of ``trajectory``, rebuilt from its record.

    Probes asked after turn ``at`` or earlier belong to the shared part (the probe after turn K
    runs before turn K's decision); so do the notes of failed probes up to that turn.

    Raises:
        ForkError: ``at`` is not in 0..len(steps)-1.
    """
    n = len(trajectory.steps)
    if not 0 <= at < n:
        raise ForkError(
            f"--at {at}: session {trajectory.session_id!r} has {n} steps; give a turn from 0 to {n - 1}"
            if n else f"session {trajectory.session_id!r} has no steps to fork")
    steps = [s.model_dump(mode="json") for s in trajectory.steps[:at]]
    errors = 0
    for s in reversed(trajectory.steps[:at]):
        if s.outcome is not Outcome.ERROR:
            break
        errors += 1
    notes = [str(x) for x in trajectory.extra.get("notes", []) if _note_turn(str(x)) <= at]
    return {
        "turn": at,
        "steps": steps,
        "probes": [p.model_dump(mode="json") for p in trajectory.probes if p.after_turn <= at],
        "search_queue": [],
        "notes": notes,
        "errors_in_row": errors,
        "done": False,
        "status": "finished",
        "error": "",
    }


def _note_turn(note: str) -> int:
    m = _NOTE_TURN.search(note)
    return int(m.group(1)) if m else 0


def _parent_session(log: RunLog, session: str) -> Trajectory:
    found: Trajectory | None = None
    ids: list[str] = []
    for t in log.iter_sessions():
        ids.append(t.session_id)
        if t.session_id == session:
            found = t
    if found is None:
        known = ", ".join(sorted(ids)[:5]) + (", ..." if len(ids) > 5 else "")
        raise ForkError(f"--session: no session {session!r} in {log.path} (it has {len(ids)}: {known or 'none'})")
    return found


def _changes(parent: Trajectory, model: str | None, persona: str | None,
             strategy: str | None) -> dict[str, str]:
    given = {k: v for k, v in (("model", model), ("persona", persona), ("strategy", strategy)) if v is not None}
    if not given:
        raise ForkError("nothing changed: give one of --model, --persona or --strategy")
    if len(given) > 1:
        raise ForkError(f"a fork changes one condition; got {', '.join('--' + k for k in given)}")
    (what, new), = given.items()
    if not new.strip():
        raise ForkError(f"--{what}: give a non-empty value")
    old = {"model": parent.model, "persona": parent.persona_id, "strategy": parent.strategy}[what]
    same_file = what == "persona" and Path(new).stem == old and not Path(new).is_file()
    if new == old or same_file:
        raise ForkError(f"nothing changed: session {parent.session_id!r} already has {what} {old!r}; give another {what}")
    if "plain" in (parent.strategy, new) and what == "strategy":
        raise ForkError(f"--strategy {new!r}: the plain strategy plays no persona; a fork from or to "
                        "plain would change the persona too")
    if what == "persona" and parent.strategy == "plain":
        raise ForkError("--persona: the parent session uses the plain strategy, which shows no persona")
    return {what: new}


def fork_plan(
    run: str | Path,
    *,
    session: str,
    at: int,
    model: str | None = None,
    persona: str | None = None,
    strategy: str | None = None,
    out: str | Path | None = None,
    api_base: str | None = None,
    checkpoints: str | None = None,
    viewer_factory: ViewerFactory | None = None,
) -> tuple[Plan, Services]:
    """The plan (and services) of a fork of ``session`` of ``run`` at turn ``at``.

    Args:
        run: the parent run directory.
        session: the session id to fork.
        at: K, the turns shared with the parent (0..steps-1).
        model, persona, strategy: the one changed condition.
        out: the fork's run directory (default ``runs/<fork-...>``).
        api_base: OpenAI-compatible endpoint of the fork's model (default: the parent's).
        checkpoints: the fork's checkpoint store (default: its run directory's SQLite file).
        viewer_factory: your own viewer per session, as in ``simulate``.

    Raises:
        ForkError: an unknown session, K out of range, nothing (or more than one thing) changed,
            a preference run, a search-fed session that searched before K.
        RunDirError: ``run`` is not a run directory.
    """
    log = RunLog(run)
    log.require_run()
    manifest = log.read_manifest()
    stored = dict(manifest.config)
    if stored.get("plan") == "preference":
        raise ForkError(f"{log.path}: a preference run asks fixed items, not a feed; fork a simulate or probe run")
    parent = _parent_session(log, session)
    fields = {k: v for k, v in stored.items() if k in RunConfig.model_fields and k not in RUNTIME_FIELDS}
    base = RunConfig(**fields)
    change = _changes(parent, model, persona, strategy)
    start = state_at(parent, at)
    if base.feed == "search" and any(s.searches for s in parent.steps[:at]):
        first = next(s.turn for s in parent.steps[:at] if s.searches)
        raise ForkError(
            f"--at {at}: session {session!r} searched at turn {first} and its record keeps the queries, not "
            f"the hits its search feed then showed; fork at turn {first} or earlier")
    update: dict[str, Any] = {
        "out": None if out is None else Path(out), "concurrency": 1, "executor": "local",
        "checkpoints": checkpoints, "api_base": api_base if api_base is not None else stored.get("api_base"),
    }
    if "model" in change:
        update["models"] = (change["model"],)
    else:
        update["models"] = (parent.model,)
    if "persona" in change:
        update["personas"] = (change["persona"],)
    if "strategy" in change:
        update["strategy"] = change["strategy"]
    config = RunConfig(**{**base.model_dump(), **update})
    services = Services(config, viewer_factory=viewer_factory)
    corpus_hash = services.corpus.describe().get("content_hash")
    if manifest.corpus.get("content_hash") not in (None, corpus_hash):
        raise ForkError(f"{log.path}: the corpus {config.corpus or 'demo'!r} changed since the parent ran "
                        "(its content hash differs); the fork would not see the same videos")
    if "persona" in change:
        persona_id = services.persona_ids[0]
        if persona_id == parent.persona_id:
            raise ForkError(f"nothing changed: session {session!r} already plays persona {persona_id!r}; give another persona")
    else:
        persona_id = parent.persona_id
        if persona_id != PLAIN_PERSONA and persona_id not in services.persona_ids:
            raise ForkError(f"{log.path}: persona {persona_id!r} of session {session!r} is no longer found "
                            f"from the parent's personas {list(base.personas)!r}")
    old = {"model": parent.model, "persona": parent.persona_id, "strategy": parent.strategy}
    what = next(iter(change))
    origin = ForkOrigin(
        parent_run=str(run), parent_run_id=manifest.run_id, session_id=session, at=at,
        changed={what: (old[what], persona_id if what == "persona" else change[what])},
        persona_id=persona_id, model=config.models[0], index=int(parent.extra.get("session_index", 0)),
        seed=parent.seed, feed_seed=_feed_seed(stored, parent), prefix_sha256=prefix_digest(parent, at),
    )
    kind_instrument = services.instrument_identity() if config.probe_every > 0 else {}
    plan = Plan(config=config, kind="fork", fork=origin, start=start, instrument=kind_instrument)
    logger.info("fork of %s at turn %d: %s %r -> %r", session, at, what, *origin.changed[what])
    return plan, services


def _feed_seed(stored: Mapping[str, Any], parent: Trajectory) -> int:
    """The parent session's replay-feed seed, as its plan derived it."""
    from value_spectrum.graphs.feeds import derive_seed

    return derive_seed("replay", int(stored.get("seed", 0)), int(parent.extra.get("session_index", 0)))


__all__ = ["CONDITIONS", "ForkError", "RunDirError", "fork_plan", "prefix_digest", "state_at"]
