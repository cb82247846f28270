"""The feed session as a LangGraph graph: pick -> decide -> record -> (probe) -> pick ... -> end.

State (:class:`SessionState`) is a TypedDict of plain JSON-able data with reducers (steps, probes,
seen, liked and search hits are appended; the turn counter and flags are replaced), so any
LangGraph checkpointer can serialise it. Services (viewer, corpus, persona, feed policy, search
tool, probe hook, seed) travel in the runtime context (:class:`SessionContext`), never in state.

Every node is a superstep, and a checkpointer saves state after each one: a session killed in
the middle resumes at its last finished node with ``thread_id = session_id``
(:func:`run_session` does this). Randomness is derived per turn from (session seed, turn), so a
resumed session is identical to an uninterrupted one.

One bad reply never poisons the session: a viewer that raises or returns a failure outcome
gives a step with that outcome, and only ``max_consecutive_errors`` errors in a row end the
session, with status ``error``.
"""

from __future__ import annotations

import inspect
import logging
import operator
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypedDict, overload

from langgraph.runtime import Runtime

from value_spectrum.agents.base import SearchTool, Viewer, ViewerReply
from value_spectrum.graphs.feeds import FeedPolicy, FeedState, derive_seed
from value_spectrum.personas.model import Persona
from value_spectrum.records import (
    Decision,
    Modality,
    Observation,
    Outcome,
    Probe,
    Step,
    Usage,
)
from value_spectrum.retrieval.corpus import Corpus

if TYPE_CHECKING:
    from langgraph.graph.state import CompiledStateGraph
    from langgraph.types import Checkpointer

logger = logging.getLogger(__name__)

ProbeHook = Callable[[Persona | None, Viewer, int], "Awaitable[Probe | None] | Probe | None"]
"""``(persona, viewer, after_turn) -> Probe | None``, sync or async: a questionnaire between
turns (``agents.ask_questionnaire`` wrapped), or None to skip."""

StepHook = Callable[[Step], None]
"""Called once per recorded step (progress bars, cost meters)."""


class SessionState(TypedDict, total=False):
    """The checkpointed state of one session: JSON-able data only."""

    turn: int
    """Steps recorded so far (= the next turn's index)."""
    steps: Annotated[list[dict[str, Any]], operator.add]
    """Recorded steps (``Step.model_dump(mode='json')``), appended."""
    probes: Annotated[list[dict[str, Any]], operator.add]
    """Probes (``Probe.model_dump(mode='json')``), appended."""
    seen: Annotated[list[str], operator.add]
    """Video ids shown, appended at pick time."""
    liked: Annotated[list[str], operator.add]
    """Video ids liked, appended."""
    search_queue: Annotated[list[str], operator.add]
    """Video ids returned by the viewer's searches, appended in the order found."""
    notes: Annotated[list[str], operator.add]
    """Problems that are not steps (a failed probe), appended."""
    current: str | None
    """The picked video awaiting a decision."""
    reply: dict[str, Any] | None
    """The decided reply awaiting its record."""
    errors_in_row: int
    """Consecutive turns that ended in ``error``."""
    done: bool
    """True once the session has ended."""
    status: str
    """How it ended: finished | error (see ``records.SessionStatus``)."""
    error: str
    """Why it ended early."""


@dataclass(frozen=True)
class SessionContext:
    """Services for one session, passed as the graph's runtime context (never checkpointed)."""

    viewer: Viewer
    """Who decides."""
    corpus: Corpus
    """Where the videos come from."""
    persona: Persona | None
    """Who the viewer plays (None for the plain strategy)."""
    feed: FeedPolicy
    """Which video comes next."""
    seed: int
    """The session seed; each turn's RNG derives from it."""
    max_steps: int
    """Decisions in a full session."""
    search: SearchTool | None = None
    """The search tool offered to the viewer, if any."""
    probe: ProbeHook | None = None
    """Questionnaire hook, called every ``probe_every`` turns."""
    probe_every: int = 0
    """Turns between probes (0: never)."""
    modality: Modality = "frames"
    """What the viewer is shown."""
    render_keyframes: bool = True
    """Resolve (and render) keyframes for the frames modality; off for viewers that ignore
    images (the reference viewer)."""
    max_consecutive_errors: int = 5
    """The session ends with status ``error`` after this many ``error`` steps in a row."""
    history_window: int = 20
    """How many recent steps the viewer gets as history."""
    record_latency: bool = True
    """Store each decision's wall time; off for byte-identical reruns."""
    on_step: StepHook | None = None
    """Called after each recorded step."""
    clock: Callable[[], float] = field(default=time.perf_counter)
    """Monotonic clock for latencies."""


