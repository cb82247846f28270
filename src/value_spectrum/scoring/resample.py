"""Resampling plans as count matrices (one row per resample, one column per decision), so that
every resample is fitted in one batched solve; and per-group seeds.

* **sessions**: with at least ``MIN_SESSIONS`` sessions, whole sessions are drawn with
  replacement (the cluster bootstrap);
* **blocks**: with fewer sessions, each session's decisions are cut into blocks of consecutive
  turns (length about ``n ** (1/3)``, the usual rate for a block bootstrap) and, within each
  session, as many blocks are drawn with replacement (a moving-block bootstrap that keeps the
  short-range dependence of a session's decisions and the number of decisions per session).
* **permutations** (:func:`permutation_orders`): decisions shuffled within their session, the
  null of "no change over turns".
"""

from __future__ import annotations

import hashlib

import numpy as np

MIN_SESSIONS = 10
"""Fewest sessions for which whole sessions are resampled; below, blocks of decisions."""


def group_seed(seed: int, *parts: str) -> int:
    """A seed derived from the run's ``seed`` and a group's names (persona, model): each group
    gets its own random stream, and the same group always the same one."""
    key = "\x1f".join([str(seed), *parts]).encode("utf-8")
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big")


def bootstrap_counts(
    session: np.ndarray, turn: np.ndarray, n_boot: int, *, seed: int = 0
) -> tuple[np.ndarray, str]:
    """Shape ``(n_boot, n)`` case weights of bootstrap resamples, and the unit resampled."""
    rng = np.random.default_rng(seed)
    n = int(session.shape[0])
    ids = np.unique(session)
    counts = np.zeros((n_boot, n))
    if ids.size >= MIN_SESSIONS:
        members = [np.flatnonzero(session == s) for s in ids]
        picks = rng.integers(0, ids.size, size=(n_boot, ids.size))
        for b in range(n_boot):
            hits = np.bincount(picks[b], minlength=ids.size)
            for k, h in enumerate(hits):
                if h:
                    counts[b, members[k]] += h
        return counts, "sessions"
    for s in ids:
        idx = np.flatnonzero(session == s)
        idx = idx[np.argsort(turn[idx], kind="stable")]
        m = idx.size
        length = max(1, round(m ** (1.0 / 3.0)))
        starts = m - length + 1
        n_blocks = -(-m // length)
        picks = rng.integers(0, starts, size=(n_boot, n_blocks))
        for b in range(n_boot):
            pos = (picks[b][:, None] + np.arange(length)[None, :]).ravel()[:m]
            np.add.at(counts[b], idx[pos], 1.0)
    return counts, "blocks"


def permutation_orders(session: np.ndarray, n_perm: int, *, seed: int = 0) -> np.ndarray:
    """Shape ``(n_perm, n)``: for each permutation, the position whose turn each decision takes
    (decisions shuffled within their session)."""
    rng = np.random.default_rng(seed)
    n = int(session.shape[0])
    out = np.tile(np.arange(n), (n_perm, 1))
    for s in np.unique(session):
        idx = np.flatnonzero(session == s)
        for p in range(n_perm):
            out[p, idx] = idx[rng.permutation(idx.size)]
    return out
