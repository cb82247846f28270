"""Which runs of a comparison are paired, session by session, and their paired-difference rows.

See :mod:`value_spectrum.scoring.paired` for what pairs two runs (a fork and its parent, two
forks of one session, two ``--feed replay`` runs on the same corpus and seed) and the statistics.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from value_spectrum.records import Trajectory
from value_spectrum.scoring.paired import collect_pairs, per_value
from value_spectrum.scoring.rundir import RunData
from value_spectrum.values import VALUE_IDS

Matched = list[tuple[Trajectory, Trajectory, int]]
"""Session pairs ``(a, b, first paired turn)``."""


class PairedRow(BaseModel):
    """The paired difference of two runs on one value (``all``: every value)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_a: str
    """The first run's id (the parent of a fork)."""
    run_b: str
    """The second run's id."""
    design: str
    """``fork`` (a fork and its parent, or two forks of one session) or ``replay`` (the same
    replayed feed)."""
    changed: str
    """What differs between the two sides (``persona: a -> b``)."""
    from_turn: int
    """First paired turn (K of a fork; 0 for replay runs)."""
    value: str
    """``all`` or a value id (the video's primary value)."""
    pairs: int
    """Turns both sides decided on the same video."""
    sessions: int
    """Session pairs they come from."""
    both: int
    """Liked by both."""
    only_a: int
    """Liked by a only."""
    only_b: int
    """Liked by b only."""
    neither: int
    """Skipped by both."""
    rate_a: float | None
    """% liked by a over the pairs."""
    rate_b: float | None
    """% liked by b over the pairs."""
    diff_pp: float | None
    """``rate_b - rate_a`` (percentage points)."""
    low_pp: float | None
    """95% Newcombe (method 10) paired interval, low (pp)."""
    high_pp: float | None
    """95% Newcombe paired interval, high (pp)."""
    cluster_low_pp: float | None = None
    """``all`` only: 95% cluster-robust interval by session (CR1, t on sessions - 1), low (pp),
    from 10 session pairs."""
    cluster_high_pp: float | None = None
    """``all`` only: cluster-robust interval, high (pp)."""
    p_mcnemar: float | None
    """Two-sided exact McNemar p."""
    p_cluster: float | None = None
    """``all`` only: the cluster-robust test's two-sided p (t on sessions - 1), from 10 session
    pairs."""
    p_holm: float | None
    """Holm-adjusted over the values of this run pair (``all``: its own p)."""


def _run_id(run: RunData) -> str:
    return run.manifest.run_id if run.manifest is not None else run.path.name


def _config(run: RunData) -> dict[str, Any]:
    return dict(run.manifest.config) if run.manifest is not None else {}


def _fork(run: RunData) -> dict[str, Any]:
    fork = _config(run).get("fork")
    return fork if isinstance(fork, dict) else {}


def _by_id(run: RunData) -> dict[str, Trajectory]:
    return {t.session_id: t for t in run.sessions}


def match_fork(a: RunData, b: RunData) -> tuple[Matched, str] | None:
    """Sessions of a fork and its parent (or of two forks of one parent session), or None."""
    fa, fb = _fork(a), _fork(b)
    if fb.get("parent_run_id") == _run_id(a):
        sid, first = str(fb["session_id"]), int(fb["at"])
    elif fa.get("parent_run_id") == _run_id(b):
        sid, first = str(fa["session_id"]), int(fa["at"])
    elif fa and fb and (fa.get("parent_run_id"), fa.get("session_id")) == (fb.get("parent_run_id"), fb.get("session_id")):
        sid, first = str(fa["session_id"]), max(int(fa["at"]), int(fb["at"]))
    else:
        return None
    ta, tb = _by_id(a).get(sid), _by_id(b).get(sid)
    if ta is None or tb is None:
        return None
    return [(ta, tb, first)], _changed([ta], [tb])


def _replay_key(t: Trajectory, keep_persona: bool, keep_model: bool) -> tuple[Any, ...]:
    return (t.extra.get("session_index", 0), t.persona_id if keep_persona else "", t.model if keep_model else "")


