"""The driver's side of a multi-worker run: one queue of planned sessions, handed one at a time
to the least busy live worker, every streamed turn and ended session passed to the runner.

One loop for every multi-worker executor: the Ray executor's actors
(:class:`~value_spectrum.runner.ray_actors.ActorPool`) and the process executor's worker
processes (:class:`~value_spectrum.runner.process_executor.ProcessPool`) differ only in how a
session is started on a worker and how a lost worker shows; both implement :class:`WorkerPool`.

``concurrency`` sessions are in flight across all workers (the same meaning as locally). A lost
worker (its process was killed, its node died) fails its sessions with one of the pool's
``lost_errors``: the pool drops it (and may start a replacement) and its sessions go back to the
front of the queue, continuing from their last checkpoint on another worker. A turn streamed
twice (done before the loss, redone after it) is counted once, and a session's record is written
once, by the driver, so nothing is lost or doubled.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from value_spectrum.records import Step, Trajectory
from value_spectrum.runner.plan import SessionSpec

if TYPE_CHECKING:
    from value_spectrum.runner.runner import Runner

logger = logging.getLogger(__name__)

MAX_SESSION_TRIES = 3
"""Times a session is handed out again after the workers running it were lost."""


class NoWorkersLeft(RuntimeError):
    """Every worker of the pool was lost (and none could be replaced): the sessions not yet run
    stay unrecorded, for the next run."""


@dataclass
class Sink:
    """What the driver does with what the workers send back (the runner's seams)."""

    on_step: Callable[[Step], None]
    """Called once per decision (progress, spend, budget stop)."""
    on_trajectory: Callable[[Trajectory], Awaitable[None]]
    """A finished (or error-ended) session: write its record."""
    on_failed: Callable[[SessionSpec, str], None]
    """A session that raised, or was lost too often."""
    stop_reason: Callable[[], str | None]
    """Why the run is stopping (None: it is not)."""
    on_resumed: Callable[[SessionSpec], None] = lambda spec: None
    """A session continued from a checkpoint."""
    on_formats: Callable[[dict[str, str]], None] = lambda modes: None
    """A worker's structured-output modes (model -> mode), sent when they change."""


def sink_of(runner: Runner) -> Sink:
    """The :class:`Sink` that hands everything to ``runner`` (its step count, records, summary)."""

    def on_failed(spec: SessionSpec, text: str) -> None:
        runner.summary.sessions_failed.append(f"{spec.session_id}: {text}")

    def on_resumed(spec: SessionSpec) -> None:
        runner.summary.sessions_resumed += 1

    return Sink(on_step=runner.on_step, on_trajectory=runner.session_ended, on_failed=on_failed,
                stop_reason=lambda: runner.stop_reason, on_resumed=on_resumed,
                on_formats=runner.note_response_formats)


@dataclass
class PoolWorker:
    """One worker as the driver sees it."""

    handle: Any
    """The pool's own handle (a Ray actor handle, a worker process's connection)."""
    where: str
    """``host:pid``, for messages."""
    load: int = 0
    """Sessions running on it now."""
    alive: bool = True


class WorkerPool(Protocol):
    """Workers that run sessions (:class:`~value_spectrum.runner.session_worker.SessionWorker`
    bodies) for :func:`dispatch`."""

    lost_errors: tuple[type[BaseException], ...]
    """What :meth:`stream` raises when its worker was lost."""

    async def pick(self) -> PoolWorker:
        """The least busy live worker (waits for a replacement when none is alive; raises when
        none can come)."""
        ...

    def stream(self, worker: PoolWorker, spec: SessionSpec, retry_error: bool) -> AsyncIterator[tuple[str, str]]:
        """Run ``spec`` on ``worker``: its ``(kind, body)`` items (``SessionWorker.run``)."""
        ...

    def lost(self, worker: PoolWorker, exc: BaseException) -> None:
        """``worker`` was lost (``exc``): mark it dead, start a replacement if the pool does."""
        ...

    def forget(self, worker: PoolWorker, session_id: str) -> None:
        """Drop a recorded session's checkpoint thread (best effort, not awaited)."""
        ...

    async def drain(self, reason: str) -> None:
        """Ask every live worker to stop its sessions at their next node boundary."""
        ...


async def dispatch(pool: WorkerPool, todo: Sequence[SessionSpec], sink: Sink, *, concurrency: int,
                   retry: frozenset[str] = frozenset()) -> None:
    """Run ``todo`` on ``pool`` to the end (or to a stop): every session once, its record via
    ``sink``, at most ``concurrency`` sessions in flight."""
    queue: list[SessionSpec] = list(todo)
    tries: dict[str, int] = {}
    seen_steps: dict[str, int] = {}
    wake = asyncio.Event()
    in_flight: set[asyncio.Task[None]] = set()
    writing: set[asyncio.Task[None]] = set()

    gone: list[NoWorkersLeft] = []  # set once no worker is left: nothing more is handed out

    async def record(spec: SessionSpec, trajectory: Trajectory, worker: PoolWorker) -> None:
        try:
            await sink.on_trajectory(trajectory)
        except Exception as exc:
            logger.exception("session %s could not be recorded", spec.session_id)
            sink.on_failed(spec, f"{type(exc).__name__}: {exc}")
            return
        if trajectory.status != "error" and worker.alive:  # its thread, once the record is safe
            with contextlib.suppress(Exception):
                pool.forget(worker, spec.session_id)

    async def one(spec: SessionSpec) -> None:
        sid = spec.session_id
        worker: PoolWorker | None = None
        finished = False  # its record is on its way: a worker lost after this runs it no more
        try:
            worker = await pool.pick()
            worker.load += 1
            async for kind, body in pool.stream(worker, spec, sid in retry):
                if kind == "step":
                    step = Step.model_validate_json(body)
                    if step.turn >= seen_steps.get(sid, 0):  # a redone turn counts once
                        seen_steps[sid] = step.turn + 1
                        sink.on_step(step)
                        if sink.stop_reason() is not None:
                            wake.set()  # the driver drains the workers
                elif kind == "resumed":
                    sink.on_resumed(spec)
                elif kind == "done":
                    finished = True
                    # the record is written (and fsynced) beside the run: the session's slot is
                    # free for the next session meanwhile
                    trajectory = Trajectory.model_validate_json(body)
                    task = asyncio.create_task(record(spec, trajectory, worker))
                    writing.add(task)
                    task.add_done_callback(writing.discard)
                elif kind == "formats":
                    sink.on_formats(json.loads(body))
                elif kind == "drained":
                    logger.info("session %s stopped (%s); it resumes next time", sid, body)
                elif kind == "failed":
                    sink.on_failed(spec, body)
        except asyncio.CancelledError:
            raise
        except NoWorkersLeft as exc:
            if not gone:
                logger.error("%s; the sessions not finished continue when the same command runs again", exc)
                gone.append(exc)
            sink.on_failed(spec, str(exc))
        except pool.lost_errors as exc:
            assert worker is not None
            if worker.alive:
                pool.lost(worker, exc)
            if finished:
                return
            tries[sid] = tries.get(sid, 0) + 1
            if tries[sid] >= MAX_SESSION_TRIES:
                sink.on_failed(spec, f"lost with {tries[sid]} workers: {exc}")
            else:
                queue.insert(0, spec)
        except Exception as exc:  # the sink, a reply that cannot be read, no worker left
            logger.exception("session %s failed on the driver", sid)
            sink.on_failed(spec, f"{type(exc).__name__}: {exc}")
        finally:
            if worker is not None:
                worker.load -= 1
            in_flight.discard(asyncio.current_task())  # type: ignore[arg-type]
            wake.set()

    drained = False
    while queue or in_flight:
        reason = sink.stop_reason()
        if reason is not None and not drained:
            drained = True
            await pool.drain(reason)
        while queue and len(in_flight) < concurrency and sink.stop_reason() is None and not gone:
            in_flight.add(asyncio.create_task(one(queue.pop(0))))
        if not in_flight:
            break
        wake.clear()
        await wake.wait()
    if writing:
        await asyncio.gather(*list(writing))