def initial_state() -> SessionState:
    """The state of a session before its first turn."""
    return SessionState(
        turn=0, steps=[], probes=[], seen=[], liked=[], search_queue=[], notes=[],
        current=None, reply=None, errors_in_row=0, done=False, status="finished", error="",
    )


# ---- nodes ----------------------------------------------------------------------------------
class StepHistory(Sequence[Step]):
    """The recent steps as a read-only sequence, validated into :class:`Step` only when a viewer
    reads them (most viewers never do; validating every turn cost more than the decision)."""

    def __init__(self, raw: list[dict[str, Any]]) -> None:
        self._raw = raw
        self._cache: dict[int, Step] = {}

    def __len__(self) -> int:
        return len(self._raw)

    @overload
    def __getitem__(self, index: int) -> Step: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Step]: ...
    def __getitem__(self, index: int | slice) -> Step | Sequence[Step]:
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(len(self._raw))))
        n = index + len(self._raw) if index < 0 else index
        if not 0 <= n < len(self._raw):
            raise IndexError(index)
        if n not in self._cache:
            self._cache[n] = Step.model_validate(self._raw[n])
        return self._cache[n]


def turn_rng(seed: int, turn: int) -> random.Random:
    """The feed's RNG for one turn: a pure function of (session seed, turn)."""
    return random.Random(derive_seed("feed", seed, turn))


async def _pick(state: SessionState, runtime: Runtime[SessionContext]) -> dict[str, Any]:
    ctx = runtime.context
    turn = state["turn"]
    if turn >= ctx.max_steps:
        return {"done": True, "status": "finished"}
    feed_state = FeedState(
        turn=turn,
        seen=tuple(state["seen"]),
        liked=tuple(state["liked"]),
        search_queue=tuple(state["search_queue"]),
    )
    video_id = ctx.feed.next(feed_state, turn_rng(ctx.seed, turn))
    if video_id is None:
        logger.info("feed exhausted after %d turns", turn)
        return {"done": True, "status": "finished", "error": "feed exhausted"}
    return {"current": video_id, "seen": [video_id]}


def _hit_ids(result: Any) -> list[str]:
    if not isinstance(result, list):
        return []
    ids: list[str] = []
    for hit in result:
        if isinstance(hit, dict):
            vid = hit.get("video_id", hit.get("id"))
            if isinstance(vid, str):
                ids.append(vid)
    return ids


async def _decide(state: SessionState, runtime: Runtime[SessionContext]) -> dict[str, Any]:
    ctx = runtime.context
    video_id = state["current"]
    assert video_id is not None
    turn = state["turn"]
    hits: list[str] = []
    search: SearchTool | None = None
    if ctx.search is not None:
        inner = ctx.search

        def search(query: str, k: int = 5, platform: str | None = None) -> list[dict[str, Any]] | str:
            result = inner(query, k=k, platform=platform)
            hits.extend(_hit_ids(result))
            return result

    start = ctx.clock()
    try:
        video = ctx.corpus.get(video_id)
        frames: tuple[str, ...] = ()
        if ctx.modality == "frames" and ctx.render_keyframes:
            frames = tuple(str(p) for p in ctx.corpus.keyframe_paths(video))
        obs = Observation.of(video, turn=turn, keyframes=frames, modality=ctx.modality)
        window = state["steps"][-ctx.history_window :] if ctx.history_window > 0 else []
        history = StepHistory(window)
        reply = await ctx.viewer.decide(ctx.persona, obs, history=history, search=search)
        if not isinstance(reply, ViewerReply):
            raise TypeError(f"viewer {ctx.viewer.name!r} returned {type(reply).__name__}, not ViewerReply")
    except Exception as exc:  # a failing viewer is a recorded outcome, never a crash
        logger.warning("turn %d: viewer raised %s: %s", turn, type(exc).__name__, exc)
        reply = ViewerReply(outcome=Outcome.ERROR, error=f"{type(exc).__name__}: {exc}")
    latency = ctx.clock() - start if ctx.record_latency else 0.0
    return {
        "reply": {
            "outcome": Outcome(reply.outcome).value,
            "decision": None if reply.decision is None else reply.decision.model_dump(mode="json"),
            "raw": reply.raw,
            "earlier_raws": list(reply.earlier_raws),
            "repaired": reply.repaired,
            "error": reply.error,
            "searches": list(reply.searches),
            "usage": reply.usage.model_dump(mode="json"),
            "latency_s": round(latency, 6),
            "hits": hits,
        }
    }


