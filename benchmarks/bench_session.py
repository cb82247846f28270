"""Framework overhead of the session graph.

Decisions per second through the LangGraph session graph (no checkpointer, and with the SQLite
checkpointer the runner uses) with the reference viewer, against a bare asyncio loop calling the
same viewer on the same feed (same policy, same per-turn RNG). Prints the rates and ratios.

    python benchmarks/bench_session.py [--sessions 20] [--steps 50]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from value_spectrum.agents.reference import ReferenceViewer
from value_spectrum.graphs.driver import SessionMeta, run_session
from value_spectrum.graphs.feeds import FeedState, make_feed
from value_spectrum.graphs.session import SessionContext, build_session_graph, turn_rng
from value_spectrum.personas.loading import load_builtin_personas
from value_spectrum.records import Observation
from value_spectrum.retrieval.corpus import load_corpus


async def bare_loop(ctx: SessionContext) -> list[str]:
    """The same session without LangGraph: pick, decide, record in a plain loop."""
    seen: list[str] = []
    liked: list[str] = []
    outcomes: list[str] = []
    for turn in range(ctx.max_steps):
        vid = ctx.feed.next(FeedState(turn, tuple(seen), tuple(liked), ()), turn_rng(ctx.seed, turn))
        if vid is None:
            break
        seen.append(vid)
        obs = Observation.of(ctx.corpus.get(vid), turn=turn, modality=ctx.modality)
        reply = await ctx.viewer.decide(ctx.persona, obs)
        if reply.outcome.value == "like":
            liked.append(vid)
        outcomes.append(reply.outcome.value)
    return outcomes


async def main(sessions: int, steps: int) -> None:
    corpus = load_corpus(None)
    personas = load_builtin_personas()
    labels = {v.id: v.values for v in corpus if v.values is not None}
    feed = make_feed("random", corpus.videos)

    def ctx(i: int) -> SessionContext:
        return SessionContext(
            viewer=ReferenceViewer(labels, seed=i), corpus=corpus, persona=personas[i % len(personas)],
            feed=feed, seed=i, max_steps=steps, render_keyframes=False, record_latency=False,
        )

    decisions = sessions * steps
    t0 = time.perf_counter()
    bare = [await bare_loop(ctx(i)) for i in range(sessions)]
    t_bare = time.perf_counter() - t0

    graph = build_session_graph()
    t0 = time.perf_counter()
    plain = [await run_session(graph, SessionMeta(f"s{i}", "p", "reference"), ctx(i)) for i in range(sessions)]
    t_graph = time.perf_counter() - t0
    assert [[s.outcome.value for s in t.steps] for t in plain] == bare, "graph and bare loop disagree"

    from value_spectrum.graphs.checkpoints import sqlite_checkpointer

    rates = {}
    variants = (("aiosqlite", "sync", "FULL", False), ("aiosqlite", "sync", "NORMAL", False),
                ("inline", "sync", "NORMAL", True), ("inline", "async", "NORMAL", True))
    for kind, durability, sync, inline in variants:
        with tempfile.TemporaryDirectory() as d:
            async with sqlite_checkpointer(Path(d) / "c.sqlite", synchronous=sync, inline=inline) as saver:
                g = build_session_graph(saver)
                t0 = time.perf_counter()
                for i in range(sessions):
                    await run_session(g, SessionMeta(f"s{i}", "p", "reference"), ctx(i), durability=durability)
                rates[f"{kind}, {durability}, {sync}"] = time.perf_counter() - t0

    def rate(t: float) -> float:
        return decisions / t

    print(f"{sessions} sessions x {steps} steps = {decisions} decisions, reference viewer, random feed")
    print(f"bare asyncio loop                        : {rate(t_bare):8.0f} decisions/s")
    print(f"graph, no checkpointer                   : {rate(t_graph):8.0f} decisions/s  (bare/graph = {t_graph / t_bare:6.1f}x slower)")
    for k, t in rates.items():
        print(f"graph, SQLite ({k:24s}): {rate(t):8.0f} decisions/s  (bare/graph = {t / t_bare:6.1f}x slower)")
    print(f"graph overhead per decision: {(t_graph - t_bare) / decisions * 1e3:.2f} ms (no checkpointer), "
          f"{(rates['inline, sync, NORMAL'] - t_bare) / decisions * 1e3:.2f} ms (SQLite inline, sync, NORMAL: the runner's setting)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--steps", type=int, default=50)
    args = ap.parse_args()
    asyncio.run(main(args.sessions, args.steps))
