"""Per-call cost of each layer of a model call against the test server, and the whole toolkit.

The OpenAI-compatible test server runs in a subprocess and answers after a fixed latency. The
same calls go out ``concurrency`` at a time through each layer, from the least to the most
machinery:

* ``openai``: the bare ``openai.AsyncOpenAI`` client with its defaults (the floor the targets are
  set against: HTTP + JSON);
* ``openai-aio``: the same bare client on the SDK's aiohttp transport (``DefaultAioHttpClient``,
  which the direct path uses where aiohttp is installed): what our layers add over the same
  transport;
* ``direct``: our :class:`~value_spectrum.agents.gateway.Gateway` on its direct path (the
  openai client, our limits, the response mapping and pricing);
* ``router``: a bare litellm ``Router.acompletion`` with one deployment;
* ``gw-router``: the Gateway forced onto litellm's Router (``direct=False``);
* ``viewer``: one whole decision, :meth:`LLMViewer.decide` (title modality, cache off: the
  prompt, the gateway, the decision contract);
* ``runner``: whole ``simulate`` decisions: the batch runner (session graph, checkpoints, run
  log) with ``--sessions`` sessions of ``calls / sessions`` steps each, on one event loop (the
  local executor);
* ``runner-proc``: the same decisions on the process executor (``--workers`` worker
  processes, default one per CPU); its CPU counts the workers' too.

CPU per call is the *marginal* CPU of this process (every thread): (CPU of 2N calls - CPU of N
calls) / N, so imports, warm-up and per-batch setup drop out; the server's CPU is in its own
process. Each of N and 2N is the best of ``--repeat`` batches, interleaved over the layers (on a
shared machine noise only ever adds). Wall / ideal is the 2N batch's (ideal = calls x latency /
calls in flight), the whole batch, setup included; *marginal* wall / ideal is (wall of 2N - wall
of N) / (ideal of 2N - ideal of N), the steady state. Ratios to ``openai`` are taken in the same
run.

    python benchmarks/bench_gateway.py [--calls 256] [--concurrency 8,32,128] [--latency-ms 200] [--repeat 3]
                                       [--only openai,openai-aio,direct,router,gw-router,viewer,runner,runner-proc]
                                       [--workers N]
                                       [--frames 3 --frame-kb 150] [--cache] [--profile direct]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import random
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

MODEL = "openai/bench-vlm"
SYSTEM = (
    "You are a viewer of short videos. Decide whether you would keep watching this video. "
    "Answer with one JSON object: {\"watch\": true|false, \"reason\": \"...\"}. " * 8
)


@contextlib.contextmanager
def _server(latency_ms: float) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "value_spectrum.agents.testing.server", "--port", str(port),
                             "--latency-ms", str(latency_ms)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        proc.stdout.readline()  # "serving ..." once bound
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


FRAMES: list[Path] = []
"""Keyframe files attached to every request (``--frames``)."""


def _messages(i: int) -> list[dict[str, Any]]:
    from value_spectrum.agents.observe import data_url

    text = f"A video titled: cooking with grandma, part {i}"
    if not FRAMES:
        return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}]
    parts += [{"type": "image_url", "image_url": {"url": data_url(f)}} for f in FRAMES]
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": parts}]


Call = Callable[[int], Awaitable[Any]]

_AIO: list[Any] = []
"""The ``openai-aio`` layer's client, closed at the end."""


async def _close_clients() -> None:
    for client in _AIO:
        await client.close()
    _AIO.clear()


