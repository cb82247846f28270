"""The process executor: sessions spread over worker processes on this machine, each running
many sessions at once on its own event loop.

One event loop runs every session of the local executor, so its CPU per decision (the model
client's request building, LangGraph's superstep, the checkpoint) is serial: against a fast
server at high concurrency the loop, not the model, sets the pace. Here each of ``workers``
processes (default: one per CPU this process may use) runs a
:class:`~value_spectrum.runner.session_worker.SessionWorker`, the body the Ray actors run, and
the driver hands sessions out with the same loop as the Ray executor
(:func:`~value_spectrum.runner.session_pool.dispatch`): ``concurrency`` sessions in flight in all,
each new one to the least busy worker, every decision streamed back (progress, ``--max-cost``),
every record written once by the driver's run log.

What is the same as on Ray: each session keeps a SQLite checkpoint database of its own in the
run directory's ``checkpoints/`` (or one ``--checkpoints postgresql://...`` store), so a run
continues on either executor; ``--rpm`` / ``--tpm`` hold for the whole run (one token bucket in
the driver, asked over the worker's pipe); ``--max-parallel`` holds per worker process. A worker
that dies (killed, out of memory) loses nothing: its sessions continue from their last checkpoint
on the other workers (none is started in its place). A stop (budget, Ctrl-C) drains every
session at its next node boundary; a second Ctrl-C ends the workers at once (their sessions
resume next time).

Workers are started with ``spawn`` (a fresh interpreter: no inherited threads or locks), so the
services' parts given in Python (a corpus, personas, a viewer factory) must pickle, and a script
that starts a run must guard it with ``if __name__ == "__main__":`` as ``multiprocessing``
requires. A worker's log records go to the driver, which logs them through its own handlers
(each distinct line once: every worker learns a model's response format, say, on its own).

Example:
    >>> # value-spectrum simulate --executor processes --workers 4 --concurrency 64 ...
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import pickle
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from value_spectrum.runner.plan import SessionSpec
from value_spectrum.runner.process_worker import worker_main
from value_spectrum.runner.session_pool import NoWorkersLeft, PoolWorker, dispatch, sink_of
from value_spectrum.runner.session_worker import WorkerJob

if TYPE_CHECKING:
    from value_spectrum.runner.runner import Runner

logger = logging.getLogger(__name__)

MAX_LOG_LINES_KEPT = 10_000
"""Distinct worker warnings remembered so that each is shown once (later ones are all shown)."""

CLOSE_TIMEOUT_S = 30.0
"""Seconds a worker is given to close its checkpoint store and exit before it is terminated."""


def default_workers() -> int:
    """One worker per CPU this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class WorkerLost(RuntimeError):
    """A worker process ended while it ran sessions."""


class WorkerStartError(RuntimeError):
    """A worker process could not start (the message says why, in one line)."""


class ProcessExecutor:
    """Sessions on ``workers`` local worker processes (see the module docs).

    Args:
        workers: worker processes (None: :func:`default_workers`; never more than sessions).
        durability: LangGraph checkpoint durability (``sync`` | ``async``).
    """

    name = "processes"
    per_session_checkpoints = True

    def __init__(self, *, workers: int | None = None, durability: str = "sync") -> None:
        self.workers = workers
        self.durability = durability

    async def execute(self, runner: Runner, todo: Sequence[SessionSpec]) -> None:
        """Run ``todo`` (see :class:`~value_spectrum.runner.runner.Executor`).

        Raises:
            WorkerStartError: a worker could not start (the services' parts do not pickle, the
                config cannot build its services in a fresh process).
        """
        if not todo:
            return
        config = runner.plan.config
        n = min(self.workers or config.workers or default_workers(), len(todo))
        job = WorkerJob(config_json=config.model_dump_json(), plan_json=runner.plan.model_dump_json(),
                        run_dir=str(runner.log.path), checkpoints=config.checkpoints,
                        durability=self.durability, given=runner.services.given or None,
                        thread_ns=runner.thread_ns)
        pool = ProcessPool(job, workers=n)
        sink = sink_of(runner)

        starting = asyncio.ensure_future(pool.start())

        def stop(reason: str) -> None:
            if not starting.done():  # no session has started: end the workers, nothing is lost
                if not pool.cancelled:
                    pool.cancel()
                    starting.cancel()
            elif reason == "cancel":
                pool.cancel()
            else:
                pool.drain_now(reason)

        runner.on_stop(stop)  # before the workers are up: a Ctrl-C while they start ends the run
        try:
            await starting
        except (asyncio.CancelledError, WorkerStartError):
            if runner.stop_reason is None:
                raise
            return  # stopped while starting (start() has closed the pool); every session is pending
        try:
            await dispatch(pool, todo, sink, concurrency=config.concurrency, retry=frozenset(runner.retry))
        finally:
            await pool.close()


