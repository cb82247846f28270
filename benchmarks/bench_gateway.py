"""Per-call overhead of the model gateway against the test server, layer by layer.

The same ``calls`` requests go out ``concurrency`` at a time to the OpenAI-compatible test server
(a subprocess answering after a fixed latency) through four clients, from the most to the least
machinery:

* ``gateway``: our :class:`~value_spectrum.agents.gateway.Gateway` (litellm Router + our parsing);
* ``router``: a bare litellm ``Router.acompletion`` with one deployment;
* ``litellm``: bare ``litellm.acompletion``;
* ``openai``: the ``openai`` ``AsyncOpenAI`` client itself (the floor: HTTP + JSON only).

The ideal wall time is ``calls x latency / concurrency``; the table prints wall time, ratio to
ideal and the CPU time per call (process CPU seconds / calls), which is what a 2-core machine runs
out of. Each client is warmed up (imports, connection pool) before it is timed.

    python benchmarks/bench_gateway.py [--calls 320] [--concurrency 32] [--latency-ms 200]
                                       [--repeat 2] [--only gateway,router] [--profile gateway]
                                       [--frames 3 --frame-kb 150] [--cache]

``--frames N`` attaches N keyframe files (random bytes, ``--frame-kb`` each, shared by every call
as a video is shared by every persona) as data URLs built per call the way the viewer builds
them; ``--cache`` turns the gateway's response cache on (each call a miss and a store, as in a
fresh run).

``--profile NAME`` runs that client once more under cProfile and prints the top functions by
cumulative time (``--profile-out FILE`` keeps the stats for snakeviz / pstats).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import random
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


def _clients(base_url: str, cache_dir: str | None) -> dict[str, Call]:
    """One coroutine function per layer; each builds its client once."""
    import litellm
    from litellm import Router  # type: ignore[attr-defined]
    from openai import AsyncOpenAI

    from value_spectrum.agents.chat import ChatRequest
    from value_spectrum.agents.gateway import Gateway

    gateway = Gateway(MODEL, api_base=base_url, cache=cache_dir is not None, cache_dir=cache_dir, structured=False)
    router = Router(model_list=[{"model_name": MODEL, "litellm_params": {
        "model": MODEL, "api_base": base_url, "api_key": "not-needed"}}], num_retries=3, timeout=120)
    oai = AsyncOpenAI(base_url=base_url, api_key="not-needed", max_retries=0, timeout=120)

    async def via_gateway(i: int) -> Any:
        return await gateway.complete(ChatRequest(messages=tuple(_messages(i)), temperature=0.0, max_tokens=200))

    async def via_router(i: int) -> Any:
        return await router.acompletion(model=MODEL, messages=_messages(i), temperature=0.0, max_tokens=200)

    async def via_litellm(i: int) -> Any:
        return await litellm.acompletion(model=MODEL, api_base=base_url, api_key="not-needed",
                                         messages=_messages(i), temperature=0.0, max_tokens=200)

    async def via_openai(i: int) -> Any:
        return await oai.chat.completions.create(model="bench-vlm", messages=_messages(i),  # type: ignore[arg-type]
                                                 temperature=0.0, max_tokens=200)

    return {"gateway": via_gateway, "router": via_router, "litellm": via_litellm, "openai": via_openai}


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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=320)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--latency-ms", type=float, default=200.0)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--only", default="gateway,router,litellm,openai")
    ap.add_argument("--profile", default=None, help="profile this client once more under cProfile")
    ap.add_argument("--profile-out", default=None)
    ap.add_argument("--frames", type=int, default=0)
    ap.add_argument("--frame-kb", type=int, default=150)
    ap.add_argument("--cache", action="store_true", help="the gateway's response cache on")
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory()
    rng = random.Random(1)
    for k in range(args.frames):
        frame = Path(tmp.name) / f"frame{k}.png"
        frame.write_bytes(rng.randbytes(args.frame_kb * 1024))
        FRAMES.append(frame)

    ideal = args.calls * args.latency_ms / 1000.0 / args.concurrency
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    loop = asyncio.new_event_loop()
    with _server(args.latency_ms) as base_url:
        clients = _clients(base_url, str(Path(tmp.name) / "cache") if args.cache else None)
        rows: list[tuple[str, float, float]] = []
        for name in names:
            loop.run_until_complete(_batch(clients[name], args.concurrency, args.concurrency))  # warm-up
            for _ in range(args.repeat):
                wall, cpu = _time(loop, clients[name], args.calls, args.concurrency)
                rows.append((name, wall, cpu))
        if args.profile:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            prof.enable()
            _time(loop, clients[args.profile], args.calls, args.concurrency)
            prof.disable()
            stats = pstats.Stats(prof).sort_stats("cumulative")
            if args.profile_out:
                stats.dump_stats(args.profile_out)
            stats.print_stats(40)
    loop.close()
    tmp.cleanup()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{args.calls} calls, concurrency {args.concurrency}, latency {args.latency_ms:.0f} ms, "
          f"ideal {ideal:.2f} s, load average {load:.2f}, {os.cpu_count()} CPUs, "
          f"{args.frames} frames of {args.frame_kb} KB, gateway cache {'on' if args.cache else 'off'}")
    print(f"{'client':<9} {'wall s':>7} {'ratio':>6} {'cpu ms/call':>12}")
    for name, wall, cpu in rows:
        print(f"{name:<9} {wall:7.2f} {wall / ideal:6.3f} {1000 * cpu / args.calls:12.2f}")


if __name__ == "__main__":
    main()
