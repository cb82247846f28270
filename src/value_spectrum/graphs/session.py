"""The feed session as a LangGraph graph: turn -> turn -> ... -> end, with a probe node between
turns only on probe turns.

State (:class:`SessionState`) is a TypedDict of plain JSON-able data (steps, probes and search
hits are appended through ``DeltaChannel`` s; the turn counter and flags are replaced; the videos
seen and liked are read off the steps), so any LangGraph checkpointer can serialise it. Services (viewer, corpus, persona, feed policy, search
tool, probe hook, seed) travel in the runtime context (:class:`SessionContext`), never in state.

One turn (pick the video, ask the viewer, record the step) is one node, one superstep, and a
checkpointer saves state after each one: a session killed in the middle resumes at its last
finished turn from its thread (``SessionMeta.thread``: the run's namespace and the session id;
:func:`~value_spectrum.graphs.driver.run_session` does this). Randomness is derived per turn from (session seed, turn), so a
resumed session is identical to an uninterrupted one.

One bad reply never poisons the session: a viewer that raises or returns a failure outcome
gives a step with that outcome, and only ``max_consecutive_errors`` errors in a row end the
session, with status ``error``.
"""

from __future__ import annotations

import inspect
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypedDict, overload

from langgraph.channels import DeltaChannel
from langgraph.runtime import Runtime
from langgraph.types import Command

from value_spectrum.agents.base import SearchTool, Viewer, ViewerReply
from value_spectrum.graphs.feeds import FeedPolicy, FeedState, derive_seed
from value_spectrum.personas.model import Persona
from value_spectrum.records import Modality, Observation, Outcome, Probe, Step
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

Next = Literal["turn", "probe", "__end__"]
"""Where a node sends the session next."""


def _append(acc: list[Any], writes: Sequence[list[Any]]) -> list[Any]:
    """The reducer of the appended channels: one turn's items after the earlier ones."""
    return [*acc, *(item for items in writes for item in items)]


SNAPSHOT_EVERY = 100_000
"""Updates between full snapshots of an appended channel: never in a session of ordinary length
(LangGraph still snapshots after 5,000 supersteps without one, bounding a resume's replay)."""


def _appended() -> DeltaChannel[list[Any]]:
    return DeltaChannel(_append, list, snapshot_frequency=SNAPSHOT_EVERY)


class SessionState(TypedDict, total=False):
    """The checkpointed state of one session: JSON-able data only.

    The growing lists are LangGraph ``DeltaChannel`` s: a checkpoint stores only the turn's new
    items (as the node's writes), never the whole list, so the data saved per turn stays the same
    size however long the session runs; a resume rebuilds the lists from those writes.
    """

    turn: int
    """Steps recorded so far (= the next turn's index)."""
    steps: Annotated[list[dict[str, Any]], _appended()]
    """Recorded steps (``Step.model_dump(mode='json')``), appended."""
    probes: Annotated[list[dict[str, Any]], _appended()]
    """Probes (``Probe.model_dump(mode='json')``), appended."""
    search_queue: Annotated[list[str], _appended()]
    """Video ids returned by the viewer's searches, appended in the order found."""
    notes: Annotated[list[str], _appended()]
    """Problems that are not steps (a failed probe), appended."""
    errors_in_row: int
    """Consecutive turns that ended in ``error``."""
    done: bool
    """True once the session has ended."""
    status: str
    """How it ended: finished | left (the viewer left the feed) | error (see
    ``records.SessionStatus``)."""
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
        turn=0, steps=[], probes=[], search_queue=[], notes=[],
        errors_in_row=0, done=False, status="finished", error="",
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


def _feed_state(state: SessionState) -> FeedState:
    """What the feed policy sees, derived from the recorded steps (no channel of its own: every
    channel a turn writes costs a serialisation in the checkpoint)."""
    steps = state["steps"]
    return FeedState(
        turn=state["turn"],
        seen=tuple(s["video_id"] for s in steps),
        liked=tuple(s["video_id"] for s in steps if s["outcome"] == "like"),
        search_queue=tuple(state["search_queue"]),
    )


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


