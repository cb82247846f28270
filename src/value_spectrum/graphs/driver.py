"""Drive one session graph to its end, resuming from its checkpoint when there is one, and turn
the final state into a :class:`~value_spectrum.records.Trajectory`.

Example:
    >>> import asyncio
    >>> from value_spectrum.graphs.session import build_session_graph
    >>> # trajectory = asyncio.run(run_session(build_session_graph(), meta, context))
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from value_spectrum.graphs.session import SessionContext, SessionState, initial_state
from value_spectrum.records import Modality, Outcome, Probe, SessionStatus, Step, Trajectory, Usage

logger = logging.getLogger(__name__)

NODES_PER_TURN = 2
"""Supersteps one turn can take (the turn, a probe): sets the recursion limit."""


def thread_name(namespace: str, session_id: str) -> str:
    """The checkpoint thread of ``session_id`` in the run whose threads live under ``namespace``
    (the manifest's ``thread_ns``): ``<namespace>/<session_id>``, or the session id alone for an
    empty namespace (run directories made before namespaces existed keep their threads)."""
    return f"{namespace}/{session_id}" if namespace else session_id


@dataclass(frozen=True)
class SessionMeta:
    """What a trajectory records about its session besides the steps."""

    session_id: str
    """Unique within the run."""
    persona_id: str
    """The persona played."""
    model: str
    """The model string."""
    strategy: str = "simple"
    """Prompt strategy."""
    modality: Modality = "frames"
    """What the viewer saw."""
    feed: str = "random"
    """Feed policy name."""
    seed: int = 0
    """The session seed."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Provenance for ``Trajectory.extra``."""
    thread_ns: str = ""
    """The run's checkpoint thread namespace (see :func:`thread_name`)."""

    @property
    def thread(self) -> str:
        """The session's checkpoint thread id."""
        return thread_name(self.thread_ns, self.session_id)


def total_usage(steps: tuple[Step, ...]) -> Usage:
    """Sum of the steps' usage; ``cached`` when every step was cached."""
    return Usage(
        prompt_tokens=sum(s.usage.prompt_tokens for s in steps),
        completion_tokens=sum(s.usage.completion_tokens for s in steps),
        cost_usd=round(sum(s.usage.cost_usd for s in steps), 10),
        cached=bool(steps) and all(s.usage.cached for s in steps),
    )


def trajectory_from_state(state: SessionState, meta: SessionMeta) -> Trajectory:
    """The record of a finished session."""
    steps = tuple(Step.model_validate(s) for s in state.get("steps", []))
    probes = tuple(Probe.model_validate(p) for p in state.get("probes", []))
    extra = dict(meta.extra)
    if state.get("notes"):
        extra["notes"] = list(state["notes"])
    ended = state.get("status")
    status: SessionStatus = "error" if ended == "error" else "left" if ended == "left" else "finished"
    return Trajectory(
        session_id=meta.session_id,
        persona_id=meta.persona_id,
        model=meta.model,
        strategy=meta.strategy,
        modality=meta.modality,
        feed=meta.feed,
        seed=meta.seed,
        steps=steps,
        probes=probes,
        status=status,
        error=state.get("error", ""),
        usage=total_usage(steps),
        extra=extra,
    )


def _config(thread: str, context: SessionContext | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {"configurable": {"thread_id": thread}}
    if context is not None:
        config["recursion_limit"] = NODES_PER_TURN * max(context.max_steps, 1) + 10
    return config


def _is_stale(graph: Any, checkpoint: Mapping[str, Any]) -> bool:
    """A checkpoint written by an older layout of the graph (it routes to nodes this graph does
    not have, e.g. the old pick/decide/record), which this graph cannot continue."""
    nodes = set(graph.nodes)
    for channel in checkpoint.get("channel_versions", {}):
        if channel.startswith("branch:to:") and channel.removeprefix("branch:to:") not in nodes:
            return True
    return False


async def load_checkpoint(graph: Any, thread: str) -> tuple[SessionState | None, bool]:
    """``(state, finished)`` of a session's checkpoint thread (``SessionMeta.thread``);
    ``(None, False)`` when the graph has no checkpointer or the thread does not exist.

    ``state`` is the thread's live state: its newest checkpoint with the writes of the turn that
    finished after it already applied (see below). ``finished`` is True for a thread that reached
    its end, whether it ended ``finished`` or in ``error`` (``state["status"]`` tells which). A
    thread left by an older layout of the session graph cannot be continued: it is deleted (with
    a warning) and reported as missing, so that session starts again from its first turn.

    A process killed after a turn's writes were stored (LangGraph's pending writes, saved as the
    node finishes) but before the checkpoint that follows them leaves a thread whose newest
    checkpoint lists that turn as its only task, already done: ``get_state`` then shows ``next``
    empty, because the following turn is scheduled only by the checkpoint that was never written.
    That thread is not finished: resuming it applies the stored writes (the turn is not asked
    again) and goes on. A thread has ended only when its newest checkpoint schedules nothing and
    holds no such done-but-unapplied task.
    """
    saver = graph.checkpointer
    if saver is None:
        return None, False
    config = _config(thread)
    found = await saver.aget_tuple(config)  # one lookup; most sessions have no thread yet
    if found is None:
        return None, False
    if _is_stale(graph, found.checkpoint):
        logger.warning(
            "session %s: its checkpoint was written by an older session graph and cannot be "
            "continued; it starts again from turn 0", thread,
        )
        await saver.adelete_thread(thread)
        return None, False
    snap = await graph.aget_state(config)
    if not snap.values:
        return None, False
    if "turn" not in snap.values:
        # killed between the thread's first checkpoint and the storing of its input: no turn
        # was taken, and resuming would start the graph without its input; start afresh
        logger.info("session %s: its checkpoint thread holds no input yet; it starts at turn 0", thread)
        await saver.adelete_thread(thread)
        return None, False
    finished = not snap.next and not snap.tasks
    if not snap.next and snap.tasks:
        logger.info(
            "session %s: its last node's writes are stored without the checkpoint after them; "
            "they are applied on resume (turn %s kept)", thread, snap.values.get("turn"),
        )
    if finished and not snap.values.get("done", False):
        # nothing scheduled and nothing pending, yet the session is not done: no graph of ours
        # ends that way, so the thread is not one this graph wrote; it starts again from turn 0
        logger.warning(
            "session %s: its checkpoint thread ended although the session is not done; "
            "it starts again from turn 0", thread,
        )
        await saver.adelete_thread(thread)
        return None, False
    return snap.values, finished


def _good_turns(state: SessionState) -> int:
    """How many turns precede the trailing run of ``error`` steps in ``state``."""
    steps = state.get("steps", [])
    good = len(steps)
    while good > 0 and steps[good - 1]["outcome"] == Outcome.ERROR.value:
        good -= 1
    return good


async def _last_good_turn(graph: Any, thread: str, state: SessionState) -> dict[str, Any] | None:
    """The config of the checkpoint right after the session's last good turn (the newest one at
    the turn where its trailing run of ``error`` steps began), or None when the thread no longer
    holds it."""
    good = _good_turns(state)
    async with aclosing(graph.checkpointer.alist(_config(thread))) as history:
        async for found in history:  # newest first
            values = found.checkpoint.get("channel_values", {})
            if values.get("turn") == good and not values.get("done", False):
                config: dict[str, Any] = found.config
                return config
    return None


async def run_session(
    graph: Any,
    meta: SessionMeta,
    context: SessionContext,
    *,
    control: Any = None,
    durability: str = "sync",
    checkpoint: tuple[SessionState | None, bool] | None = None,
    retry_error: bool = False,
    start: Mapping[str, Any] | None = None,
) -> Trajectory:
    """Run (or resume) one session to its end.

    Args:
        graph: from :func:`~value_spectrum.graphs.session.build_session_graph`.
        meta: the session's identity; ``meta.thread`` is its checkpoint thread.
        context: the services.
        control: a ``langgraph.types.RunControl``; ``request_drain()`` on it stops the session
            at the next turn boundary with ``GraphDrained`` raised and the checkpoint kept.
        durability: LangGraph checkpoint durability (``sync`` writes before the next turn).
        checkpoint: the result of :func:`load_checkpoint` when the caller already has it.
        retry_error: when the checkpoint thread ended in ``error`` (too many failed turns in a
            row: a provider fault, a server gone), continue it from its last good turn: the
            trailing ``error`` steps are dropped and those turns asked again (same videos: the
            feed's RNG is per turn); the good turns are never redone. Without a thread to
            continue, the session starts from turn 0. False: an ended thread is returned as is.
        start: the state a session without a thread starts from (a fork's state at turn K, see
            :mod:`value_spectrum.runner.fork`); None: :func:`initial_state`.

    Returns:
        The trajectory.

    Raises:
        langgraph.errors.GraphDrained: the session was drained (resume it later).
    """
    config = _config(meta.thread, context)
    state, finished = checkpoint if checkpoint is not None else await load_checkpoint(graph, meta.thread)
    inp: SessionState | None = None
    ended_in_error = state is not None and state.get("done", False) and state.get("status") == "error"
    if state is not None and ended_in_error and retry_error:
        # (``done`` rather than ``finished``: a thread killed after its last error turn's writes
        # were stored, before its final checkpoint, has ended in error too)
        fork = await _last_good_turn(graph, meta.thread, state)
        if fork is None:
            logger.warning("session %s: no checkpoint of its last good turn; it starts again", meta.session_id)
            await graph.checkpointer.adelete_thread(meta.thread)
            state, finished = None, False
        else:
            logger.info("session %s ended in error; it continues after its last good turn %d",
                        meta.session_id, _good_turns(state))
            config["configurable"] = dict(fork["configurable"])
            finished = False
    elif retry_error and state is None:
        logger.warning("session %s: no checkpoint to continue from; it starts again from turn 0", meta.session_id)
    if state is not None and finished:
        logger.info("session %s already finished in its checkpoint", meta.session_id)
        return trajectory_from_state(state, meta)
    if state is None:
        inp = initial_state() if start is None else SessionState(**start)  # type: ignore[typeddict-item]
    else:
        logger.info("session %s resumes at turn %d", meta.session_id, state.get("turn", 0))
    # durability only means something with a checkpointer (and langgraph 1.2 fails on "sync"
    # without one)
    kwargs: dict[str, Any] = {"durability": durability} if graph.checkpointer is not None else {}
    final = await graph.ainvoke(inp, config, context=context, control=control, **kwargs)
    return trajectory_from_state(final, meta)

