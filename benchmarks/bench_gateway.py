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

``--profile NAME`` runs that client once more under cProfile and prints the top functions by
cumulative time (``--profile-out FILE`` keeps the stats for snakeviz / pstats).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
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


def _messages(i: int) -> list[dict[str, Any]]:
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"A video titled: cooking with grandma, part {i}"}]


Call = Callable[[int], Awaitable[Any]]


def _clients(base_url: str) -> dict[str, Call]:
    """One coroutine function per layer; each builds its client once."""
    import litellm
    from litellm import Router  # type: ignore[attr-defined]
    from openai import AsyncOpenAI

    from value_spectrum.agents.chat import ChatRequest
    from value_spectrum.agents.gateway import Gateway

    gateway = Gateway(MODEL, api_base=base_url, cache=False, structured=False)
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


async def _batch(call: Call, calls: int, concurrency: int) -> None:
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            await call(i)

    await asyncio.gather(*(one(i) for i in range(calls)))


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
    args = ap.parse_args()

    ideal = args.calls * args.latency_ms / 1000.0 / args.concurrency
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    loop = asyncio.new_event_loop()
    with _server(args.latency_ms) as base_url:
        clients = _clients(base_url)
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
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{args.calls} calls, concurrency {args.concurrency}, latency {args.latency_ms:.0f} ms, "
          f"ideal {ideal:.2f} s, load average {load:.2f}, {os.cpu_count()} CPUs")
    print(f"{'client':<9} {'wall s':>7} {'ratio':>6} {'cpu ms/call':>12}")
    for name, wall, cpu in rows:
        print(f"{name:<9} {wall:7.2f} {wall / ideal:6.3f} {1000 * cpu / args.calls:12.2f}")


if __name__ == "__main__":
    main()
