"""Concurrency efficiency of the runner against the OpenAI-compatible test server.

The server answers every request after a fixed latency (200 ms). With ``C`` sessions at once the
ideal wall time is ``sessions x steps x latency / C``; the runner (session graph, SQLite
checkpoints, litellm gateway, atomic records) should stay close to it (target <= 1.15 x ideal at
C = 32). Prints wall time, ideal and their ratio.

    python benchmarks/bench_concurrency.py [--sessions 64] [--steps 5] [--concurrency 32]
                                           [--latency-ms 200] [--modality title]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@contextlib.contextmanager
def _server(args: argparse.Namespace) -> Iterator[str]:
    """The test server's base URL, served from a subprocess (default) or a thread."""
    from value_spectrum.agents.testing.server import TestServer

    if args.in_process_server:
        with TestServer(latency_ms=args.latency_ms) as server:
            yield server.base_url
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "value_spectrum.agents.testing.server", "--port", str(port),
                             "--latency-ms", str(args.latency_ms)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        proc.stdout.readline()  # "serving ..." once bound
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--latency-ms", type=float, default=200.0)
    ap.add_argument("--modality", default="title")
    ap.add_argument("--durability", default="sync")
    ap.add_argument("--bare-again", action="store_true", help="time the bare loop twice (drift check)")
    ap.add_argument("--in-process-server", action="store_true",
                    help="serve from a thread of this process (competes for the GIL) instead of a subprocess")
    args = ap.parse_args()

    from value_spectrum.personas.loading import load_builtin_personas
    from value_spectrum.runner.config import RunConfig
    from value_spectrum.runner.local import BatchRunner
    from value_spectrum.runner.services import Services

    personas = load_builtin_personas()
    # sessions per pair: the smallest divisor of --sessions that the persona library can fill
    per_pair = next(d for d in range(1, args.sessions + 1)
                    if args.sessions % d == 0 and args.sessions // d <= len(personas))
    chosen = tuple(p.id for p in personas[: args.sessions // per_pair])
    n_sessions = len(chosen) * per_pair
    with _server(args) as base_url, tempfile.TemporaryDirectory() as tmp:
        config = RunConfig(
            personas=chosen, models=("openai/bench-vlm",), api_base=base_url, sessions=per_pair,
            steps=args.steps, modality=args.modality, concurrency=args.concurrency, cache=False,
            out=Path(tmp) / "run", seed=1,
        )
        services = Services(config)
        # warm-up: import litellm, build the router, render keyframes, outside the timing
        warm = RunConfig(**{**config.model_dump(), "out": Path(tmp) / "warm", "sessions": 1, "steps": 1,
                            "personas": chosen[:1]})
        asyncio.run(BatchRunner(warm, services=Services(warm)).run())
        # baseline: the same decisions through the same viewer in a bare asyncio loop (no graph,
        # no checkpoints, no records): what litellm + the in-process server cost by themselves
        from value_spectrum.graphs.driver import SessionMeta  # noqa: F401  (same imports warm)
        from value_spectrum.records import Observation
        from value_spectrum.runner.plan import build_plan

        specs = build_plan(config, chosen)
        async def bare_session(spec, sem) -> None:
            async with sem:
                viewer = services.viewer(spec)
                persona = services.persona(spec)
                for turn in range(args.steps):
                    video = services.corpus.videos[(spec.index * 7 + turn * 13 + hash(spec.persona_id) % 5) % len(services.corpus)]
                    obs = Observation.of(video, turn=turn, modality=config.modality)
                    await viewer.decide(persona, obs)

        async def bare() -> None:
            sem = asyncio.Semaphore(args.concurrency)
            await asyncio.gather(*(bare_session(s, sem) for s in specs))

        t0 = time.perf_counter()
        asyncio.run(bare())
        wall_bare = time.perf_counter() - t0
        if args.bare_again:
            t0 = time.perf_counter()
            asyncio.run(bare())
            print(f"bare gateway loop, second time: {time.perf_counter() - t0:.2f} s")

        t0 = time.perf_counter()
        summary = asyncio.run(BatchRunner(config, services=services, durability=args.durability).run())
        wall = time.perf_counter() - t0
        # the framework alone: the same batch with a viewer that sleeps the latency and answers
        # like the reference viewer (no HTTP, no litellm)
        from value_spectrum.agents.reference import ReferenceViewer

        class Sleepy:
            name = "reference"

            def __init__(self, inner: ReferenceViewer) -> None:
                self.inner = inner

            async def decide(self, persona, observation, *, history=(), search=None):  # type: ignore[no-untyped-def]
                await asyncio.sleep(args.latency_ms / 1000.0)
                return await self.inner.decide(persona, observation)

        sleepy_cfg = RunConfig(**{**config.model_dump(), "out": Path(tmp) / "sleepy", "models": ("reference",)})
        sleepy_services = Services(sleepy_cfg)
        labels = sleepy_services.labels
        sleepy_services._viewer_factory = lambda spec: Sleepy(ReferenceViewer(labels, seed=spec.seed))
        t0 = time.perf_counter()
        asyncio.run(BatchRunner(sleepy_cfg, services=sleepy_services, durability=args.durability).run())
        wall_sleepy = time.perf_counter() - t0
    decisions = n_sessions * args.steps
    ideal = decisions * args.latency_ms / 1000.0 / args.concurrency
    print(f"{n_sessions} sessions x {args.steps} steps = {decisions} decisions, {args.modality} modality, "
          f"latency {args.latency_ms:.0f} ms, concurrency {args.concurrency}, durability {args.durability}")
    print(f"server {'in process' if args.in_process_server else 'in a subprocess'}; outcomes {summary.outcomes}")
    print(f"runner, sleeping viewer (no HTTP): wall {wall_sleepy:.2f} s   ratio to ideal {wall_sleepy / ideal:.3f}")
    print(f"bare gateway loop: wall {wall_bare:.2f} s   ratio to ideal {wall_bare / ideal:.3f}")
    print(f"runner           : wall {wall:.2f} s   ideal {ideal:.2f} s   ratio {wall / ideal:.3f} (target <= 1.15)")
    print(f"runner / bare loop: {wall / wall_bare:.3f}")


if __name__ == "__main__":
    main()
