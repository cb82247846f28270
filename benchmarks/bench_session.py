"""CPU cost of the session loop: the runner against a bare LangGraph loop and a bare asyncio loop.

Everything runs side by side in one process, on the demo corpus with the reference viewer, and
every figure is CPU time (``time.process_time``), the smallest of ``--repeat`` interleaved runs,
so a loaded machine shifts all of them alike. Three loops make the same decisions (same plan,
viewers, feed and per-turn RNG; checked):

* **runner**: :class:`~value_spectrum.runner.local.BatchRunner` as ``simulate`` runs it (session
  graph, SQLite checkpoints, one atomic record per session, run summary).
* **bare LangGraph**: a one-node-per-turn ``StateGraph`` with the stock ``InMemorySaver``, writing
  one JSON file per finished session: what LangGraph itself costs (the floor for the runner).
* **bare asyncio**: the same turns in a plain ``for`` loop.

Figures:

1. Marginal CPU per decision, ``--personas`` x (``--sessions`` vs ``--base-sessions``) x
   ``--steps`` (default 26 x 24 vs 4 x 5): the CPU of the extra decisions, so start-up and
   per-run costs cancel. Target: runner / bare LangGraph <= 1.3.
2. Runner CPU per decision at ``--long`` steps per session against ``--short`` (default 150 vs
   10), the same number of decisions each. Target: within 10%.

    python benchmarks/bench_session.py [--personas 26] [--sessions 24] [--base-sessions 4]
        [--steps 5] [--short 10] [--long 150] [--repeat 3] [--skip-steps]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import operator
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypedDict

from value_spectrum.graphs.feeds import FeedState
from value_spectrum.graphs.session import turn_rng
from value_spectrum.records import Observation, Step
from value_spectrum.runner.config import RunConfig
from value_spectrum.runner.local import BatchRunner
from value_spectrum.runner.plan import SessionSpec, build_plan
from value_spectrum.runner.services import Services

Outcomes = dict[str, list[str]]
"""session id -> the outcome of every turn."""


def _config(personas: tuple[str, ...], sessions: int, steps: int, out: Path) -> RunConfig:
    return RunConfig(personas=personas, models=("reference",), sessions=sessions, steps=steps,
                     out=out, seed=1)


async def _gather(specs: tuple[SessionSpec, ...], concurrency: int,
                  one: Callable[[SessionSpec], Awaitable[None]]) -> None:
    sem = asyncio.Semaphore(concurrency)

    async def guarded(spec: SessionSpec) -> None:
        async with sem:
            await one(spec)

    await asyncio.gather(*(guarded(s) for s in specs))


def bare_asyncio(services: Services, specs: tuple[SessionSpec, ...]) -> Outcomes:
    """The sessions in plain loops: pick, decide, remember."""
    out: Outcomes = {}

    async def one(spec: SessionSpec) -> None:
        viewer, persona, feed = services.viewer(spec), services.persona(spec), services.feed(spec)
        seen: list[str] = []
        liked: list[str] = []
        outcomes: list[str] = []
        for turn in range(services.config.steps):
            vid = feed.next(FeedState(turn, tuple(seen), tuple(liked), ()), turn_rng(spec.seed, turn))
            if vid is None:
                break
            seen.append(vid)
            obs = Observation.of(services.corpus.get(vid), turn=turn, modality=services.config.modality)
            reply = await viewer.decide(persona, obs)
            if reply.outcome.value == "like":
                liked.append(vid)
            outcomes.append(reply.outcome.value)
        out[spec.session_id] = outcomes

    asyncio.run(_gather(specs, services.config.concurrency, one))
    return out


class BareState(TypedDict):
    """The bare LangGraph loop's state: the usual reducer lists."""

    turn: int
    seen: Annotated[list[str], operator.add]
    liked: Annotated[list[str], operator.add]
    steps: Annotated[list[dict[str, Any]], operator.add]


