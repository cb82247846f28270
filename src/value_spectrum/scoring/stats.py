"""Statistics for scoring: an L2-regularised logistic regression (Newton / IRLS), a seeded
cluster bootstrap, summaries of proportions (Wilson intervals, Cohen's h, Fisher's exact test,
Holm's step-down adjustment) and a few small helpers that keep "cannot compute" explicit as NaN.

Everything takes its randomness from a ``numpy.random.Generator`` built from a seed.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

DEFAULT_L2 = 1.0
"""Default ridge strength on the value weights (the intercept is not penalised)."""


@dataclass(frozen=True)
class LogisticFit:
    """A fitted logistic regression ``P(y=1) = sigmoid(intercept + X @ weights)``."""

    weights: np.ndarray
    """One weight per column of X."""
    intercept: float
    """The intercept, on the original (uncentred) columns."""
    iterations: int
    """Newton steps taken."""
    converged: bool
    """Whether the step size fell below the tolerance."""


def _penalised_loglik(a: np.ndarray, y: np.ndarray, beta: np.ndarray, pen: np.ndarray) -> float:
    eta = a @ beta
    # log(1 + e^eta) computed stably
    ll = float(y @ eta - np.logaddexp(0.0, eta).sum())
    return ll - 0.5 * float(beta @ pen @ beta)


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    *,
    l2: float = DEFAULT_L2,
    penalty: np.ndarray | None = None,
    max_iter: int = 100,
    tol: float = 1e-9,
) -> LogisticFit:
    """Penalised logistic regression by Newton's method with step halving.

    Maximises ``sum log-likelihood - 1/2 * w' P w`` with ``P = l2 * I`` (ridge) unless a
    ``penalty`` matrix is given. Columns are centred internally so that the unpenalised
    intercept does not interact with the penalty.

    Args:
        x: Shape ``(n, p)`` design (no intercept column).
        y: Shape ``(n,)`` of 0/1.
        l2: Ridge strength (> 0 keeps the problem strictly convex in the weights).
        penalty: Shape ``(p, p)`` positive-definite penalty matrix, replacing ``l2 * I``.
        max_iter: Newton steps at most.
        tol: Stop when the largest step component is below this.

    Raises:
        ValueError: on shape mismatch, an empty design, or ``y`` without both classes.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.shape != (x.shape[0],) or x.shape[0] == 0:
        raise ValueError(f"bad shapes: x {x.shape}, y {y.shape}")
    rate = float(y.mean())
    if rate in (0.0, 1.0):
        raise ValueError("y has a single class; the logistic fit is undefined")
    n, p = x.shape
    means = x.mean(axis=0)
    a = np.column_stack([np.ones(n), x - means])
    pen = np.zeros((p + 1, p + 1))
    pen[1:, 1:] = (
        float(l2) * np.eye(p) if penalty is None else np.asarray(penalty, dtype=np.float64)
    )
    beta = np.zeros(p + 1)
    beta[0] = math.log(rate / (1.0 - rate))
    current = _penalised_loglik(a, y, beta, pen)
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - the count is reported
        mu = expit(a @ beta)
        w = mu * (1.0 - mu)
        grad = a.T @ (y - mu) - pen @ beta
        hess = (a * w[:, None]).T @ a + pen + 1e-10 * np.eye(p + 1)
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while True:
            cand = beta + t * step
            val = _penalised_loglik(a, y, cand, pen)
            if val >= current - 1e-12 or t < 1e-6:
                break
            t *= 0.5
        beta, current = cand, val
        if float(np.max(np.abs(t * step))) < tol:
            converged = True
            break
    weights = beta[1:].copy()
    return LogisticFit(
        weights=weights,
        intercept=float(beta[0] - means @ weights),
        iterations=it,
        converged=converged,
    )


@dataclass(frozen=True)
class Interval:
    """An interval per component (bootstrap percentile or Wald); NaN where it could not be
    computed."""

    low: np.ndarray
    """Lower bounds."""
    high: np.ndarray
    """Upper bounds."""
    n_ok: int
    """Bootstrap resamples whose statistic could be computed (0 for a Wald interval)."""
    unit: str
    """How it was computed: 'wald', or what the bootstrap resampled ('sessions', 'blocks',
    'decisions')."""
    n_boot: int = 0
    """Bootstrap resamples drawn (0 for a Wald interval)."""


def cluster_bootstrap(
    clusters: Sequence[np.ndarray],
    statistic: Callable[[np.ndarray], np.ndarray | None],
    *,
    n_boot: int = 200,
    level: float = 0.95,
    seed: int = 0,
    unit: str = "sessions",
) -> Interval:
    """Percentile interval of ``statistic`` over resamples of whole clusters (sessions).

    ``clusters`` is a list of index arrays (one per session) into the caller's data; each
    resample draws as many clusters with replacement and concatenates their indices.
    ``statistic`` returns None when a resample cannot be scored (e.g. all likes); such
    resamples are dropped and counted. With fewer than 20 usable resamples the bounds are NaN.
    """
    rng = np.random.default_rng(seed)
    k = len(clusters)
    draws: list[np.ndarray] = []
    for _ in range(n_boot):
        pick = rng.integers(0, k, size=k)
        idx = np.concatenate([clusters[i] for i in pick]) if k else np.array([], dtype=int)
        value = statistic(idx)
        if value is not None and np.all(np.isfinite(value)):
            draws.append(np.atleast_1d(np.asarray(value, dtype=np.float64)))
    if len(draws) < 20:
        shape = np.atleast_1d(
            np.asarray(statistic(np.concatenate(clusters)) if k else np.nan)
        ).shape
        nan = np.full(shape, np.nan)
        return Interval(low=nan, high=nan.copy(), n_ok=len(draws), unit=unit, n_boot=n_boot)
    stack = np.vstack(draws)
    alpha = (1.0 - level) / 2.0
    return Interval(
        low=np.quantile(stack, alpha, axis=0),
        high=np.quantile(stack, 1.0 - alpha, axis=0),
        n_ok=len(draws),
        unit=unit,
        n_boot=n_boot,
    )