def match_replay(a: RunData, b: RunData) -> tuple[Matched, str] | None:
    """Sessions of two replay-feed runs on the same corpus and run seed, or None."""
    ca, cb = _config(a), _config(b)
    if ca.get("feed") != "replay" or cb.get("feed") != "replay" or ca.get("seed") != cb.get("seed"):
        return None
    ha = a.manifest.corpus.get("content_hash") if a.manifest is not None else None
    hb = b.manifest.corpus.get("content_hash") if b.manifest is not None else None
    if ha != hb:
        return None
    keep_persona = {t.persona_id for t in a.sessions} == {t.persona_id for t in b.sessions}
    keep_model = {t.model for t in a.sessions} == {t.model for t in b.sessions}
    groups: dict[tuple[Any, ...], tuple[list[Trajectory], list[Trajectory]]] = defaultdict(lambda: ([], []))
    for t in a.sessions:
        groups[_replay_key(t, keep_persona, keep_model)][0].append(t)
    for t in b.sessions:
        groups[_replay_key(t, keep_persona, keep_model)][1].append(t)
    matched: Matched = [(xs[0], ys[0], 0) for _, (xs, ys) in sorted(groups.items(), key=lambda kv: str(kv[0]))
                        if len(xs) == 1 and len(ys) == 1]
    if not matched:
        return None
    return matched, _changed([m[0] for m in matched], [m[1] for m in matched])


def _changed(xs: Sequence[Trajectory], ys: Sequence[Trajectory]) -> str:
    parts = []
    for name in ("model", "persona_id", "strategy", "modality"):
        va = sorted({str(getattr(t, name)) for t in xs})
        vb = sorted({str(getattr(t, name)) for t in ys})
        if va != vb:
            parts.append(f"{name.removesuffix('_id')}: {'+'.join(va)} -> {'+'.join(vb)}")
    return "; ".join(parts) or "nothing (same condition)"


def _pct(x: float) -> float | None:
    return None if not math.isfinite(x) else round(100 * x, 3)


def _p(x: float) -> float | None:
    return None if not math.isfinite(x) else float(x)


def paired_rows(runs: Sequence[RunData]) -> list[PairedRow]:
    """Paired differences for every pair of runs that share sessions turn by turn (b - a, a being
    the earlier run named, or the parent of a fork)."""
    rows: list[PairedRow] = []
    for a, b in itertools.combinations(runs, 2):
        design = "fork"
        found = match_fork(a, b)
        if found is None:
            design, found = "replay", match_replay(a, b)
        if found is None:
            continue
        if design == "fork" and _fork(a).get("parent_run_id") == _run_id(b):
            a, b = b, a  # the parent is side a
            found = match_fork(a, b)
            assert found is not None
        matched, changed = found
        labels = {**a.labels, **b.labels}
        primary = {v: lab.primary_value for v, lab in labels.items()}
        pairs = collect_pairs(matched, primary)
        if len(pairs.a) == 0:
            continue
        first = matched[0][2]
        for value, s, q in per_value(pairs, VALUE_IDS):
            rows.append(PairedRow(
                run_a=_run_id(a), run_b=_run_id(b), design=design, changed=changed, from_turn=first,
                value=value, pairs=s.pairs, sessions=s.sessions, both=s.both, only_a=s.only_a,
                only_b=s.only_b, neither=s.neither, rate_a=_pct(s.rate_a), rate_b=_pct(s.rate_b),
                diff_pp=_pct(s.diff), low_pp=_pct(s.low), high_pp=_pct(s.high),
                cluster_low_pp=_pct(s.cluster_low) if value == "all" else None,
                cluster_high_pp=_pct(s.cluster_high) if value == "all" else None,
                p_mcnemar=_p(s.p), p_holm=_p(q), p_cluster=_p(s.cluster_p) if value == "all" else None,
            ))
    return rows


__all__ = ["Matched", "PairedRow", "match_fork", "match_replay", "paired_rows"]
