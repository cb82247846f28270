"""The run-wide rate limit's bucket: evenly spaced reservations, a small burst, token debt."""

from __future__ import annotations

import asyncio

from value_spectrum.agents import shared_limits
from value_spectrum.runner.ray_limits import BURST_S, TOKEN_DEBT_S, RateBucket, RayLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_requests_are_spaced_evenly_after_a_one_second_burst() -> None:
    clock = Clock()
    bucket = RateBucket(clock)
    waits = [bucket.reserve("k", 240, None) for _ in range(6)]
    assert BURST_S == 0.5
    # 240/min = one every 0.25 s; half a second's worth (2) may go at once
    assert waits == [0.0, 0.0, 0.25, 0.5, 0.75, 1.0]
    clock.now += 10.0  # idle: the burst is available again, no more
    assert [bucket.reserve("k", 240, None) for _ in range(3)] == [0.0, 0.0, 0.25]
    assert [bucket.reserve("slow", 60, None) for _ in range(3)] == [0.0, 1.0, 2.0]  # a burst of one
    assert bucket.reserve("other", 120, None) == 0.0  # buckets are per key


def test_a_run_rate_over_many_requests_stays_at_the_limit() -> None:
    clock = Clock()
    bucket = RateBucket(clock)
    starts = [clock.now + bucket.reserve("k", 60, None) for _ in range(121)]
    span_min = (max(starts) - min(starts)) / 60.0
    assert len(starts) / span_min <= 60 * 1.02


def test_tokens_over_tpm_make_the_next_requests_wait() -> None:
    clock = Clock()
    bucket = RateBucket(clock)
    assert bucket.reserve("k", None, 6000) == 0.0
    bucket.spent("k", 6000, 1000)  # ten seconds' worth of tokens at 6000/min
    assert bucket.reserve("k", None, 6000) == 10.0 - TOKEN_DEBT_S
    clock.now += 10.0
    assert bucket.reserve("k", None, 6000) == 0.0


def test_the_worker_side_waits_what_the_bucket_says_and_survives_its_loss() -> None:
    class Remote:
        def __init__(self, fn):
            self.fn = fn

        def remote(self, *args):
            fut = asyncio.get_running_loop().create_future()
            try:
                fut.set_result(self.fn(*args))
            except Exception as exc:
                fut.set_exception(exc)
            return fut

    class Handle:
        def __init__(self, bucket: RateBucket) -> None:
            self.start_at, self.spent = Remote(bucket.start_at), Remote(bucket.spent)

    clock = Clock()
    bucket = RateBucket(clock)
    limiter = RayLimiter(Handle(bucket))
    asyncio.run(limiter.admit("k", 6000, None))
    assert bucket._next["k"] > clock.now  # the reservation was made in the shared bucket

    def gone(*args):
        raise RuntimeError("actor died")

    limiter.bucket.start_at = Remote(gone)
    asyncio.run(limiter.admit("k", 6000, None))
    assert limiter.lost
    assert shared_limits.installed() is None  # nothing installed in this (driver) process
