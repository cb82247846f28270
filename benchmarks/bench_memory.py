"""Peak memory with many concurrent sessions.

Runs ``--sessions`` sessions (default 1,000) all at once (concurrency = sessions) through the
runner, with the reference viewer slowed by a sleep so that every session is alive at the same
time, and prints the peak resident set size (ru_maxrss) before and after, and per session.

    python benchmarks/bench_memory.py [--sessions 1000] [--steps 10] [--sleep-ms 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def peak_rss_mib() -> float:
    """Peak RSS of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mib() -> float:
    """Current RSS from /proc (Linux)."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--sleep-ms", type=float, default=50.0)
    args = ap.parse_args()

    from value_spectrum.agents.reference import ReferenceViewer
    from value_spectrum.personas.loading import load_builtin_personas
    from value_spectrum.runner.config import RunConfig
    from value_spectrum.runner.local import BatchRunner
    from value_spectrum.runner.services import Services

    personas = load_builtin_personas()
    per_pair = next(d for d in range(1, args.sessions + 1)
                    if args.sessions % d == 0 and args.sessions // d <= len(personas))
    chosen = tuple(p.id for p in personas[: args.sessions // per_pair])
    n = len(chosen) * per_pair

    class Sleepy:
        name = "reference"

        def __init__(self, inner: ReferenceViewer) -> None:
            self.inner = inner

        async def decide(self, persona, observation, *, history=(), search=None):  # type: ignore[no-untyped-def]
            await asyncio.sleep(args.sleep_ms / 1000.0)
            return await self.inner.decide(persona, observation)

    live = {"now": 0, "max": 0}

    with tempfile.TemporaryDirectory() as tmp:
        config = RunConfig(personas=chosen, sessions=per_pair, steps=args.steps, concurrency=n,
                           out=Path(tmp) / "run", seed=1)
        services = Services(config)
        labels = services.labels

        def factory(spec):  # type: ignore[no-untyped-def]
            return Sleepy(ReferenceViewer(labels, seed=spec.seed))

        services._viewer_factory = factory

        class Live:
            def on_plan(self, sessions: int, already_done: int, steps_per_session: int) -> None: ...
            def on_step(self, step) -> None:  # type: ignore[no-untyped-def]
                if step.turn == 0:
                    live["now"] += 1
                    live["max"] = max(live["max"], live["now"])
            def on_session_end(self, trajectory) -> None:  # type: ignore[no-untyped-def]
                live["now"] -= 1

        base_now, base_peak = current_rss_mib(), peak_rss_mib()
        t0 = time.perf_counter()
        summary = asyncio.run(BatchRunner(config, services=services, observer=Live()).run())
        wall = time.perf_counter() - t0
        peak = peak_rss_mib()
    print(f"{n} sessions x {args.steps} steps, all concurrent (max live sessions seen: {live['max']}), "
          f"{summary.decisions} decisions in {wall:.1f} s")
    print(f"RSS before the batch: {base_now:.0f} MiB (peak so far {base_peak:.0f} MiB)")
    print(f"peak RSS during the batch: {peak:.0f} MiB   "
          f"increase {peak - base_now:.0f} MiB = {(peak - base_now) * 1024 / n:.0f} KiB per session")


if __name__ == "__main__":
    main()