def bare_langgraph(services: Services, specs: tuple[SessionSpec, ...], out_dir: Path) -> Outcomes:
    """The sessions as a one-node-per-turn StateGraph with InMemorySaver; one JSON file each."""
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.graph import END, START, StateGraph
    from langgraph.runtime import Runtime

    steps = services.config.steps

    async def turn_node(state: BareState, runtime: Runtime[SessionSpec]) -> dict[str, Any]:
        spec = runtime.context
        turn = state["turn"]
        vid = services.feed(spec).next(FeedState(turn, tuple(state["seen"]), tuple(state["liked"]), ()),
                                       turn_rng(spec.seed, turn))
        assert vid is not None
        obs = Observation.of(services.corpus.get(vid), turn=turn, modality=services.config.modality)
        reply = await viewers[spec.session_id].decide(services.persona(spec), obs)
        step = Step(turn=turn, video_id=vid, outcome=reply.outcome, decision=reply.decision, raw=reply.raw)
        return {"turn": turn + 1, "seen": [vid], "liked": [vid] if reply.outcome.value == "like" else [],
                "steps": [step.model_dump(mode="json")]}

    async def route(state: BareState) -> str:
        return END if state["turn"] >= steps else "turn"

    builder = StateGraph(BareState, context_schema=SessionSpec)
    builder.add_node("turn", turn_node)
    builder.add_edge(START, "turn")
    builder.add_conditional_edges("turn", route, {"turn": "turn", END: END})
    graph = builder.compile(checkpointer=InMemorySaver())
    viewers = {s.session_id: services.viewer(s) for s in specs}
    out: Outcomes = {}
    out_dir.mkdir(parents=True, exist_ok=True)

    async def one(spec: SessionSpec) -> None:
        config: Any = {"configurable": {"thread_id": spec.session_id}, "recursion_limit": steps + 10}
        final = await graph.ainvoke({"turn": 0, "seen": [], "liked": [], "steps": []}, config, context=spec)
        (out_dir / f"{spec.session_id}.json").write_text(json.dumps({"steps": final["steps"]}))
        out[spec.session_id] = [s["outcome"] for s in final["steps"]]

    asyncio.run(_gather(specs, services.config.concurrency, one))
    return out


def runner(services: Services, out_dir: Path) -> Outcomes:
    """The sessions through the runner; the outcomes read back from the session records."""
    asyncio.run(BatchRunner(services.config, services=services).run())
    out: Outcomes = {}
    for path in sorted((out_dir / "sessions").glob("*.json")):
        record = json.loads(path.read_text())
        out[record["session_id"]] = [s["outcome"] for s in record["steps"]]
    return out


def cpu(fn: Callable[[], Outcomes]) -> tuple[float, Outcomes]:
    """CPU seconds of ``fn()`` in this process, and its result."""
    t0 = time.process_time()
    result = fn()
    return time.process_time() - t0, result


def marginal(args: argparse.Namespace, personas: tuple[str, ...], tmp: Path) -> None:
    sizes = (args.base_sessions, args.sessions)
    loops = ("runner", "bare LangGraph", "bare asyncio")
    best: dict[tuple[str, int], float] = {}
    decisions: dict[int, int] = {}
    for r in range(args.repeat):
        for n in sizes:
            out = tmp / f"m{r}-{n}"
            services = Services(_config(personas, n, args.steps, out / "run"))
            specs = build_plan(services.config, services.persona_ids)
            decisions[n] = len(specs) * args.steps
            runs: dict[str, Callable[[], Outcomes]] = {
                "runner": functools.partial(runner, services, out / "run"),
                "bare LangGraph": functools.partial(bare_langgraph, services, specs, out / "bare"),
                "bare asyncio": functools.partial(bare_asyncio, services, specs),
            }
            results = {}
            for name in loops:
                t, results[name] = cpu(runs[name])
                best[(name, n)] = min(t, best.get((name, n), float("inf")))
            assert results["runner"] == results["bare LangGraph"] == results["bare asyncio"], "loops disagree"
    extra = decisions[sizes[1]] - decisions[sizes[0]]
    per = {name: (best[(name, sizes[1])] - best[(name, sizes[0])]) / extra * 1e3 for name in loops}
    print(f"1. {len(personas)} personas x ({sizes[1]} vs {sizes[0]}) sessions x {args.steps} steps, reference viewer: "
          f"{decisions[sizes[1]]} vs {decisions[sizes[0]]} decisions, best of {args.repeat}")
    for name in loops:
        print(f"   {name:15s}: {per[name]:.3f} ms CPU per decision (marginal); "
              f"{best[(name, sizes[1])]:.2f} s CPU for {decisions[sizes[1]]} decisions")
    print(f"   runner / bare LangGraph = {per['runner'] / per['bare LangGraph']:.2f}x (target <= 1.3); "
          f"runner / bare asyncio = {per['runner'] / per['bare asyncio']:.0f}x")