async def _record(state: SessionState, runtime: Runtime[SessionContext]) -> dict[str, Any]:
    ctx = runtime.context
    reply = state["reply"]
    video_id = state["current"]
    assert reply is not None
    assert video_id is not None
    outcome = Outcome(reply["outcome"])
    decision = reply["decision"]
    error = reply["error"]
    if outcome in (Outcome.LIKE, Outcome.SKIP) and decision is None:
        outcome, error = Outcome.ERROR, f"viewer gave outcome {outcome.value!r} without a decision"
    if outcome not in (Outcome.LIKE, Outcome.SKIP):
        decision = None
    step = Step(
        turn=state["turn"],
        video_id=video_id,
        outcome=outcome,
        decision=None if decision is None else Decision.model_validate(decision),
        raw=reply["raw"],
        earlier_raws=tuple(reply.get("earlier_raws", ())),
        repaired=bool(reply.get("repaired", False)) and decision is not None,
        error=error,
        searches=tuple(reply["searches"]),
        usage=Usage.model_validate(reply["usage"]),
        latency_s=reply["latency_s"],
    )
    errors = state["errors_in_row"] + 1 if outcome is Outcome.ERROR else 0
    turn = state["turn"] + 1
    update: dict[str, Any] = {
        "steps": [step.model_dump(mode="json")],
        "turn": turn,
        "liked": [video_id] if outcome is Outcome.LIKE else [],
        "search_queue": reply["hits"],
        "errors_in_row": errors,
        "current": None,
        "reply": None,
    }
    if errors >= ctx.max_consecutive_errors:
        update |= {"done": True, "status": "error", "error": f"{errors} errors in a row; last: {error}"}
    elif turn >= ctx.max_steps:
        update |= {"done": True, "status": "finished"}
    if ctx.on_step is not None:
        ctx.on_step(step)
    return update


async def _probe(state: SessionState, runtime: Runtime[SessionContext]) -> dict[str, Any]:
    ctx = runtime.context
    assert ctx.probe is not None
    try:
        result = ctx.probe(ctx.persona, ctx.viewer, state["turn"])
        probe = await result if inspect.isawaitable(result) else result
    except Exception as exc:
        logger.warning("probe after turn %d failed: %s: %s", state["turn"], type(exc).__name__, exc)
        return {"notes": [f"probe after turn {state['turn']} failed: {type(exc).__name__}: {exc}"]}
    if probe is None:
        return {}
    return {"probes": [Probe.model_validate(probe).model_dump(mode="json")]}


# ---- routing --------------------------------------------------------------------------------
# async on purpose: LangGraph runs sync routers of an async graph in a thread pool, and that
# hand-off cost more than the rest of a turn (benchmarks/bench_session.py)
async def _after_pick(state: SessionState) -> Literal["decide", "__end__"]:
    return "__end__" if state["done"] else "decide"


async def _after_record(state: SessionState, runtime: Runtime[SessionContext]) -> Literal["probe", "pick", "__end__"]:
    ctx = runtime.context
    if ctx.probe is not None and ctx.probe_every > 0 and state["turn"] % ctx.probe_every == 0:
        return "probe"
    return "__end__" if state["done"] else "pick"


async def _after_probe(state: SessionState) -> Literal["pick", "__end__"]:
    return "__end__" if state["done"] else "pick"


def build_session_graph(checkpointer: Checkpointer = None) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the session graph.

    Args:
        checkpointer: any LangGraph checkpointer (``AsyncSqliteSaver`` in the runner); None for
            an in-memory run that cannot resume.

    Returns:
        The compiled graph; invoke it with ``context=SessionContext(...)``.
    """
    from langgraph.graph import END, START, StateGraph

    builder = StateGraph(SessionState, context_schema=SessionContext)
    builder.add_node("pick", _pick)
    builder.add_node("decide", _decide)
    builder.add_node("record", _record)
    builder.add_node("probe", _probe)
    builder.add_edge(START, "pick")
    builder.add_conditional_edges("pick", _after_pick, {"decide": "decide", "__end__": END})
    builder.add_edge("decide", "record")
    builder.add_conditional_edges(
        "record", _after_record, {"probe": "probe", "pick": "pick", "__end__": END}
    )
    builder.add_conditional_edges("probe", _after_probe, {"pick": "pick", "__end__": END})
    return builder.compile(checkpointer=checkpointer, name="feed_session")
