"""Peak memory of the runner as a run grows, and with many sessions alive at once.

1. Growth (the default): the same run shape at ``--small`` and ``--large`` decisions (default
   2,000 and 20,000: ``--personas`` personas x ``--steps`` steps x as many sessions as it takes),
   each in a fresh subprocess, through the runner with the reference viewer. Prints each peak
   resident set size (``ru_maxrss``) and their ratio. Target: large / small <= 1.15 (finished
   decisions go to disk, the summary aggregates as it goes, nothing keeps every decision).
2. ``--live N``: N sessions all at once (concurrency = N), the reference viewer slowed by a sleep
   so that every session is alive at the same time; prints the peak RSS per live session.

    python benchmarks/bench_memory.py [--small 2000] [--large 20000] [--personas 20] [--steps 10]
    python benchmarks/bench_memory.py --live 1000 [--steps 10] [--sleep-ms 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def peak_rss_mib() -> float:
    """Peak RSS of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mib() -> float:
    """Current RSS from /proc (Linux)."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _run(personas: int, sessions: int, steps: int, concurrency: int, sleep_ms: float) -> dict[str, Any]:
    """One batch in this process; the figures as a dict."""
    from value_spectrum.agents.reference import ReferenceViewer
    from value_spectrum.personas.loading import load_builtin_personas
    from value_spectrum.runner.config import RunConfig
    from value_spectrum.runner.local import BatchRunner
    from value_spectrum.runner.services import Services

    chosen = tuple(p.id for p in load_builtin_personas()[:personas])

    class Sleepy:
        name = "reference"

        def __init__(self, inner: ReferenceViewer) -> None:
            self.inner = inner

        async def decide(self, persona, observation, *, history=(), search=None):  # type: ignore[no-untyped-def]
            await asyncio.sleep(sleep_ms / 1000.0)
            return await self.inner.decide(persona, observation)

    with tempfile.TemporaryDirectory() as tmp:
        config = RunConfig(personas=chosen, sessions=sessions, steps=steps, concurrency=concurrency,
                           out=Path(tmp) / "run", seed=1)
        services = Services(config)
        if sleep_ms > 0:
            labels = services.labels
            services._viewer_factory = lambda spec: Sleepy(ReferenceViewer(labels, seed=spec.seed))
        base = current_rss_mib()
        t0 = time.perf_counter()
        summary = asyncio.run(BatchRunner(config, services=services).run())
        wall = time.perf_counter() - t0
        return {"decisions": summary.decisions, "sessions": len(chosen) * sessions, "wall_s": round(wall, 2),
                "rss_before_mib": round(base, 1), "peak_rss_mib": round(peak_rss_mib(), 1),
                "rss_after_mib": round(current_rss_mib(), 1)}


def _child(args: argparse.Namespace, decisions: int) -> dict[str, Any]:
    sessions = max(1, round(decisions / (args.personas * args.steps)))
    cmd = [sys.executable, __file__, "--child", "--personas", str(args.personas), "--steps", str(args.steps),
           "--sessions", str(sessions), "--concurrency", str(args.concurrency)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", type=int, default=2000)
    ap.add_argument("--large", type=int, default=20000)
    ap.add_argument("--personas", type=int, default=20)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--live", type=int, default=0, help="N sessions all at once instead of the growth figure")
    ap.add_argument("--sleep-ms", type=float, default=50.0, help="viewer delay in --live mode")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--sessions", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        print(json.dumps(_run(args.personas, args.sessions, args.steps, args.concurrency, 0.0)))
        return
    if args.live:
        from value_spectrum.personas.loading import load_builtin_personas

        n_personas = len(load_builtin_personas())
        per = next(d for d in range(1, args.live + 1) if args.live % d == 0 and args.live // d <= n_personas)
        r = _run(args.live // per, per, args.steps, args.live, args.sleep_ms)
        grew = r["peak_rss_mib"] - r["rss_before_mib"]
        print(f"{r['sessions']} sessions x {args.steps} steps all at once, {r['decisions']} decisions in {r['wall_s']} s")
        print(f"RSS before the batch {r['rss_before_mib']:.0f} MiB; peak {r['peak_rss_mib']:.0f} MiB; "
              f"+{grew:.0f} MiB = {grew * 1024 / r['sessions']:.0f} KiB per live session")
        return
    small, large = _child(args, args.small), _child(args, args.large)
    print(f"{args.personas} personas x {args.steps} steps, concurrency {args.concurrency}, reference viewer, "
          "each run in a fresh subprocess:")
    for r in (small, large):
        print(f"   {r['decisions']:6d} decisions ({r['sessions']} sessions, {r['wall_s']} s): RSS before the run "
              f"{r['rss_before_mib']:.0f} MiB, peak {r['peak_rss_mib']:.0f} MiB, after {r['rss_after_mib']:.0f} MiB")
    ratio = large["peak_rss_mib"] / small["peak_rss_mib"]
    print(f"   peak RSS {large['decisions']} / {small['decisions']} decisions = {ratio:.3f} (target <= 1.15)")


if __name__ == "__main__":
    main()