def steps_scaling(args: argparse.Namespace, personas: tuple[str, ...], tmp: Path) -> None:
    total = args.long * len(personas)  # the same decisions each: long x 1 session, short x n sessions
    shapes = ((args.short, total // (args.short * len(personas))), (args.long, 1))
    best: dict[int, float] = {}
    for r in range(args.repeat):
        for steps, sessions in shapes:
            out = tmp / f"s{r}-{steps}" / "run"
            services = Services(_config(personas, sessions, steps, out))
            t, outcomes = cpu(functools.partial(runner, services, out))
            n = sum(len(v) for v in outcomes.values())
            assert n == len(personas) * sessions * steps, f"expected every decision, got {n}"
            best[steps] = min(t / n, best.get(steps, float("inf")))
    short, long = best[args.short], best[args.long]
    print(f"2. runner CPU per decision, {len(personas)} personas, {total} decisions each way, best of {args.repeat}:")
    print(f"   {args.short:4d} steps per session: {short * 1e3:.3f} ms;  {args.long:4d} steps per session: "
          f"{long * 1e3:.3f} ms;  {args.long}/{args.short} = {long / short:.3f} (target <= 1.10)")
    # the same, without the per-session costs that favour long sessions: the marginal CPU of the
    # late turns of a session against that of its early turns (one session per persona)
    mid = (args.short + args.long) // 2
    whole: dict[int, float] = {}
    for r in range(args.repeat):
        for steps in (args.short, mid, args.long):
            out = tmp / f"t{r}-{steps}" / "run"
            services = Services(_config(personas, 1, steps, out))
            t, _ = cpu(functools.partial(runner, services, out))
            whole[steps] = min(t, whole.get(steps, float("inf")))
    early = (whole[mid] - whole[args.short]) / ((mid - args.short) * len(personas))
    late = (whole[args.long] - whole[mid]) / ((args.long - mid) * len(personas))
    print(f"   marginal CPU per decision of turns {args.short}-{mid}: {early * 1e3:.3f} ms; of turns {mid}-{args.long}: "
          f"{late * 1e3:.3f} ms; late/early = {late / early:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--personas", type=int, default=26)
    ap.add_argument("--sessions", type=int, default=24)
    ap.add_argument("--base-sessions", type=int, default=4)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--short", type=int, default=10)
    ap.add_argument("--long", type=int, default=150)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-steps", action="store_true", help="only figure 1")
    args = ap.parse_args()

    from value_spectrum.personas.loading import load_builtin_personas

    personas = tuple(p.id for p in load_builtin_personas()[: args.personas])
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        # warm-up: imports, corpus, first graph compile, outside every figure
        warm = Services(_config(personas[:1], 1, 2, Path(d) / "warm" / "run"))
        runner(warm, Path(d) / "warm" / "run")
        bare_langgraph(warm, build_plan(warm.config, warm.persona_ids), Path(d) / "warm" / "bare")
        marginal(args, personas, Path(d))
        if not args.skip_steps:
            steps_scaling(args, personas, Path(d))
    print(f"({statistics.fmean([time.perf_counter() - started]):.0f} s wall in all)")


if __name__ == "__main__":
    main()
