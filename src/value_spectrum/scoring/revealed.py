"""Revealed value profiles: what a viewer's likes and skips say it values.

Two scores, both from like/skip decisions only (unparseable, refused and error turns are
counted apart and never scored as skips):

* **like rate per value** (the paper's score): the percentage of likes among the decisions on
  videos whose primary value is that value;
* **value decomposition**: a logistic regression of like (1) / skip (0) on the video's ten value
  labels, fitted with Firth's bias reduction; the ten weights, MRAT-centred (each minus their
  mean), are the revealed profile. Their 95% intervals are Wald intervals from the fit's Fisher
  information (calibrated by simulation: ``value-spectrum calibrate``; see docs/methods.md). A
  ridge or the value-circle prior can be added; their estimate is reported beside the calibrated
  one (``smoothed``), never in the intervals. A vectorised bootstrap (sessions, or blocks of
  consecutive decisions when sessions are few) gives the interval of the alignment with a target.

A set of decisions that cannot be scored (too few, or no variance) gives ``profile=None`` with a
``reason``, never zeros.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from value_spectrum.records import Outcome, Trajectory
from value_spectrum.scoring.logistic import fit_batch
from value_spectrum.scoring.resample import bootstrap_counts, group_seed
from value_spectrum.scoring.rundir import LabelledVideo
from value_spectrum.scoring.stats import Interval
from value_spectrum.values import VALUE_IDS, ValueProfile, mrat_centre

MIN_DECISIONS = 30
"""Fewest labelled like/skip decisions a profile is fitted on: about three per parameter (ten
weights and an intercept). In the calibration on the demo corpus, below 30 decisions the fit
fails to converge (quasi-separation) in more than one repetition in ten; see docs/methods.md."""
DEFAULT_L2 = 1.0
"""Default ridge strength of the smoothed estimate (0 with ``circle_prior`` 0: none)."""
DEFAULT_CIRCLE_PRIOR = 1.0
"""Default strength of the value-circle smoothness prior of the smoothed estimate (see
:func:`circle_penalty`)."""
LEVEL = 0.95
"""Nominal coverage of the intervals."""


def _norm_ppf(q: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(q))


_CENTRE = np.eye(len(VALUE_IDS)) - 1.0 / len(VALUE_IDS)


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
    """The smoothing penalty matrix ``l2 * I + circle_prior * L``.

    ``L`` is the Laplacian of the value circle (each value linked to its two neighbours, in
    circle order), so ``w' L w`` is the sum of squared differences between neighbouring
    weights: Schwartz's motivational continuum, where adjacent values share motivations. It
    shrinks noise between neighbours at small samples, and biases the estimate toward a
    circular profile; it is therefore used only for the ``smoothed`` estimate, never for the
    intervals.
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


@dataclass(frozen=True)
class Decomposition:
    """One fitted decomposition: centred weights and their covariance."""

    weights: np.ndarray | None
    """Shape ``(10,)``: MRAT-centred weights (logit units), or None."""
    cov: np.ndarray | None
    """Shape ``(10, 10)``: their Wald covariance (``C I^-1 C'``), or None."""
    reason: str
    """Why ``weights`` is None ('' otherwise)."""
    iterations: int = 0
    """Newton steps taken."""


def _absent_values(x: np.ndarray) -> list[str]:
    return [v for v, m in zip(VALUE_IDS, x.max(axis=0), strict=True) if m <= 0.0]


def fit_decomposition(
    table: DecisionTable,
    *,
    l2: float = 0.0,
    circle_prior: float = 0.0,
    min_decisions: int = MIN_DECISIONS,
) -> Decomposition:
    """Firth-corrected logistic weights of like on the ten labels, centred, with their
    covariance; or the reason why not. With ``l2`` or ``circle_prior`` > 0: the penalised
    maximum-likelihood (smoothed) estimate instead, whose covariance is not a calibrated one."""
    n, likes = len(table), int(table.y.sum())
    reason = cannot_score_reason(n, likes, min_decisions=min_decisions)
    if reason:
        return Decomposition(None, None, reason)
    absent = _absent_values(table.x)
    if absent:
        return Decomposition(None, None, f"no decided video is labelled with {', '.join(absent)}")
    design = np.column_stack([np.ones(n), table.x])
    rank = int(np.linalg.matrix_rank(design))
    if rank < design.shape[1] and l2 <= 0 and circle_prior <= 0:
        distinct = len({tuple(row) for row in table.x.tolist()})
        return Decomposition(
            None,
            None,
            f"the decided videos' labels span {rank} of the {design.shape[1]} dimensions the "
            f"decomposition needs ({distinct} distinct videos); more distinct videos are needed",
        )
    pen = circle_penalty(l2, circle_prior) if (l2 > 0 or circle_prior > 0) else None
    # the smoothed estimate is the penalised maximum-likelihood one (the penalty already keeps
    # it finite); the calibrated one is Firth's
    fit = fit_batch(table.x, table.y, penalty=pen, firth=pen is None)
    if not fit.converged[0]:
        return Decomposition(
            None,
            None,
            f"the logistic fit did not converge in {fit.iterations} Newton steps "
            "(likes and skips are nearly separated by the labels; more decisions are needed)",
            fit.iterations,
        )
    w = _CENTRE @ fit.weights[0]
    cov = _CENTRE @ fit.cov[0] @ _CENTRE.T
    return Decomposition(w, cov, "", fit.iterations)