def _clients(base_url: str, cache_dir: str | None) -> dict[str, Call]:
    """One coroutine function per call layer; each builds its client once."""
    from litellm import Router  # type: ignore[attr-defined]
    from openai import AsyncOpenAI, DefaultAioHttpClient

    from value_spectrum.agents import LLMViewer
    from value_spectrum.agents.chat import ChatRequest
    from value_spectrum.agents.gateway import Gateway
    from value_spectrum.personas.loading import load_builtin_personas
    from value_spectrum.records import Observation

    cache = {"cache": cache_dir is not None, "cache_dir": cache_dir}
    direct = Gateway(MODEL, api_base=base_url, structured=False, **cache)  # type: ignore[arg-type]
    via_router_gw = Gateway(MODEL, api_base=base_url, structured=False, direct=False, **cache)  # type: ignore[arg-type]
    router = Router(model_list=[{"model_name": MODEL, "litellm_params": {
        "model": MODEL, "api_base": base_url, "api_key": "not-needed"}}], num_retries=3, timeout=120)
    oai = AsyncOpenAI(base_url=base_url, api_key="not-needed", max_retries=3, timeout=120)
    aio = _AIO  # built on the loop that uses it (an aiohttp session is bound to one)
    viewer = LLMViewer(MODEL, api_base=base_url, modality="title", **cache)  # type: ignore[arg-type]
    persona = load_builtin_personas()[0]

    def request(i: int) -> ChatRequest:
        return ChatRequest(messages=tuple(_messages(i)), temperature=0.0, max_tokens=200)

    async def via_openai(i: int) -> Any:
        return await oai.chat.completions.create(model="bench-vlm", messages=_messages(i),  # type: ignore[arg-type]
                                                 temperature=0.0, max_tokens=200)

    async def via_openai_aio(i: int) -> Any:
        if not aio:
            aio.append(AsyncOpenAI(base_url=base_url, api_key="not-needed", max_retries=3, timeout=120,
                                   http_client=DefaultAioHttpClient()))
        return await aio[0].chat.completions.create(model="bench-vlm", messages=_messages(i),  # type: ignore[arg-type]
                                                    temperature=0.0, max_tokens=200)

    async def via_direct(i: int) -> Any:
        return await direct.complete(request(i))

    async def via_router(i: int) -> Any:
        return await router.acompletion(model=MODEL, messages=_messages(i), temperature=0.0, max_tokens=200)

    async def via_gw_router(i: int) -> Any:
        return await via_router_gw.complete(request(i))

    async def via_viewer(i: int) -> Any:
        obs = Observation(turn=i % 30, video_id=f"v{i}", title=f"Cooking with grandma, part {i}", modality="title")
        return await viewer.decide(persona, obs)

    return {"openai": via_openai, "openai-aio": via_openai_aio, "direct": via_direct, "router": via_router, "gw-router": via_gw_router,
            "viewer": via_viewer}


_ids = itertools.count()
"""Request numbers, unique over the whole run (so the response cache never hits)."""


async def _batch(call: Call, calls: int, concurrency: int) -> None:
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            await call(i)

    await asyncio.gather(*(one(next(_ids)) for _ in range(calls)))


def _time(loop: asyncio.AbstractEventLoop, call: Call, calls: int, concurrency: int) -> tuple[float, float]:
    c0, t0 = time.process_time(), time.perf_counter()
    loop.run_until_complete(_batch(call, calls, concurrency))
    return time.perf_counter() - t0, time.process_time() - c0