async def _decide(
    ctx: SessionContext, state: SessionState, video_id: str, hits: list[str]
) -> tuple[ViewerReply, float]:
    """Ask the viewer; a viewer that raises (or returns something else) gives an ``error`` reply."""
    turn = state["turn"]
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
        reply = await ctx.viewer.decide(ctx.persona, obs, history=StepHistory(window), search=search)
        if not isinstance(reply, ViewerReply):
            raise TypeError(f"viewer {ctx.viewer.name!r} returned {type(reply).__name__}, not ViewerReply")
    except Exception as exc:  # a failing viewer is a recorded outcome, never a crash
        logger.warning("turn %d: viewer raised %s: %s", turn, type(exc).__name__, exc)
        reply = ViewerReply(outcome=Outcome.ERROR, error=f"{type(exc).__name__}: {exc}")
    latency = ctx.clock() - start if ctx.record_latency else 0.0
    return reply, round(latency, 6)


def _step(turn: int, video_id: str, reply: ViewerReply, latency_s: float) -> Step:
    """The recorded step: a like or skip without a decision is an ``error``; a failure keeps no
    decision."""
    outcome = Outcome(reply.outcome)
    decision = reply.decision
    error = reply.error
    if outcome in (Outcome.LIKE, Outcome.SKIP) and decision is None:
        outcome, error = Outcome.ERROR, f"viewer gave outcome {outcome.value!r} without a decision"
    if outcome not in (Outcome.LIKE, Outcome.SKIP):
        decision = None
    return Step(
        turn=turn,
        video_id=video_id,
        outcome=outcome,
        decision=decision,
        raw=reply.raw,
        earlier_raws=tuple(reply.earlier_raws),
        repaired=reply.repaired and decision is not None,
        error=error,
        searches=tuple(reply.searches),
        usage=reply.usage,
        latency_s=latency_s,
    )


async def _turn(state: SessionState, runtime: Runtime[SessionContext]) -> Command[Next]:
    """One whole turn in one superstep: pick the next video, ask the viewer, record the step,
    and route (``Command.goto``: the next turn, the probe on probe turns, or the end)."""
    ctx = runtime.context
    turn = state["turn"]
    if turn >= ctx.max_steps:
        return Command(update={"done": True, "status": "finished"}, goto="__end__")
    video_id = ctx.feed.next(_feed_state(state), turn_rng(ctx.seed, turn))
    if video_id is None:
        logger.info("feed exhausted after %d turns", turn)
        return Command(update={"done": True, "status": "finished", "error": "feed exhausted"}, goto="__end__")
    hits: list[str] = []
    reply, latency = await _decide(ctx, state, video_id, hits)
    step = _step(turn, video_id, reply, latency)
    errors = state["errors_in_row"] + 1 if step.outcome is Outcome.ERROR else 0
    # only what changed: every channel written is serialised into the checkpoint
    update: dict[str, Any] = {"steps": [step.model_dump(mode="json")], "turn": turn + 1}
    if errors != state["errors_in_row"]:
        update["errors_in_row"] = errors
    if hits:
        update["search_queue"] = hits
    if errors >= ctx.max_consecutive_errors:
        update |= {"done": True, "status": "error", "error": f"{errors} errors in a row; last: {step.error}"}
    elif step.decision is not None and step.decision.leave:  # the viewer left the feed
        update |= {"done": True, "status": "left"}
    elif turn + 1 >= ctx.max_steps:
        update |= {"done": True, "status": "finished"}
    if ctx.on_step is not None:
        ctx.on_step(step)
    if ctx.probe is not None and ctx.probe_every > 0 and (turn + 1) % ctx.probe_every == 0:
        return Command(update=update, goto="probe")
    return Command(update=update, goto="__end__" if update.get("done") else "turn")


async def _probe(state: SessionState, runtime: Runtime[SessionContext]) -> Command[Next]:
    """The questionnaire between turns (only on probe turns: its own superstep)."""
    ctx = runtime.context
    assert ctx.probe is not None
    goto: Next = "__end__" if state["done"] else "turn"
    try:
        result = ctx.probe(ctx.persona, ctx.viewer, state["turn"])
        probe = await result if inspect.isawaitable(result) else result
    except Exception as exc:
        logger.warning("probe after turn %d failed: %s: %s", state["turn"], type(exc).__name__, exc)
        note = f"probe after turn {state['turn']} failed: {type(exc).__name__}: {exc}"
        return Command(update={"notes": [note]}, goto=goto)
    if probe is None:
        return Command(goto=goto)
    return Command(update={"probes": [Probe.model_validate(probe).model_dump(mode="json")]}, goto=goto)


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
    builder.add_node("turn", _turn, destinations=("turn", "probe", END))
    builder.add_node("probe", _probe, destinations=("turn", END))
    builder.add_edge(START, "turn")
    return builder.compile(checkpointer=checkpointer, name="feed_session")