def decompose(
    table: DecisionTable,
    *,
    l2: float = 0.0,
    circle_prior: float = 0.0,
    min_decisions: int = MIN_DECISIONS,
) -> tuple[np.ndarray | None, str]:
    """MRAT-centred logistic weights of like on the ten labels, or (None, reason)."""
    d = fit_decomposition(table, l2=l2, circle_prior=circle_prior, min_decisions=min_decisions)
    return d.weights, d.reason


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
    """MRAT-centred Firth-corrected weights (logit units), or None when it cannot be scored."""
    reason: str
    """Why it cannot be scored ('' when it can)."""
    n_decisions: int
    """Labelled like/skip decisions used."""
    n_likes: int
    """Likes among them."""
    like_counts: dict[str, tuple[int, int]]
    """Value id -> (likes, decisions) by primary value."""
    ci: Interval | None = None
    """95% Wald interval per value of the centred weights, when computed."""
    se: np.ndarray | None = None
    """Standard error per value of the centred weights."""
    cov: np.ndarray | None = None
    """Wald covariance of the centred weights."""
    alignment_ci: tuple[float, float] | None = None
    """Bootstrap interval of the Spearman correlation with the target, when computed."""
    alignment_boot: Interval | None = None
    """The bootstrap behind ``alignment_ci`` (resamples drawn, usable, unit)."""
    smoothed: ValueProfile | None = None
    """The estimate with the ridge / circle prior, when one was asked for."""
    fit: Decomposition | None = None
    """The decomposition behind ``profile`` (for callers that reuse it)."""

    @property
    def like_rate(self) -> dict[str, float | None]:
        """Value id -> percentage of likes (None when no decision had that primary value)."""
        return {v: (100.0 * k / n if n else None) for v, (k, n) in self.like_counts.items()}

    @property
    def overall_like_rate(self) -> float | None:
        """Percentage of likes over all decisions."""
        return 100.0 * self.n_likes / self.n_decisions if self.n_decisions else None


CI_METHODS = ("wald", "bootstrap")
"""How the weights' intervals are computed: Wald from the Firth fit's information (the default,
calibrated by ``value-spectrum calibrate``), or a percentile bootstrap (sessions, or blocks of
consecutive decisions when there are fewer than ten sessions) that does not assume decisions
independent within a session."""


@dataclass(frozen=True)
class Draws:
    """Draws of the centred weights: bootstrap refits or normal draws around the estimate."""

    weights: np.ndarray
    """Shape ``(n_ok, 10)``: the usable draws."""
    n_boot: int
    """Draws attempted."""
    unit: str
    """'normal' (from the Wald covariance), 'sessions' or 'blocks'."""


def bootstrap_draws(
    table: DecisionTable, *, n_boot: int = 200, seed: int = 0, start: np.ndarray | None = None
) -> Draws:
    """Refit the decomposition on ``n_boot`` resamples in one batched solve (see
    :func:`~value_spectrum.scoring.resample.bootstrap_counts`); failed refits are dropped."""
    counts, unit = bootstrap_counts(table.session, table.turn, n_boot, seed=seed)
    fit = fit_batch(table.x, table.y, counts, max_iter=50, start=start)
    ok = fit.converged & np.all(np.isfinite(fit.weights), axis=1)
    return Draws(mrat_centre(fit.weights[ok]), n_boot, unit)


def normal_draws(weights: np.ndarray, cov: np.ndarray, *, n: int = 200, seed: int = 0) -> Draws:
    """``n`` draws from the Wald (normal) sampling distribution of the centred weights."""
    rng = np.random.default_rng(seed)
    vals, vecs = np.linalg.eigh(cov)
    root = vecs * np.sqrt(np.clip(vals, 0.0, None))
    return Draws(weights + rng.standard_normal((n, weights.size)) @ root.T, n, "normal")


