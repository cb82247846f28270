"""Drive one session graph to its end, resuming from its checkpoint when there is one, and turn
the final state into a :class:`~value_spectrum.records.Trajectory`.

Example:
    >>> import asyncio
    >>> from value_spectrum.graphs.session import build_session_graph
    >>> # trajectory = asyncio.run(run_session(build_session_graph(), meta, context))
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from value_spectrum.graphs.session import SessionContext, SessionState, initial_state
from value_spectrum.records import Modality, Probe, SessionStatus, Step, Trajectory, Usage

logger = logging.getLogger(__name__)

NODES_PER_TURN = 4
"""Supersteps one turn can take (pick, decide, record, probe): sets the recursion limit."""


@dataclass(frozen=True)
class SessionMeta:
    """What a trajectory records about its session besides the steps."""

    session_id: str
    """Unique within the run; the checkpoint thread id."""
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
    status: SessionStatus = "error" if state.get("status") == "error" else "finished"
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


async def load_checkpoint(graph: Any, session_id: str) -> tuple[SessionState | None, bool]:
    """``(state, finished)`` of the session's checkpoint thread; ``(None, False)`` when the graph
    has no checkpointer or the thread does not exist."""
    if graph.checkpointer is None:
        return None, False
    snap = await graph.aget_state({"configurable": {"thread_id": session_id}})
    if not snap.values:
        return None, False
    return snap.values, not snap.next


async def run_session(
    graph: Any,
    meta: SessionMeta,
    context: SessionContext,
    *,
    control: Any = None,
    durability: str = "sync",
    checkpoint: tuple[SessionState | None, bool] | None = None,
) -> Trajectory:
    """Run (or resume) one session to its end.

    Args:
        graph: from :func:`~value_spectrum.graphs.session.build_session_graph`.
        meta: the session's identity; ``meta.session_id`` is the checkpoint thread.
        context: the services.
        control: a ``langgraph.types.RunControl``; ``request_drain()`` on it stops the session
            at the next node boundary with ``GraphDrained`` raised and the checkpoint kept.
        durability: LangGraph checkpoint durability (``sync`` writes before the next node).
        checkpoint: the result of :func:`load_checkpoint` when the caller already has it.

    Returns:
        The trajectory.

    Raises:
        langgraph.errors.GraphDrained: the session was drained (resume it later).
    """
    config: dict[str, Any] = {
        "configurable": {"thread_id": meta.session_id},
        "recursion_limit": NODES_PER_TURN * max(context.max_steps, 1) + 10,
    }
    state, finished = checkpoint if checkpoint is not None else await load_checkpoint(graph, meta.session_id)
    if state is not None and finished:
        logger.info("session %s already finished in its checkpoint", meta.session_id)
        return trajectory_from_state(state, meta)
    if state is not None:
        logger.info("session %s resumes at turn %d", meta.session_id, state.get("turn", 0))
    inp = None if state is not None else initial_state()
    # durability only means something with a checkpointer (and langgraph 1.2 fails on "sync"
    # without one)
    kwargs: dict[str, Any] = {"durability": durability} if graph.checkpointer is not None else {}
    final = await graph.ainvoke(inp, config, context=context, control=control, **kwargs)
    return trajectory_from_state(final, meta)
