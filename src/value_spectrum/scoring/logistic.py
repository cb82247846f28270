"""Batched logistic regression with Firth's bias reduction: many fits in one set of array
operations (the bootstrap's resamples, the drift test's permutations, a run's windows).

Each fit ``b`` maximises the weighted, optionally penalised log-likelihood

    l_b(beta) = sum_n c_bn [y_n eta_n - log(1 + e^eta_n)] - 1/2 beta' P beta
                (+ 1/2 log det I_b(beta) with Firth's correction)

with ``eta = A beta`` (A: an intercept column and the centred design), ``c_b`` the fit's case
weights (bootstrap counts, 0/1 masks) and ``I_b = A' diag(c_b mu (1 - mu)) A + P`` the
(penalised) Fisher information. Firth's term is Jeffreys' prior: it removes the O(1/n) bias of
the maximum-likelihood estimate and keeps it finite under separation, without shrinking the
weights toward zero as a fixed ridge does. Newton steps use the modified score
``A' [c (y - mu) + h (1/2 - mu)] - P beta`` (``h``: the hat values), capped at ``MAX_STEP``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

MAX_STEP = 2.5
"""Largest Newton step per coefficient (logit units), as in logistf's ``maxstep``."""
QUASI_STEPS = 3
"""Newton steps with the Fisher information before the exact Hessian is used."""
CHUNK_ENTRIES = 4_000_000
"""Largest ``fits x n x n`` hat-matrix block held at once (32 MB of float64)."""
JITTER = 1e-9
"""Added to the information's diagonal so a rank-deficient fit fails softly (NaN, not raise)."""


@dataclass(frozen=True)
class BatchFit:
    """``B`` fitted logistic regressions sharing one design."""

    weights: np.ndarray
    """Shape ``(B, p)``: the coefficients of the design's columns."""
    intercept: np.ndarray
    """Shape ``(B,)``: intercepts on the original (uncentred) columns."""
    cov: np.ndarray
    """Shape ``(B, p, p)``: the inverse information of the weights (their Wald covariance)."""
    converged: np.ndarray
    """Shape ``(B,)`` bool: whether the largest step fell below the tolerance."""
    iterations: int
    """Newton steps taken (for the slowest fit)."""