def rowwise_spearman(draws: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Spearman correlation of each row of ``draws`` with ``target`` (NaN for a flat row)."""
    from scipy.stats import rankdata

    r = rankdata(draws, axis=1)
    t = rankdata(target)
    rc = r - r.mean(axis=1, keepdims=True)
    tc = t - t.mean()
    den = np.sqrt((rc * rc).sum(axis=1) * float(tc @ tc))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (rc @ tc) / den, np.nan)


def _percentile(x: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    a = (1.0 - level) / 2.0
    return np.quantile(x, a, axis=0), np.quantile(x, 1.0 - a, axis=0)


def revealed_profile(
    table: DecisionTable,
    *,
    l2: float = DEFAULT_L2,
    circle_prior: float = DEFAULT_CIRCLE_PRIOR,
    min_decisions: int = MIN_DECISIONS,
    n_boot: int = 0,
    seed: int = 0,
    target: ValueProfile | None = None,
    intervals: bool = True,
    ci: str = "wald",
    level: float = LEVEL,
) -> Revealed:
    """Score one table: like rates, the decomposition, intervals of its weights (``ci``: see
    :data:`CI_METHODS`) and, with ``n_boot`` > 0 and a ``target``, the interval of its alignment
    with the target (from ``n_boot`` normal draws for ``wald``, from the resamples for
    ``bootstrap``).

    ``seed`` is used as given; callers scoring several groups derive one per group with
    :func:`~value_spectrum.scoring.resample.group_seed`.
    """
    if ci not in CI_METHODS:
        raise ValueError(f"ci must be one of {', '.join(CI_METHODS)}, got {ci!r}")
    d = fit_decomposition(table, min_decisions=min_decisions)
    interval = se = None
    alignment_ci = None
    boot = None
    smoothed = None
    if d.weights is not None and d.cov is not None:
        se = np.sqrt(np.clip(np.diag(d.cov), 0.0, None))
        z = float(_norm_ppf(0.5 + level / 2.0))
        draws = None
        if ci == "bootstrap" and (intervals or n_boot > 0):
            draws = bootstrap_draws(table, n_boot=max(n_boot, 200), seed=seed)
            if draws.weights.shape[0] >= 20:
                lo, hi = _percentile(draws.weights, level)
            else:
                lo = hi = np.full(len(VALUE_IDS), np.nan)
            if intervals:
                interval = Interval(lo, hi, draws.weights.shape[0], draws.unit, draws.n_boot)
        elif intervals:
            interval = Interval(d.weights - z * se, d.weights + z * se, 0, "wald")
        if n_boot > 0 and target is not None:
            if draws is None:
                draws = normal_draws(d.weights, d.cov, n=n_boot, seed=seed)
            rho = rowwise_spearman(draws.weights, target.centred().as_array())
            rho = rho[np.isfinite(rho)]
            boot = Interval(
                np.array([np.nan]), np.array([np.nan]), rho.size, draws.unit, draws.n_boot
            )
            if rho.size >= 20:
                lo1, hi1 = _percentile(rho, level)
                alignment_ci = (float(lo1), float(hi1))
                boot = Interval(
                    np.array([lo1]), np.array([hi1]), rho.size, draws.unit, draws.n_boot
                )
        if l2 > 0 or circle_prior > 0:
            sm = fit_decomposition(
                table, l2=l2, circle_prior=circle_prior, min_decisions=min_decisions
            )
            smoothed = None if sm.weights is None else ValueProfile.from_array(sm.weights)
    return Revealed(
        profile=None if d.weights is None else ValueProfile.from_array(d.weights),
        reason=d.reason,
        n_decisions=len(table),
        n_likes=int(table.y.sum()),
        like_counts=like_rates(table),
        ci=interval,
        se=se,
        cov=d.cov,
        fit=d,
        alignment_ci=alignment_ci,
        alignment_boot=boot,
        smoothed=smoothed,
    )


__all__ = [
    "CI_METHODS",
    "DEFAULT_CIRCLE_PRIOR",
    "DEFAULT_L2",
    "MIN_DECISIONS",
    "DecisionTable",
    "Decomposition",
    "Draws",
    "Interval",
    "Revealed",
    "bootstrap_draws",
    "circle_penalty",
    "decision_table",
    "decompose",
    "fit_decomposition",
    "group_seed",
    "like_rates",
    "normal_draws",
    "revealed_profile",
    "rowwise_spearman",
]
