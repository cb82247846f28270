"""The Ray executor (async actors) against the local executor, side by side in one run, against
the OpenAI-compatible test server with a fixed latency; and the run-wide ``--rpm``.

1. ``--sessions`` x ``--steps`` at ``--concurrency`` with the local executor, then with the Ray
   executor on a local Ray instance (``--ray-cpus``; started before timing). Prints each wall,
   the Ray wall with and without its actors' start, the ratio to local (target <= 1.2x), and the
   requests the server saw in flight: the most at once (target: the concurrency asked for) and
   the mean from the first request to the last reply.
2. ``--rpm`` with ``--rpm-workers`` Ray actors: the request rate the server observed over the
   run (target <= 1.1 x rpm).

    python benchmarks/bench_ray.py [--sessions 64] [--steps 4] [--concurrency 32]
                                   [--latency-ms 150] [--ray-cpus 2] [--rpm 120]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


class Counting:
    """A reply function that sleeps ``latency`` and records requests in flight and their times."""

    def __init__(self, latency_s: float) -> None:
        from value_spectrum.agents.testing.server import default_reply

        self.latency_s, self.reply = latency_s, default_reply
        self.lock = threading.Lock()
        self.now = self.peak = 0
        self.starts: list[float] = []
        self.ends: list[float] = []

    def busy(self) -> float:
        """Requests in flight on average between the first request and the last reply."""
        if not self.ends:
            return 0.0
        span = max(self.ends) - min(self.starts)
        return sum(e - s for s, e in zip(sorted(self.starts), sorted(self.ends), strict=True)) / span

    def __call__(self, body: dict[str, Any]) -> str:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.starts.append(time.monotonic())
        try:
            time.sleep(self.latency_s)
            return self.reply(body)
        finally:
            with self.lock:
                self.now -= 1
                self.ends.append(time.monotonic())

    def reset(self) -> None:
        with self.lock:
            self.now = self.peak = 0
            self.starts.clear()
            self.ends.clear()


class FirstStep:
    """Observer: when the first decision arrived."""

    def __init__(self) -> None:
        self.first: float | None = None

    def on_plan(self, *args: Any) -> None:
        pass

    def on_step(self, step: Any) -> None:
        if self.first is None:
            self.first = time.perf_counter()

    def on_session_end(self, trajectory: Any) -> None:
        pass


def run(config: Any) -> tuple[float, float, Any]:
    """(wall, wall from the first decision, summary)."""
    from value_spectrum.runner.local import run_batch

    obs = FirstStep()
    t0, c0 = time.perf_counter(), time.process_time()
    summary = asyncio.run(run_batch(config, observer=obs))
    t1 = time.perf_counter()
    run.cpu_s = time.process_time() - c0  # type: ignore[attr-defined]
    return t1 - t0, t1 - (obs.first or t0), summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=64)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--latency-ms", type=float, default=150.0)
    ap.add_argument("--ray-cpus", type=int, default=2)
    ap.add_argument("--rpm", type=int, default=120)
    ap.add_argument("--rpm-workers", type=int, default=2)
    ap.add_argument("--rpm-requests", type=int, default=60)
    args = ap.parse_args()

    import ray

    from value_spectrum.agents.testing.server import TestServer
    from value_spectrum.runner.config import GatewayConfig, RunConfig

    counting = Counting(args.latency_ms / 1000.0)
    tmp = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    with TestServer(reply=counting) as server:
        common = dict(models=("openai/test-vlm",), api_base=server.base_url, modality="caption",
                      personas=("archetype_benevolence", "archetype_power"), sessions=args.sessions // 2,
                      steps=args.steps, concurrency=args.concurrency, cache=False, record_latency=False)
        ray.init(num_cpus=args.ray_cpus, include_dashboard=False, log_to_driver=False)
        try:
            run(RunConfig(**{**common, "sessions": 2}, out=tmp / "warm"))  # imports, caches: once
            counting.reset()
            wall_local, wall_local_steps, s_local = run(RunConfig(**common, out=tmp / "local"))
            cpu_local = run.cpu_s  # type: ignore[attr-defined]
            peak_local, busy_local = counting.peak, counting.busy()
            counting.reset()
            wall_ray, wall_ray_steps, s_ray = run(RunConfig(**common, out=tmp / "ray", executor="ray"))
            peak_ray, busy_ray = counting.peak, counting.busy()
            ideal = args.sessions * args.steps * args.latency_ms / 1000.0 / args.concurrency
            print(f"{args.sessions} sessions x {args.steps} steps, concurrency {args.concurrency}, "
                  f"server latency {args.latency_ms:.0f} ms (ideal wall {ideal:.2f} s)")
            print(f"  local executor: wall {wall_local:.2f} s ({wall_local_steps:.2f} s from the first "
                  f"decision), decisions {s_local.decisions}, "
                  f"in flight: peak {peak_local}, mean {busy_local:.1f}; CPU {cpu_local:.2f} s in all = "
                  f"{1000 * cpu_local / max(s_local.decisions, 1):.1f} ms per decision (server in-process)")
            print(f"  ray executor ({args.ray_cpus} actors): wall {wall_ray:.2f} s "
                  f"({wall_ray_steps:.2f} s from the first decision), decisions {s_ray.decisions}, "
                  f"in flight: peak {peak_ray}, mean {busy_ray:.1f}")
            print(f"  ray / local: {wall_ray / wall_local:.2f}x with the actors' start, "
                  f"{wall_ray_steps / wall_local_steps:.2f}x from the first decision (target <= 1.2x)")

            counting.reset()
            n = args.rpm_requests
            cfg = RunConfig(**{**common, "sessions": n // 2, "steps": 1, "concurrency": 16},
                            out=tmp / "rpm", executor="ray", ray_actors=args.rpm_workers,
                            gateway=GatewayConfig(rpm=args.rpm))
            run(cfg)
            starts = sorted(counting.starts)
            span = starts[-1] - starts[0]
            rate = (len(starts) - 1) / span * 60.0 if span > 0 else float("inf")
            print(f"--rpm {args.rpm} over {args.rpm_workers} Ray actors, {len(starts)} requests: "
                  f"observed {rate:.1f}/min = {rate / args.rpm:.3f} x rpm (target <= 1.1)")
        finally:
            ray.shutdown()


if __name__ == "__main__":
    main()
