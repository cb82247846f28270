"""Sessions on Ray async actors: about one actor per CPU, each running many sessions at once on
its own event loop (:class:`~value_spectrum.runner.session_worker.SessionWorker`), fed by the
driver (:func:`~value_spectrum.runner.session_pool.dispatch`) and streaming every finished turn
and session back, so progress bars and budget stops work as locally. Records are written on the
driver by its run log: workers need no shared file system when checkpoints are in PostgreSQL
(``--checkpoints postgresql://...``; with the SQLite default each session keeps a database of
its own in the run directory's ``checkpoints/``, which then must be shared).

A lost actor (its node died, its process was killed) fails its calls with a Ray actor error:
the driver drops it, asks Ray for a replacement, and its sessions continue from their last
checkpoint on another actor.

Ray is imported inside the functions (``pip install 'value-spectrum[ray]'``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from value_spectrum.runner.plan import SessionSpec
from value_spectrum.runner.session_pool import NoWorkersLeft, PoolWorker, Sink, dispatch
from value_spectrum.runner.session_worker import SessionWorker, WorkerJob

logger = logging.getLogger(__name__)


def worker_class(ray: Any, *, max_concurrency: int) -> Any:
    """:class:`SessionWorker` as a Ray actor class (async: one event loop, many sessions)."""
    return ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0, max_concurrency=max_concurrency)(
        SessionWorker
    )


@dataclass
class ActorPool:
    """The driver's side of the Ray executor: the actors (a
    :class:`~value_spectrum.runner.session_pool.WorkerPool`).

    Args:
        ray: the ``ray`` module.
        job: what the actors need.
        actors: how many actors (None: one per CPU of the cluster).
        concurrency: sessions in flight in the whole run.
    """

    ray: Any
    job: WorkerJob
    actors: int | None
    concurrency: int
    _pool: list[PoolWorker] = field(default_factory=list)
    _cls: Any = None
    _replacing: int = 0
    _pending: list[Any] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    lost_errors: tuple[type[BaseException], ...] = ()

    async def start(self) -> None:
        """Create the actors and wait until each is up."""
        n = self.actors
        if n is None:
            n = max(1, int(self.ray.cluster_resources().get("CPU", 1)))
        self._cls = worker_class(self.ray, max_concurrency=max(self.concurrency, 1) + 8)
        handles = [self._new() for _ in range(n)]
        wheres = await asyncio.gather(*(h.ready.remote() for h in handles))
        self._pool = [PoolWorker(h, w) for h, w in zip(handles, wheres, strict=True)]
        self.lost_errors = _actor_errors(self.ray)
        logger.info("%d Ray actors: %s", len(self._pool), ", ".join(wheres))

    def _new(self) -> Any:
        return self._cls.options(scheduling_strategy="SPREAD").remote(self.job)

    async def _replace(self) -> None:
        """A new actor for a lost one (placed when the cluster has a CPU free)."""
        self._replacing += 1
        handle = self._new()
        self._pending.append(handle)
        try:
            where = await handle.ready.remote()
            self._pending.remove(handle)
            self._pool.append(PoolWorker(handle, where))
            logger.warning("a replacement Ray actor is up on %s", where)
        except Exception as exc:
            logger.warning("could not start a replacement Ray actor: %s", exc)
        finally:
            self._replacing -= 1
            self._changed.set()

    async def pick(self) -> PoolWorker:
        """The least busy live actor (waits for a replacement while one is starting)."""
        while True:
            live = [a for a in self._pool if a.alive]
            if live:
                return min(live, key=lambda a: a.load)
            if self._replacing == 0:
                raise NoWorkersLeft("every Ray actor was lost and none could be replaced")
            self._changed.clear()
            await self._changed.wait()

    async def stream(self, worker: PoolWorker, spec: SessionSpec, retry_error: bool) -> AsyncIterator[tuple[str, str]]:
        """One session on ``worker``: the items of its streaming generator."""
        async for ref in worker.handle.run.remote(asdict(spec), retry_error):
            kind, body = await ref
            yield kind, body

    def lost(self, worker: PoolWorker, exc: BaseException) -> None:
        """Drop a lost actor and ask Ray for a replacement."""
        worker.alive = False
        logger.warning("Ray actor on %s was lost (%s); its sessions go to the others", worker.where, type(exc).__name__)
        task = asyncio.create_task(self._replace())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def forget(self, worker: PoolWorker, session_id: str) -> None:
        """Drop a recorded session's checkpoint thread on its actor."""
        worker.handle.forget.remote(session_id)

    async def drain(self, reason: str) -> None:
        """Ask every live actor to stop its sessions at their next node boundary."""
        for actor in self._pool:
            if actor.alive:
                with contextlib.suppress(Exception):
                    actor.handle.drain.remote(reason)

    async def run(self, todo: Sequence[SessionSpec], sink: Sink, *, retry: frozenset[str] = frozenset()) -> None:
        """Run ``todo`` to the end (or to a stop): every session once, its record via ``sink``."""
        await dispatch(self, todo, sink, concurrency=self.concurrency, retry=retry)

    async def close(self) -> None:
        """Close every live actor's checkpoint store, then end the actors (and any replacement
        still waiting for a CPU)."""
        for task in list(self._tasks):
            task.cancel()
        for handle in self._pending:
            with contextlib.suppress(Exception):
                self.ray.kill(handle)
        self._pending.clear()
        live = [a.handle for a in self._pool if a.alive]
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*(h.close.remote() for h in live)), timeout=30)
        for actor in self._pool:
            with contextlib.suppress(Exception):
                self.ray.kill(actor.handle)
        self._pool.clear()


def _actor_errors(ray: Any) -> tuple[type[BaseException], ...]:
    from ray import exceptions as rex

    names = ("RayActorError", "ActorDiedError", "ActorUnavailableError", "OwnerDiedError",
             "ObjectLostError", "WorkerCrashedError", "NodeDiedError")
    return tuple(getattr(rex, n) for n in names if isinstance(getattr(rex, n, None), type))


__all__ = ["ActorPool", "SessionWorker", "Sink", "WorkerJob", "worker_class"]
