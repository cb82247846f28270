"""Revealed value profiles: what a viewer's likes and skips say it values.

Two scores, both from like/skip decisions only (unparseable, refused and error turns are
counted apart and never scored as skips):

* **like rate per value** (the paper's score): the percentage of likes among the decisions on
  videos whose primary value is that value;
* **value decomposition**: an L2-regularised logistic regression of like (1) / skip (0) on the
  video's ten value labels; the ten weights, MRAT-centred (each minus their mean), are the revealed
  profile. Bootstrap confidence intervals resample whole sessions.

A set of decisions that cannot be scored (too few, or no variance) gives ``profile=None`` with a
``reason``, never zeros.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from value_spectrum.records import Outcome, Trajectory
from value_spectrum.scoring.rundir import LabelledVideo
from value_spectrum.scoring.stats import DEFAULT_L2, Interval, cluster_bootstrap, fit_logistic
from value_spectrum.values import VALUE_IDS, ValueProfile, mrat_centre, spearman

MIN_DECISIONS = 10
"""Fewest labelled like/skip decisions a profile is fitted on."""
DEFAULT_CIRCLE_PRIOR = 1.0
"""Strength of the value-circle smoothness prior (see :func:`circle_penalty`)."""


@dataclass(frozen=True)
class DecisionTable:
    """Labelled like/skip decisions of one or more sessions, as arrays."""

    x: np.ndarray
    """Shape ``(n, 10)``: the video's value labels, circle order."""
    y: np.ndarray
    """Shape ``(n,)``: 1 for like, 0 for skip."""
    primary: tuple[str | None, ...]
    """The video's primary value per decision (None: near-neutral)."""
    session: np.ndarray
    """Index into ``session_ids`` per decision."""
    turn: np.ndarray
    """The turn of each decision."""
    session_ids: tuple[str, ...]
    """Sessions in the table, in input order."""
    unlabelled: int = 0
    """Like/skip decisions on videos without labels (not in the arrays)."""
    outcomes: dict[str, int] = field(default_factory=dict)
    """Outcome -> count over every step of the sessions (all outcomes present)."""

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def subset(self, idx: np.ndarray) -> DecisionTable:
        """The decisions at positions ``idx`` (may repeat, for the bootstrap)."""
        return DecisionTable(
            x=self.x[idx],
            y=self.y[idx],
            primary=tuple(self.primary[i] for i in idx),
            session=self.session[idx],
            turn=self.turn[idx],
            session_ids=self.session_ids,
            unlabelled=0,
            outcomes={},
        )

    def clusters(self) -> list[np.ndarray]:
        """Decision indices per session (sessions without decisions omitted)."""
        return [
            np.flatnonzero(self.session == i)
            for i in range(len(self.session_ids))
            if np.any(self.session == i)
        ]


def decision_table(
    trajectories: Sequence[Trajectory], labels: Mapping[str, LabelledVideo]
) -> DecisionTable:
    """Collect the labelled like/skip decisions of ``trajectories``."""
    xs: list[np.ndarray] = []
    ys: list[int] = []
    prim: list[str | None] = []
    sess: list[int] = []
    turns: list[int] = []
    unlabelled = 0
    counts = {o.value: 0 for o in Outcome}
    for si, traj in enumerate(trajectories):
        for step in traj.steps:
            counts[step.outcome.value] += 1
            if step.outcome not in (Outcome.LIKE, Outcome.SKIP):
                continue
            lab = labels.get(step.video_id)
            if lab is None or lab.values is None:
                unlabelled += 1
                continue
            xs.append(lab.values.as_array())
            ys.append(1 if step.outcome is Outcome.LIKE else 0)
            prim.append(lab.primary_value)
            sess.append(si)
            turns.append(step.turn)
    return DecisionTable(
        x=np.vstack(xs) if xs else np.zeros((0, len(VALUE_IDS))),
        y=np.array(ys, dtype=np.float64),
        primary=tuple(prim),
        session=np.array(sess, dtype=int),
        turn=np.array(turns, dtype=int),
        session_ids=tuple(t.session_id for t in trajectories),
        unlabelled=unlabelled,
        outcomes=counts,
    )


def cannot_score_reason(n: int, likes: int, *, min_decisions: int = MIN_DECISIONS) -> str:
    """Why ``n`` decisions with ``likes`` likes cannot be scored, or '' when they can."""
    if n < min_decisions:
        return f"too few decisions ({n} < {min_decisions})"
    if likes == n:
        return f"no variance: all {n} decisions are likes"
    if likes == 0:
        return f"no variance: all {n} decisions are skips"
    return ""