def _children_cpu() -> float:
    """CPU seconds of the ended (and waited-for) child processes: the process executor's workers."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _runner(base_url: str, tmp: str, calls: int, concurrency: int, sessions: int, *, workers: int | None = None,
            ) -> tuple[float, float, int]:
    """Wall and CPU seconds (this process and its workers) of a whole batch run of about
    ``calls`` title decisions (cache off) in ``sessions`` sessions, and the model calls it made
    (decisions + repairs); on the process executor when ``workers`` is given.

    The sessions are ``p`` personas x ``sessions / p`` (``p`` the largest divisor of
    ``sessions`` up to the 26 built-in personas), so that exactly ``sessions`` of them run side
    by side; each makes ``calls / sessions`` decisions.
    """
    from value_spectrum.personas.loading import load_builtin_personas
    from value_spectrum.runner.config import RunConfig
    from value_spectrum.runner.local import BatchRunner
    from value_spectrum.runner.services import Services

    personas = tuple(p.id for p in load_builtin_personas())
    p = max(d for d in range(1, min(len(personas), sessions) + 1) if sessions % d == 0)
    steps = max(1, calls // sessions)
    config = RunConfig(personas=personas[:p], models=(MODEL,), api_base=base_url, sessions=sessions // p, steps=steps,
                       modality="title", concurrency=concurrency, cache=False, seed=next(_ids),
                       out=Path(tmp) / f"run{next(_ids)}", executor="processes" if workers else "local",
                       workers=workers)
    c0, t0 = time.process_time() + _children_cpu(), time.perf_counter()
    summary = asyncio.run(BatchRunner(config, services=Services(config)).run())
    wall, cpu = time.perf_counter() - t0, time.process_time() + _children_cpu() - c0
    if summary.failed or summary.decisions != sessions * steps:
        raise SystemExit(f"runner layer: {summary.decisions} decisions of {sessions * steps}, first error "
                         f"{summary.first_error!r}: not the same work")
    return wall, cpu, summary.decisions + summary.repairs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=256, help="N: each layer runs N, then 2N calls")
    ap.add_argument("--concurrency", default="8,32,128")
    ap.add_argument("--latency-ms", type=float, default=200.0)
    ap.add_argument("--repeat", type=int, default=3, help="best of this many N and 2N batches per layer")
    ap.add_argument("--only", default="openai,openai-aio,direct,router,gw-router,viewer,runner,runner-proc")
    ap.add_argument("--workers", type=int, default=None,
                    help="worker processes of the runner-proc layer (default: one per CPU)")
    ap.add_argument("--sessions", type=int, default=32,
                    help="sessions of the runner layer (at most the concurrency), side by side")
    ap.add_argument("--profile", default=None, help="profile this call layer once more under cProfile")
    ap.add_argument("--profile-out", default=None)
    ap.add_argument("--frames", type=int, default=0)
    ap.add_argument("--frame-kb", type=int, default=150)
    ap.add_argument("--cache", action="store_true", help="the gateway's response cache on")
    args = ap.parse_args()
    from value_spectrum.runner.process_executor import default_workers

    tmp = tempfile.TemporaryDirectory()
    rng = random.Random(1)
    for k in range(args.frames):
        frame = Path(tmp.name) / f"frame{k}.png"
        frame.write_bytes(rng.randbytes(args.frame_kb * 1024))
        FRAMES.append(frame)

    levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    n = args.calls
    rows: list[tuple[str, int, float, float, float]] = []  # layer, concurrency, wall/ideal, marginal, cpu ms/call
    loop = asyncio.new_event_loop()
    with _server(args.latency_ms) as base_url:
        clients = _clients(base_url, str(Path(tmp.name) / "cache") if args.cache else None)
        for c in levels:
            # per layer: best of --repeat of N calls and of 2N calls (noise only adds time)
            best: dict[str, list[float]] = {}  # wall1, cpu1, wall2, cpu2
            shape: dict[str, tuple[float, float, int]] = {}  # ideal of N, ideal of 2N, marginal calls
            for _ in range(args.repeat):
                for name in names:
                    if name in ("runner", "runner-proc"):
                        sessions = min(c, args.sessions)
                        workers = (args.workers or default_workers()) if name == "runner-proc" else None
                        _runner(base_url, tmp.name, sessions, c, sessions, workers=workers)  # warm-up
                        wall1, cpu1, calls1 = _runner(base_url, tmp.name, n, c, sessions, workers=workers)
                        wall2, cpu2, calls2 = _runner(base_url, tmp.name, 2 * n, c, sessions, workers=workers)
                        per = args.latency_ms / 1000.0 / min(c, sessions)
                        shape[name] = (calls1 * per, calls2 * per, calls2 - calls1)
                    else:
                        loop.run_until_complete(_batch(clients[name], c, c))  # warm-up
                        wall1, cpu1 = _time(loop, clients[name], n, c)
                        wall2, cpu2 = _time(loop, clients[name], 2 * n, c)
                        per = args.latency_ms / 1000.0 / c
                        shape[name] = (n * per, 2 * n * per, n)
                    got = [wall1, cpu1, wall2, cpu2]
                    best[name] = [min(a, b) for a, b in zip(best.get(name, got), got, strict=True)]
            for name in names:
                wall1, cpu1, wall2, cpu2 = best[name]
                ideal1, ideal2, marginal = shape[name]
                rows.append((name, c, wall2 / ideal2, (wall2 - wall1) / (ideal2 - ideal1), 1000 * (cpu2 - cpu1) / marginal))
        if args.profile:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            prof.enable()
            _time(loop, clients[args.profile], n, levels[0])
            prof.disable()
            stats = pstats.Stats(prof).sort_stats("cumulative")
            if args.profile_out:
                stats.dump_stats(args.profile_out)
            stats.print_stats(40)
    loop.run_until_complete(_close_clients())
    loop.run_until_complete(loop.shutdown_asyncgens())  # the direct path's clients close with their loop
    loop.close()
    tmp.cleanup()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"N={n} vs 2N calls, latency {args.latency_ms:.0f} ms, load average {load:.2f}, {os.cpu_count()} CPUs, "
          f"{args.frames} frames of {args.frame_kb} KB, gateway cache {'on' if args.cache else 'off'}")
    floor = {c: cpu for name, c, _, _, cpu in rows if name == "openai"}
    print(f"| {'layer':<10} | {'concurrency':>11} | {'wall / ideal':>12} | {'marginal wall / ideal':>21} "
          f"| {'CPU ms / call':>13} | {'CPU vs openai':>13} |")
    print(f"|{'-' * 12}|{'-' * 12}:|{'-' * 13}:|{'-' * 22}:|{'-' * 14}:|{'-' * 14}:|")
    for name, c, ratio, marginal_ratio, cpu in rows:
        rel = f"{cpu / floor[c]:.2f}x" if floor.get(c) else "-"
        print(f"| {name:<10} | {c:>11} | {ratio:>12.3f} | {marginal_ratio:>21.3f} | {cpu:>13.2f} | {rel:>13} |")


if __name__ == "__main__":
    main()
