"""The local executor: the sessions of a plan at once in this process's event loop, under a
semaphore, with one SQLite checkpoint database per run.

A session holds its slot while it runs; its record is written (and fsynced, in a worker thread)
after the slot went to the next session, so a wave of sessions ending together does not leave
the model server idle while the disk syncs. The record is still written exactly once, before the
session's checkpoint thread is deleted, and the run waits for every write before it ends.

A stop (budget, Ctrl-C) drains every running session at its next node boundary: finished
sessions are kept, unfinished ones resume next time from their checkpoint. A second Ctrl-C
cancels the running model calls.

Example:
    >>> # await Runner(plan, executor=LocalExecutor(durability="async")).run()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from value_spectrum.records import Trajectory
from value_spectrum.runner.plan import SessionSpec

if TYPE_CHECKING:
    from value_spectrum.runner.runner import Runner

logger = logging.getLogger(__name__)


class LocalExecutor:
    """Runs sessions as asyncio tasks, at most ``plan.config.concurrency`` at once.

    Args:
        durability: LangGraph checkpoint durability: ``sync`` (a checkpoint is on disk before
            the next node runs) or ``async`` (faster; a kill may redo the last node).
    """

    name = "local"

    def __init__(self, *, durability: str = "sync") -> None:
        self.durability = durability

    async def execute(self, runner: Runner, todo: Sequence[SessionSpec]) -> None:
        """Run ``todo`` (see :class:`~value_spectrum.runner.runner.Executor`)."""
        from value_spectrum.graphs.session import build_session_graph
        from value_spectrum.runner._checkpoints import open_checkpoints

        controls: set[Any] = set()
        tasks: list[asyncio.Task[None]] = []
        running: set[asyncio.Task[Any]] = set()  # sessions holding a slot (not those writing)

        def stop(reason: str) -> None:
            for control in list(controls):
                control.request_drain(reason)
            if reason == "cancel":  # a record being written is let finish: it is the session's result
                for task in list(running):
                    task.cancel()

        runner.on_stop(stop)
        config = runner.plan.config
        sem = asyncio.Semaphore(config.concurrency)
        async with open_checkpoints(
            runner.log.checkpoints_path, config.checkpoints, max_connections=min(config.concurrency, 16)
        ) as saver:
            graph = build_session_graph(saver)

            async def one(spec: SessionSpec) -> None:
                async with sem:
                    me = asyncio.current_task()
                    assert me is not None
                    running.add(me)
                    try:
                        trajectory = await self._one(runner, spec, graph, controls)
                    finally:
                        running.discard(me)
                if trajectory is not None:  # the slot is free for the next session meanwhile
                    await self._record(runner, spec, trajectory, saver)

            tasks.extend(asyncio.create_task(one(s), name=s.session_id) for s in todo)
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _one(self, runner: Runner, spec: SessionSpec, graph: Any, controls: set[Any]) -> Trajectory | None:
        """Run (or resume) one session; its trajectory, or None when it stopped or failed
        (reported)."""
        from langgraph.errors import GraphDrained
        from langgraph.runtime import RunControl

        from value_spectrum.graphs.driver import load_checkpoint, run_session

        if runner.stop_reason is not None:
            return None
        sid = spec.session_id
        try:
            context = runner.services.context(spec, max_steps=runner.plan.steps_of(spec), on_step=runner.on_step)
            meta = runner.meta(spec, runner.services.viewer_extra(context.viewer, context.persona))
            checkpoint = await load_checkpoint(graph, meta.thread)
            if checkpoint[0] is not None and not checkpoint[1]:
                runner.summary.sessions_resumed += 1
            control = RunControl()
            controls.add(control)
            if runner.stop_reason is not None:
                control.request_drain(runner.stop_reason)
            try:
                trajectory = await run_session(  # retry_error: an error-ended session continues from its last good turn
                    graph, meta, context, control=control, durability=self.durability,
                    checkpoint=checkpoint, retry_error=sid in runner.retry, start=spec.start,
                )
            finally:
                controls.discard(control)
        except GraphDrained:
            logger.info("session %s stopped (%s); it resumes next time", sid, runner.stop_reason)
            return None
        except asyncio.CancelledError:
            logger.info("session %s cancelled; it resumes next time", sid)
            return None
        except (OSError, sqlite3.Error) as exc:  # a full disk, a broken store: one line, no traceback
            runner.store_failed(spec, exc)
            return None
        except Exception as exc:
            logger.exception("session %s failed", sid)
            runner.session_failed(spec, exc)
            return None
        return trajectory

    async def _record(self, runner: Runner, spec: SessionSpec, trajectory: Trajectory, saver: Any) -> None:
        """Write an ended session's record, then drop its checkpoint thread."""
        sid = spec.session_id
        try:
            await runner.session_ended(trajectory)
        except OSError as exc:  # the session stays in the checkpoints and resumes next time
            runner.store_failed(spec, exc)
            return
        except Exception as exc:  # never lost in gather(): reported, redone next time
            logger.exception("session %s could not be recorded", sid)
            runner.session_failed(spec, exc)
            return
        if trajectory.status != "error":
            # an error-ended thread is kept: a rerun continues it from its last good turn
            with contextlib.suppress(Exception):  # the record is safe; a stale thread is harmless
                await saver.adelete_thread(runner.thread(sid))