# ---- the driver's side ----------------------------------------------------------------------
_LOST = ("lost", "")


@dataclass
class _Proc:
    """A worker process as the driver holds it."""

    process: Any
    conn: Connection
    ready: asyncio.Future[str]
    queues: dict[str, asyncio.Queue[tuple[str, str]]] = field(default_factory=dict)
    reader: threading.Thread | None = None
    send_lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, message: tuple[Any, ...]) -> None:
        with self.send_lock, contextlib.suppress(OSError, ValueError):  # a dead worker shows through its reader
            self.conn.send(message)


class ProcessPool:
    """The worker processes (a :class:`~value_spectrum.runner.session_pool.WorkerPool`).

    Args:
        job: what every worker needs (pickled to each).
        workers: how many processes.
    """

    lost_errors: tuple[type[BaseException], ...] = (WorkerLost,)

    def __init__(self, job: WorkerJob, *, workers: int) -> None:
        from value_spectrum.runner.ray_limits import RateBucket

        self.job = job
        self.n = workers
        self._pool: list[PoolWorker] = []
        self._bucket = RateBucket()  # --rpm / --tpm of the whole run
        self._cancelled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._said: set[tuple[str, str]] = set()  # the workers' log lines shown

    async def start(self) -> None:
        """Start the workers and wait until each is up (services built, graph compiled).

        Raises:
            WorkerStartError: one could not start.
        """
        try:
            pickle.dumps(self.job)
        except Exception as exc:
            raise WorkerStartError(
                "the process executor ships the run's parts to its workers by pickling, and they do not "
                f"pickle ({type(exc).__name__}: {exc}); use --executor local, or give them as importable objects"
            ) from None
        self._loop = asyncio.get_running_loop()
        try:
            for i in range(self.n):
                self._spawn(i)
            wheres = await asyncio.gather(*(w.handle.ready for w in self._pool))
        except BaseException:  # a spawn that failed (EMFILE, EAGAIN), a worker that did not start, a stop
            await self.close()
            raise
        for worker, where in zip(self._pool, wheres, strict=True):
            worker.where = where
        logger.info("%d worker processes: %s", len(self._pool), ", ".join(wheres))

    def _spawn(self, i: int) -> None:
        """Start worker ``i`` and its reader thread."""
        assert self._loop is not None
        ctx = multiprocessing.get_context("spawn")
        mine, theirs = ctx.Pipe()
        process = ctx.Process(target=worker_main,
                              args=(theirs, self.job, logging.getLogger("value_spectrum").getEffectiveLevel()),
                              name=f"value-spectrum-worker-{i}", daemon=True)
        try:
            process.start()
        except BaseException:
            mine.close()
            raise
        finally:
            theirs.close()
        proc = _Proc(process=process, conn=mine, ready=self._loop.create_future())
        worker = PoolWorker(handle=proc, where=f"pid {process.pid}")
        self._pool.append(worker)
        proc.reader = threading.Thread(target=self._read, args=(worker,), daemon=True,
                                       name=f"value-spectrum-worker-{i}-reader")
        proc.reader.start()

    def _read(self, worker: PoolWorker) -> None:
        """A worker's messages, on a thread, handed to the driver's loop."""
        proc: _Proc = worker.handle
        assert self._loop is not None
        while True:
            try:
                message = proc.conn.recv()
            except (EOFError, OSError):
                break
            except Exception as exc:  # a message that does not unpickle: the worker is unusable
                logger.error("worker %s sent an unreadable message: %s", worker.where, exc)
                break
            with contextlib.suppress(RuntimeError):  # the loop is closed: the run is over
                self._loop.call_soon_threadsafe(self._on_message, worker, message)
        # The pipe closes a moment before the process is reaped: wait for its exit code so that
        # the warning names it (one that does not exit is ended by close()).
        proc.process.join(timeout=5)
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._on_exit, worker)

    def _on_message(self, worker: PoolWorker, message: tuple[Any, ...]) -> None:
        proc: _Proc = worker.handle
        kind = message[0]
        if kind == "item":
            _, sid, item_kind, body = message
            queue = proc.queues.get(sid)
            if queue is not None:
                queue.put_nowait((item_kind, body))
        elif kind == "admit":
            _, ask, key, rpm, tpm = message
            proc.send(("admitted", ask, self._bucket.start_at(key, rpm, tpm)))
        elif kind == "spent":
            _, key, tpm, tokens = message
            self._bucket.spent(key, tpm, tokens)
        elif kind == "log":
            _, level, name, text = message
            target = logging.getLogger(name)
            if not target.isEnabledFor(level):
                return
            if level >= logging.WARNING:  # each worker says what it learned: say it once
                if (name, text) in self._said:
                    return
                if len(self._said) < MAX_LOG_LINES_KEPT:
                    self._said.add((name, text))
            target.log(level, "%s", text)
        elif kind == "ready" and not proc.ready.done():
            proc.ready.set_result(message[1])
        elif kind == "error" and not proc.ready.done():
            proc.ready.set_exception(WorkerStartError(f"a worker process could not start: {message[1]}"))

    def _on_exit(self, worker: PoolWorker) -> None:
        proc: _Proc = worker.handle
        if not proc.ready.done():
            proc.ready.set_exception(WorkerStartError(
                f"a worker process exited while starting (exit code {proc.process.exitcode}; see its output above)"))
        for queue in proc.queues.values():
            queue.put_nowait(_LOST)

    async def pick(self) -> PoolWorker:
        """The least busy live worker."""
        for worker in self._pool:  # one that died with nothing to run: no session learns it the hard way
            if worker.alive and not worker.handle.process.is_alive():
                self.lost(worker, WorkerLost(f"exit code {worker.handle.process.exitcode}"))
        live = [w for w in self._pool if w.alive]
        if not live:
            raise NoWorkersLeft("every worker process was lost")
        return min(live, key=lambda w: w.load)

    async def stream(self, worker: PoolWorker, spec: SessionSpec, retry_error: bool) -> AsyncIterator[tuple[str, str]]:
        """One session on ``worker``: the items it streams back."""
        proc: _Proc = worker.handle
        sid = spec.session_id
        queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        proc.queues[sid] = queue
        try:
            if not proc.process.is_alive():
                raise WorkerLost(f"exit code {proc.process.exitcode}")
            proc.send(("run", sid, asdict(spec), retry_error))
            while True:
                item = await queue.get()
                if item == _LOST:
                    if self._cancelled:  # ended on purpose (a second Ctrl-C): resumes next time
                        return
                    raise WorkerLost(f"exit code {proc.process.exitcode}")
                if item[0] == "end":
                    return
                yield item
        finally:
            proc.queues.pop(sid, None)

    def lost(self, worker: PoolWorker, exc: BaseException) -> None:
        """A worker died: its sessions go to the others."""
        worker.alive = False
        logger.warning("worker process %s ended (%s); its sessions continue on the others", worker.where, exc)

    def forget(self, worker: PoolWorker, session_id: str) -> None:
        """Drop a recorded session's checkpoint on its worker."""
        worker.handle.send(("forget", session_id))

    async def drain(self, reason: str) -> None:
        """Stop every session at its next node boundary."""
        self.drain_now(reason)

    def drain_now(self, reason: str) -> None:
        """:meth:`drain`, from a plain callback."""
        for worker in self._pool:
            if worker.alive:
                worker.handle.send(("drain", reason))

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._cancelled

    def cancel(self) -> None:
        """End every worker now (their sessions resume from their checkpoints next time)."""
        self._cancelled = True
        for worker in self._pool:
            with contextlib.suppress(Exception):
                worker.handle.process.terminate()

    async def close(self) -> None:
        """Ask every worker to close its store and exit; end those that do not in time."""
        for worker in self._pool:
            worker.handle.send(("close",))

        def join_all() -> None:
            deadline = time.monotonic() + CLOSE_TIMEOUT_S
            for worker in self._pool:
                process = worker.handle.process
                process.join(max(0.0, deadline - time.monotonic()))
                if process.is_alive():
                    process.terminate()
                    process.join(5)
            for worker in self._pool:
                with contextlib.suppress(Exception):
                    worker.handle.conn.close()
                if worker.handle.reader is not None:
                    worker.handle.reader.join(5)

        await asyncio.to_thread(join_all)
        self._pool.clear()
