"""One rate limit for a whole Ray run: ``--rpm`` / ``--tpm`` held across every worker by one
small Ray actor, a token bucket per (model, API base).

Each request asks the bucket once; the bucket answers how long to wait (a reservation, so
nobody polls) and the worker sleeps that long. Requests are spaced evenly, ``60 / rpm``
seconds apart across the cluster, with a burst of :data:`BURST_S` seconds' worth of requests
(the generic cell rate algorithm, a token bucket kept as one "next free time"). Tokens are
counted when a reply arrives: a bucket that has spent more than ``tpm`` per minute makes the next
requests wait until the debt is paid, allowing :data:`TOKEN_DEBT_S` seconds of tokens ahead.

The bucket is one named, detached actor per cluster (``value-spectrum-rate-limits`` in namespace
``value-spectrum``, no CPU): several runs on one cluster that call the same model at the same
API base share its bucket, each request waiting for its own run's limit against everyone's
traffic (the strictest ``--rpm`` governs its own requests). Runs on different clusters, or on
the local executor, do not see each other: give each a share of the provider's quota.

A worker that loses the bucket (the actor died) logs one warning and falls back to its
gateway's own per-process limits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

BUCKET_NAME = "value-spectrum-rate-limits"
"""The bucket actor's name."""
NAMESPACE = "value-spectrum"
"""Its Ray namespace."""
BURST_S = 0.5
"""Requests allowed at once: this many seconds' worth of ``rpm`` (at least one)."""
TOKEN_DEBT_S = 5.0
"""Tokens allowed ahead of ``tpm``: this many seconds' worth."""


class RateBucket:
    """The shared bucket (the body of the Ray actor; plain Python, so it is tested directly)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._next: dict[str, float] = {}
        self._token_next: dict[str, float] = {}

    def start_at(self, key: str, rpm: int | None, tpm: int | None) -> float:
        """The clock time (``time.time()``) at which the caller may send one request to ``key``
        (absolute, so the reply's own delay does not shift the schedule)."""
        return self._clock() + self.reserve(key, rpm, tpm)

    def reserve(self, key: str, rpm: int | None, tpm: int | None) -> float:
        """Seconds the caller must wait before sending one request to ``key``."""
        now = self._clock()
        start = now
        if tpm is not None:
            debt_free = self._token_next.get(key, now) - TOKEN_DEBT_S
            start = max(start, debt_free)
        if rpm is not None:
            interval = 60.0 / rpm
            tolerance = max(0.0, (max(1.0, rpm * BURST_S / 60.0) - 1.0) * interval)
            tat = max(self._next.get(key, now), now)
            start = max(start, tat - tolerance)
            self._next[key] = max(tat, start) + interval
        return max(0.0, start - now)

    def spent(self, key: str, tpm: int | None, tokens: int) -> None:
        """Count ``tokens`` of a finished request."""
        if tpm is None or tokens <= 0:
            return
        now = self._clock()
        self._token_next[key] = max(self._token_next.get(key, now), now) + tokens * 60.0 / tpm


def shared_bucket(ray: Any) -> Any:
    """The cluster's bucket actor (created on first use, then shared by every run)."""
    cls = ray.remote(num_cpus=0, max_restarts=-1)(RateBucket)
    return cls.options(name=BUCKET_NAME, namespace=NAMESPACE, get_if_exists=True, lifetime="detached").remote()


class RayLimiter:
    """A worker's side of the bucket (an :class:`~value_spectrum.agents.shared_limits.SharedLimiter`)."""

    def __init__(self, bucket: Any) -> None:
        self.bucket = bucket
        self.lost = False

    async def admit(self, key: str, rpm: int | None, tpm: int | None) -> None:
        if self.lost:
            return
        try:
            start = float(await self.bucket.start_at.remote(key, rpm, tpm))
        except Exception as exc:
            self.lost = True
            logger.warning("the run-wide rate limiter is gone (%s); each worker now limits itself", exc)
            return
        wait = start - time.time()
        if wait > 0:
            await asyncio.sleep(wait)

    def spent(self, key: str, tpm: int | None, tokens: int) -> None:
        if not self.lost and tpm is not None and tokens > 0:
            self.bucket.spent.remote(key, tpm, tokens)


def install_shared_limits(bucket: Any) -> None:
    """Make ``bucket`` this worker process's run-wide limiter."""
    from value_spectrum.agents import shared_limits

    shared_limits.install(RayLimiter(bucket))