def slope_per(xs: Sequence[float], ys: Sequence[float], per: float = 100.0) -> float:
    """Least-squares slope of ys on xs, scaled to a change per ``per`` units of x; NaN with
    fewer than two finite points or no spread in x."""
    pts = [(float(a), float(b)) for a, b in zip(xs, ys, strict=True) if math.isfinite(b)]
    if len(pts) < 2:
        return math.nan
    xa = np.array([p[0] for p in pts])
    ya = np.array([p[1] for p in pts])
    if float(np.ptp(xa)) == 0.0:
        return math.nan
    xc = xa - xa.mean()
    return float((xc @ (ya - ya.mean())) / (xc @ xc) * per)


def finite_or_none(x: float | None) -> float | None:
    """``x`` when it is a finite number, else None (for JSON)."""
    if x is None or not math.isfinite(x):
        return None
    return float(x)


def nanmedian(xs: Sequence[float | None]) -> float | None:
    """Median of the finite entries, or None when there are none."""
    vals = [float(x) for x in xs if x is not None and math.isfinite(x)]
    return float(np.median(vals)) if vals else None


# ---- proportions: intervals, effect sizes, tests -------------------------------------------
@dataclass(frozen=True)
class Proportion:
    """``successes`` out of ``n`` with its Wilson score interval (all three NaN when n is 0)."""

    successes: int
    """Successes (likes, yes answers)."""
    n: int
    """Trials."""
    rate: float
    """successes / n (0-1)."""
    low: float
    """Lower bound of the Wilson interval (0-1)."""
    high: float
    """Upper bound (0-1)."""
    level: float
    """The interval's nominal coverage."""


def wilson(successes: int, n: int, *, level: float = 0.95) -> Proportion:
    """The Wilson score interval for a binomial proportion (the closed form that scipy's
    ``binomtest(...).proportion_ci(method="wilson")`` computes).

    Wilson's interval keeps close to its nominal coverage down to a handful of trials and never
    leaves [0, 1], unlike the normal ("Wald") interval. ``n == 0`` gives NaN bounds.

    Raises:
        ValueError: when ``successes`` is outside ``0..n`` or ``level`` outside (0, 1).
    """
    k, m = int(successes), int(n)
    if m < 0 or k < 0 or k > m:
        raise ValueError(f"successes must be within 0..n, got {k} of {m}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    if m == 0:
        return Proportion(k, m, math.nan, math.nan, math.nan, level)
    z = _z(level)
    p = k / m
    den = 1.0 + z * z / m
    centre = (p + z * z / (2 * m)) / den
    half = z / den * math.sqrt(p * (1.0 - p) / m + z * z / (4.0 * m * m))
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == m else min(1.0, centre + half)
    return Proportion(k, m, p, low, high, level)


@functools.cache
def _z(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2.0))


def cohens_h(p1: float, p2: float) -> float:
    """Cohen's h between two proportions (0-1): ``2 asin sqrt(p1) - 2 asin sqrt(p2)``.

    Conventional reading of |h|: 0.2 small, 0.5 medium, 0.8 large. NaN when either is NaN.

    Raises:
        ValueError: when a proportion is outside [0, 1].
    """
    if math.isnan(p1) or math.isnan(p2):
        return math.nan
    for p in (p1, p2):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"a proportion must be within [0, 1], got {p!r}")
    return 2.0 * math.asin(math.sqrt(p1)) - 2.0 * math.asin(math.sqrt(p2))


def fisher_exact_p(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value of Fisher's exact test that two binomial proportions ``k1/n1`` and
    ``k2/n2`` are equal (scipy's ``fisher_exact``); NaN when either sample is empty."""
    if n1 <= 0 or n2 <= 0:
        return math.nan
    if not (0 <= k1 <= n1 and 0 <= k2 <= n2):
        raise ValueError(f"successes must be within 0..n, got {k1}/{n1} and {k2}/{n2}")
    from scipy.stats import fisher_exact

    res = fisher_exact([[k1, n1 - k1], [k2, n2 - k2]], alternative="two-sided")
    return float(res.pvalue)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error control), in input order.

    The i-th smallest p (1-based rank i of m) becomes ``max_{j<=i} min(1, (m - j + 1) p_(j))``.
    NaN entries stay NaN and do not count towards m. Reject at level a where adjusted p <= a.
    """
    ps = [float(p) for p in pvalues]
    finite = [(p, i) for i, p in enumerate(ps) if not math.isnan(p)]
    m = len(finite)
    out = [math.nan] * len(ps)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(finite)):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"a p-value must be within [0, 1], got {p!r}")
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out