def fit_batch(
    x: np.ndarray,
    y: np.ndarray,
    counts: np.ndarray | None = None,
    *,
    penalty: np.ndarray | None = None,
    firth: bool = True,
    max_iter: int = 100,
    tol: float = 1e-6,
    start: np.ndarray | None = None,
    exact: bool = True,
) -> BatchFit:
    """Fit ``B`` logistic regressions of ``y`` on ``x`` with case weights ``counts``.

    Args:
        x: Shape ``(n, p)`` design (no intercept column).
        y: Shape ``(n,)`` of 0/1.
        counts: Shape ``(B, n)`` non-negative case weights (default: one fit, all ones).
        penalty: Shape ``(p, p)`` ridge-type penalty on the weights (default none).
        firth: Add Firth's bias-reducing term.
        max_iter: Newton steps at most.
        tol: Convergence when every coefficient's step is below this.
        start: Shape ``(p + 1,)`` starting coefficients on the centred design (intercept first).
        exact: Use the exact Hessian after the first steps (False: Fisher information only,
            cheaper per step for long batches, linear convergence).

    The first ``QUASI_STEPS`` steps use the Fisher information (robust far from the optimum),
    later ones the exact Hessian of the penalised log-likelihood (quadratic convergence; the
    fits are processed in chunks that keep the ``n x n`` hat matrices small). Fits whose
    information cannot be inverted come back with NaN and ``converged`` False.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n, p = x.shape
    c = np.ones((1, n)) if counts is None else np.asarray(counts, dtype=np.float64)
    means = x.mean(axis=0) if n else np.zeros(p)
    a = np.column_stack([np.ones(n), x - means])
    pen = np.zeros((p + 1, p + 1))
    if penalty is not None:
        pen[1:, 1:] = np.asarray(penalty, dtype=np.float64)
    chunk = max(1, CHUNK_ENTRIES // max(1, n * n)) if firth and exact else c.shape[0]
    a3, y2 = a[None], y[None]
    parts = [
        _fit_chunk(a3, y2, c[i : i + chunk], pen, firth, max_iter, tol, start, exact)
        for i in range(0, c.shape[0], chunk)
    ]
    beta = np.vstack([b for b, _, _ in parts])
    converged = np.concatenate([k for _, k, _ in parts])
    iterations = max(it for _, _, it in parts)
    cov = _covariance(a3, c, beta, pen, converged)
    weights = beta[:, 1:].copy()
    return BatchFit(
        weights=weights,
        intercept=beta[:, 0] - weights @ means,
        cov=cov,
        converged=converged,
        iterations=iterations,
    )


def fit_designs(
    x: np.ndarray,
    y: np.ndarray,
    *,
    firth: bool = True,
    max_iter: int = 100,
    tol: float = 1e-6,
) -> BatchFit:
    """Fit ``B`` logistic regressions, each on its own design: ``x`` of shape ``(B, m, p)``,
    ``y`` of shape ``(B, m)`` (e.g. the same window of every permutation). Same method as
    :func:`fit_batch`; the ``m x m`` hat matrices stay small when ``m`` is a window's size."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    b_count, m, p = x.shape
    means = x.mean(axis=1)
    a3 = np.concatenate([np.ones((b_count, m, 1)), x - means[:, None, :]], axis=2)
    c = np.ones((b_count, m))
    pen = np.zeros((p + 1, p + 1))
    chunk = max(1, CHUNK_ENTRIES // max(1, m * m))
    parts = [
        _fit_chunk(
            a3[i : i + chunk],
            y[i : i + chunk],
            c[i : i + chunk],
            pen,
            firth,
            max_iter,
            tol,
            None,
            True,
        )
        for i in range(0, b_count, chunk)
    ]
    beta = np.vstack([b for b, _, _ in parts])
    converged = np.concatenate([k for _, k, _ in parts])
    cov = _covariance(a3, c, beta, pen, converged)
    weights = beta[:, 1:].copy()
    return BatchFit(
        weights=weights,
        intercept=beta[:, 0] - np.einsum("bp,bp->b", weights, means),
        cov=cov,
        converged=converged,
        iterations=max(it for _, _, it in parts),
    )


def _covariance(
    a3: np.ndarray, c: np.ndarray, beta: np.ndarray, pen: np.ndarray, converged: np.ndarray
) -> np.ndarray:
    mu = expit(_linear(a3, np.nan_to_num(beta)))
    wgt = c * mu * (1.0 - mu)
    info = _information(wgt, a3) + pen + JITTER * np.eye(beta.shape[1])
    cov = _safe_inv(info)[:, 1:, 1:]
    cov[~converged] = np.nan
    return cov


def _linear(a3: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """``A_b beta_b`` for every fit: shape ``(B, n)`` (``a3`` is ``(B, n, q)`` or ``(1, n, q)``)."""
    return np.asarray(np.matmul(a3, beta[:, :, None])[..., 0])


def _fit_chunk(
    a3: np.ndarray,
    y2: np.ndarray,
    c: np.ndarray,
    pen: np.ndarray,
    firth: bool,
    max_iter: int,
    tol: float,
    start: np.ndarray | None,
    exact: bool,
) -> tuple[np.ndarray, np.ndarray, int]:
    b_count, q = c.shape[0], a3.shape[2]
    shared = a3.shape[0] == 1
    beta = np.zeros((b_count, q))
    if start is not None:
        beta[:] = start
    else:
        tot = c.sum(axis=1)
        rate = np.clip((c * y2).sum(axis=1) / np.where(tot > 0, tot, 1.0), 0.05, 0.95)
        beta[:, 0] = np.log(rate / (1.0 - rate))
    active = np.ones(b_count, dtype=bool)
    converged = np.zeros(b_count, dtype=bool)
    eye = np.eye(q)
    it = 0
    for it in range(1, max_iter + 1):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            it -= 1
            break
        bb, cc = beta[idx], c[idx]
        a = a3 if shared else a3[idx]
        y = y2 if y2.shape[0] == 1 else y2[idx]
        mu = expit(_linear(a, bb))  # (b, n)
        w = mu * (1.0 - mu)
        wgt = cc * w
        info = _information(wgt, a) + pen + JITTER * eye
        resid = cc * (y - mu)
        if firth:
            inv = _safe_inv(info)
            proj = np.matmul(a, inv)  # (b, n, q)
            qd = np.sum(proj * a, axis=2)  # a_n' I^-1 a_n
            hat = wgt * qd
            score = _times(resid + hat * (0.5 - mu), a) - bb @ pen
            step = np.einsum("bij,bj->bi", inv, score)
            if exact and it > QUASI_STEPS:
                newton = _exact_step(a, cc, mu, w, info, proj, qd, score)
                good = np.all(np.isfinite(newton), axis=1) & (
                    np.einsum("bi,bi->b", newton, score) > 0
                )
                step[good] = newton[good]
        else:
            score = _times(resid, a) - bb @ pen
            step = _safe_solve(info, score)
        bad = ~np.all(np.isfinite(step), axis=1)
        step = np.clip(np.nan_to_num(step), -MAX_STEP, MAX_STEP)
        beta[idx] = bb + step
        done = np.max(np.abs(step), axis=1) < tol
        converged[idx[done & ~bad]] = True
        active[idx[done | bad]] = False
        beta[idx[bad]] = np.nan
    return beta, converged, it


def _times(r: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``A_b' r_b`` for every fit: shape ``(B, q)``."""
    return np.asarray(np.matmul(r[:, None, :], a)[:, 0, :])


def _exact_step(
    a: np.ndarray,
    cc: np.ndarray,
    mu: np.ndarray,
    w: np.ndarray,
    info: np.ndarray,
    proj: np.ndarray,
    qd: np.ndarray,
    score: np.ndarray,
) -> np.ndarray:
    """Newton step with the exact Hessian of ``l + 1/2 log det I``: the Firth term's Hessian is
    ``1/2 [A' diag(c w'' q_nn) A - A' ((c w' c w')' o Q o Q) A]`` with ``Q = A I^-1 A'``,
    ``w' = w (1 - 2 mu)`` and ``w'' = w (1 - 6 w)``."""
    w1 = cc * w * (1.0 - 2.0 * mu)
    w2 = cc * w * (1.0 - 6.0 * w)
    at = a.transpose(0, 2, 1)
    big_q = np.matmul(proj, at)  # (b, n, n)
    first = _information(w2 * qd, a)
    g = (big_q * big_q) * w1[:, :, None] * w1[:, None, :]
    second = np.matmul(np.matmul(at, g), a)
    hess_neg = info - 0.5 * (first - second)
    return _safe_solve(hess_neg, score)


def _information(wgt: np.ndarray, a3: np.ndarray) -> np.ndarray:
    """``A_b' diag(w_b) A_b`` for every row ``w_b`` of ``wgt``, as one batched matrix product
    (``a3``: ``(B, n, q)`` or a shared ``(1, n, q)``)."""
    return np.asarray(np.matmul((wgt[:, :, None] * a3).transpose(0, 2, 1), a3))


def _safe_inv(m: np.ndarray) -> np.ndarray:
    try:
        return np.asarray(np.linalg.inv(m))
    except np.linalg.LinAlgError:
        out = np.full_like(m, np.nan)
        for i in range(m.shape[0]):
            try:
                out[i] = np.linalg.inv(m[i])
            except np.linalg.LinAlgError:
                continue
        return out


def _safe_solve(m: np.ndarray, v: np.ndarray) -> np.ndarray:
    try:
        return np.asarray(np.linalg.solve(m, v[..., None])[..., 0])
    except np.linalg.LinAlgError:
        out = np.full_like(v, np.nan)
        for i in range(m.shape[0]):
            try:
                out[i] = np.linalg.solve(m[i], v[i])
            except np.linalg.LinAlgError:
                continue
        return out