def circle_penalty(
    l2: float = DEFAULT_L2, circle_prior: float = DEFAULT_CIRCLE_PRIOR
) -> np.ndarray:
    """The decomposition's penalty matrix ``l2 * I + circle_prior * L``.

    ``L`` is the Laplacian of the value circle (each value linked to its two neighbours, in
    circle order), so ``w' L w`` is the sum of squared differences between neighbouring
    weights: Schwartz's motivational continuum, where adjacent values share motivations. A
    weak prior (the default) shrinks noise between neighbours at small samples and washes out
    as decisions accumulate; set ``circle_prior=0`` for plain ridge (e.g. before testing
    whether a profile respects the circle).
    """
    k = len(VALUE_IDS)
    lap = np.zeros((k, k))
    for i in range(k):
        j = (i + 1) % k
        lap[i, i] += 1.0
        lap[j, j] += 1.0
        lap[i, j] -= 1.0
        lap[j, i] -= 1.0
    return float(l2) * np.eye(k) + float(circle_prior) * lap


def decompose(
    table: DecisionTable,
    *,
    l2: float = DEFAULT_L2,
    circle_prior: float = DEFAULT_CIRCLE_PRIOR,
    min_decisions: int = MIN_DECISIONS,
) -> tuple[np.ndarray | None, str]:
    """MRAT-centred logistic weights of like on the ten labels, or (None, reason)."""
    n, likes = len(table), int(table.y.sum())
    reason = cannot_score_reason(n, likes, min_decisions=min_decisions)
    if reason:
        return None, reason
    fit = fit_logistic(table.x, table.y, penalty=circle_penalty(l2, circle_prior))
    return mrat_centre(fit.weights), ""


def like_rates(table: DecisionTable) -> dict[str, tuple[int, int]]:
    """Value id -> (likes, decisions) over decisions on videos with that primary value."""
    out = {v: (0, 0) for v in VALUE_IDS}
    for p, y in zip(table.primary, table.y, strict=True):
        if p is None:
            continue
        likes, n = out[p]
        out[p] = (likes + int(y), n + 1)
    return out


@dataclass(frozen=True)
class Revealed:
    """The revealed profile of a set of decisions."""

    profile: ValueProfile | None
    """MRAT-centred decomposition weights (logit units), or None when it cannot be scored."""
    reason: str
    """Why it cannot be scored ('' when it can)."""
    n_decisions: int
    """Labelled like/skip decisions used."""
    n_likes: int
    """Likes among them."""
    like_counts: dict[str, tuple[int, int]]
    """Value id -> (likes, decisions) by primary value."""
    ci: Interval | None = None
    """Bootstrap interval per value of the centred weights, when computed."""
    alignment_ci: tuple[float, float] | None = None
    """Bootstrap interval of the Spearman correlation with the target, when computed."""

    @property
    def like_rate(self) -> dict[str, float | None]:
        """Value id -> percentage of likes (None when no decision had that primary value)."""
        return {v: (100.0 * k / n if n else None) for v, (k, n) in self.like_counts.items()}

    @property
    def overall_like_rate(self) -> float | None:
        """Percentage of likes over all decisions."""
        return 100.0 * self.n_likes / self.n_decisions if self.n_decisions else None


def revealed_profile(
    table: DecisionTable,
    *,
    l2: float = DEFAULT_L2,
    circle_prior: float = DEFAULT_CIRCLE_PRIOR,
    min_decisions: int = MIN_DECISIONS,
    n_boot: int = 0,
    seed: int = 0,
    target: ValueProfile | None = None,
) -> Revealed:
    """Score one table: like rates, the decomposition and (``n_boot`` > 0) its bootstrap CI.

    The CI resamples whole sessions when the table holds two or more, else single decisions
    (recorded as the interval's ``unit``). With a ``target``, the same resamples also give an
    interval for the Spearman correlation between the revealed profile and the target.
    """
    weights, reason = decompose(
        table, l2=l2, circle_prior=circle_prior, min_decisions=min_decisions
    )
    ci = None
    alignment_ci = None
    t_arr = None if target is None else target.as_array()
    if weights is not None and n_boot > 0:
        clusters = table.clusters()
        unit = "sessions"
        if len(clusters) < 2:
            clusters = [np.array([i]) for i in range(len(table))]
            unit = "decisions"

        def stat(idx: np.ndarray) -> np.ndarray | None:
            w, _ = decompose(
                table.subset(idx), l2=l2, circle_prior=circle_prior, min_decisions=min_decisions
            )
            if w is None or t_arr is None:
                return w
            return np.append(w, spearman(w, t_arr))

        full = cluster_bootstrap(clusters, stat, n_boot=n_boot, seed=seed, unit=unit)
        k = len(VALUE_IDS)
        ci = Interval(full.low[:k], full.high[:k], full.n_ok, full.unit)
        if t_arr is not None and full.low.shape[0] > k:
            alignment_ci = (float(full.low[k]), float(full.high[k]))
    return Revealed(
        profile=None if weights is None else ValueProfile.from_array(weights),
        reason=reason,
        n_decisions=len(table),
        n_likes=int(table.y.sum()),
        like_counts=like_rates(table),
        ci=ci,
        alignment_ci=alignment_ci,
    )
