"""Sessions on Ray async actors: about one actor per CPU, each running many sessions at once on
its own event loop, fed by the driver and streaming every finished turn and session back.

The driver keeps ``concurrency`` sessions in flight across the whole cluster (the same meaning
as locally): a queue of planned sessions, handed one at a time to the least busy live actor.
Each session is one call of the actor's streaming generator :meth:`SessionWorker.run`, which
yields ``("step", json)`` after every decision (so progress bars and budget stops work as
locally) and then one final ``("done", trajectory json)``, ``("drained", reason)`` or
``("failed", text)``. Records are written on the driver by its run log: workers need no shared
file system when checkpoints are in PostgreSQL (``--checkpoints postgresql://...``; with the
SQLite default each session keeps a database of its own in the run directory's
``checkpoints/``, which then must be shared).

A lost actor (its node died, its process was killed) fails its calls with a Ray actor error:
the driver drops it, asks Ray for a replacement, and puts its sessions back at the front of the
queue; they continue from their last checkpoint on another actor. A turn streamed twice (done
before the loss, redone after it) is counted once, and a session's record is written once, by
the driver, so nothing is lost or doubled.

Ray is imported inside the functions (``pip install 'value-spectrum[ray]'``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from value_spectrum.records import Step, Trajectory
from value_spectrum.runner.plan import SessionSpec

logger = logging.getLogger(__name__)

MAX_SESSION_TRIES = 3
"""Times a session is handed out again after the actors running it were lost."""

_END = ("end", "")


@dataclass(frozen=True)
class WorkerJob:
    """What every actor needs to run sessions of one batch (all plain data; sent once)."""

    config_json: str
    """``RunConfig.model_dump_json()``."""
    run_dir: str
    """The run directory (where SQLite checkpoint files go when ``checkpoints`` is None)."""
    plan_json: str = ""
    """``Plan.model_dump_json()`` (empty: a simulate plan of the config)."""
    checkpoints: str | None = None
    """``--checkpoints``: None (per-session SQLite files in the run directory) or a URL."""
    durability: str = "sync"
    """LangGraph checkpoint durability."""
    given: Any = None
    """The caller's service parts (a Ray object ref or a dict), or None."""
    limiter: Any = None
    """The run's shared rate limiter (a Ray actor handle), or None."""
    thread_ns: str = ""
    """The run's checkpoint thread namespace (the manifest's ``thread_ns``)."""


class SessionWorker:
    """The body of one async actor (wrapped with ``ray.remote`` by :func:`worker_class`).

    Services (corpus, personas, viewers, gateways) are built once per actor; with a PostgreSQL
    store one checkpointer and one compiled graph serve all its sessions.
    """

    def __init__(self, job: WorkerJob) -> None:
        from value_spectrum.runner.config import RunConfig
        from value_spectrum.runner.plan import Plan
        from value_spectrum.runner.services import Services

        self.job = job
        self.config = RunConfig.model_validate_json(job.config_json)
        self.plan = Plan.model_validate_json(job.plan_json) if job.plan_json else Plan(config=self.config)
        given = job.given
        if given is not None and not isinstance(given, dict):
            import ray

            given = ray.get(given)
        self.services = Services(self.config, **(given or {}))
        if job.limiter is not None:
            from value_spectrum.runner.ray_limits import install_shared_limits

            install_shared_limits(job.limiter)
        self._controls: dict[str, Any] = {}
        self._shared: tuple[Any, Any] | None = None  # (saver, graph) for a PostgreSQL store
        self._shared_cm: Any = None
        self._template: Any = None  # the compiled graph that per-session SQLite savers are put in
        self._shared_lock = asyncio.Lock()
        self._stopping: str | None = None

    async def ready(self) -> str:
        """``host:pid`` of this actor, once it is up: the model client imported (so that the
        first request is not held up by an import after its rate-limit slot), the session graph
        compiled and each model's viewer built, so that the first sessions handed out start at
        once rather than one after another behind this set-up on the actor's event loop."""
        with contextlib.suppress(ImportError):
            import openai  # noqa: F401
        from value_spectrum.graphs.driver import run_session  # noqa: F401
        from value_spectrum.graphs.session import build_session_graph

        self._template = build_session_graph(None)
        for model in dict.fromkeys(self.config.models):  # the shared viewer of each model
            spec = SessionSpec(session_id="", persona_id="", model=model, index=0, seed=0, feed_seed=0)
            try:
                self.services.viewer(spec)
            except Exception as exc:  # the session reports it when it runs
                logger.debug("viewer of %s not built ahead: %s", model, exc)
        return f"{os.uname().nodename}:{os.getpid()}"

    async def drain(self, reason: str) -> None:
        """Stop every running session at its next node boundary (each keeps its checkpoint)."""
        self._stopping = reason
        for control in list(self._controls.values()):
            control.request_drain(reason)

    async def close(self) -> None:
        """Close the shared checkpoint store (the actor ends next)."""
        if self._shared_cm is not None:
            cm, self._shared_cm, self._shared = self._shared_cm, None, None
            await cm.__aexit__(None, None, None)

    async def forget(self, session_id: str) -> None:
        """Drop a finished session's checkpoint thread (its record is on the driver's disk)."""
        with contextlib.suppress(Exception):  # a stale thread is harmless
            if self._shared is not None:
                from value_spectrum.graphs.driver import thread_name

                await self._shared[0].adelete_thread(thread_name(self.job.thread_ns, session_id))
            elif self.job.checkpoints is None:
                db = self._sqlite_file(session_id)
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{db}{suffix}").unlink(missing_ok=True)

    async def run(self, spec: dict[str, Any], retry_error: bool = False) -> Any:
        """Run or resume one session: yields ``("step", json)`` per decision, then one
        ``("done", json)`` / ``("drained", reason)`` / ``("failed", text)``."""
        queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        session = SessionSpec(**{**spec, "items": tuple(spec.get("items", ()))})
        task = asyncio.create_task(self._session(session, retry_error, queue))
        try:
            while True:
                item = await queue.get()
                if item == _END:
                    break
                yield item
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task

    # ---- one session ----------------------------------------------------------------------
    def _sqlite_file(self, session_id: str) -> Path:
        from value_spectrum.runlog import RunLog

        return RunLog(Path(self.job.run_dir)).checkpoint_dir / f"{session_id}.sqlite"

    async def _graph(self, session_id: str, stack: contextlib.AsyncExitStack) -> Any:
        from value_spectrum.graphs.checkpoint_store import is_postgres
        from value_spectrum.graphs.session import build_session_graph
        from value_spectrum.runner._checkpoints import open_checkpoints

        if is_postgres(self.job.checkpoints):
            async with self._shared_lock:
                if self._shared is None:
                    cm = open_checkpoints(Path(), self.job.checkpoints,
                                          max_connections=min(self.config.concurrency, 16))
                    saver = await cm.__aenter__()
                    self._shared_cm, self._shared = cm, (saver, build_session_graph(saver))
            return self._shared[1]
        db = self._sqlite_file(session_id) if self.job.checkpoints is None else None
        if db is not None:
            db.parent.mkdir(parents=True, exist_ok=True)
        # a new file per session: made (and closed) off the loop, or each start and end would
        # stall this actor's other sessions while the disk syncs
        saver = await stack.enter_async_context(
            open_checkpoints(db or Path(), self.job.checkpoints, open_in_thread=True)
        )
        if self._template is None:
            self._template = build_session_graph(None)
        return self._template.copy(update={"checkpointer": saver})  # no compile per session

    async def _session(self, spec: SessionSpec, retry_error: bool, queue: asyncio.Queue[tuple[str, str]]) -> None:
        from langgraph.errors import GraphDrained
        from langgraph.runtime import RunControl

        from value_spectrum.graphs.driver import load_checkpoint, run_session
        from value_spectrum.runner.runner import session_meta

        sid = spec.session_id
        try:
            async with contextlib.AsyncExitStack() as stack:
                graph = await self._graph(sid, stack)
                context = self.services.context(
                    spec, max_steps=self.plan.steps_of(spec),
                    on_step=lambda step: queue.put_nowait(("step", step.model_dump_json())),
                )
                meta = session_meta(self.plan, spec, self.services.viewer_extra(context.viewer, context.persona),
                                    self.job.thread_ns)
                checkpoint = await load_checkpoint(graph, meta.thread)
                if checkpoint[0] is not None and not checkpoint[1]:
                    queue.put_nowait(("resumed", str(checkpoint[0].get("turn", 0))))
                control = RunControl()
                self._controls[sid] = control
                if self._stopping is not None:
                    control.request_drain(self._stopping)
                retry: dict[str, Any] = {"retry_error": True} if retry_error else {}
                try:
                    trajectory = await run_session(
                        graph, meta, context, control=control, durability=self.job.durability,
                        checkpoint=checkpoint, **retry,
                    )
                finally:
                    self._controls.pop(sid, None)
            queue.put_nowait(("done", trajectory.model_dump_json()))
        except GraphDrained as exc:
            queue.put_nowait(("drained", str(exc) or "stop"))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.exception("session %s failed", sid)
            queue.put_nowait(("failed", f"{type(exc).__name__}: {exc}"))
        finally:
            queue.put_nowait(_END)


def worker_class(ray: Any, *, max_concurrency: int) -> Any:
    """:class:`SessionWorker` as a Ray actor class (async: one event loop, many sessions)."""
    return ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0, max_concurrency=max_concurrency)(
        SessionWorker
    )


@dataclass
class Sink:
    """What the driver does with what the actors send back (the runner's seams)."""

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


@dataclass
class _Actor:
    handle: Any
    where: str
    load: int = 0
    alive: bool = True


@dataclass
class ActorPool:
    """The driver's side: actors, the queue, sessions in flight.

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
    _pool: list[_Actor] = field(default_factory=list)
    _cls: Any = None
    _replacing: int = 0
    _pending: list[Any] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        """Create the actors and wait until each is up."""
        n = self.actors
        if n is None:
            n = max(1, int(self.ray.cluster_resources().get("CPU", 1)))
        self._cls = worker_class(self.ray, max_concurrency=max(self.concurrency, 1) + 8)
        handles = [self._new() for _ in range(n)]
        wheres = await asyncio.gather(*(h.ready.remote() for h in handles))
        self._pool = [_Actor(h, w) for h, w in zip(handles, wheres, strict=True)]
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
            self._pool.append(_Actor(handle, where))
            logger.warning("a replacement Ray actor is up on %s", where)
        except Exception as exc:
            logger.warning("could not start a replacement Ray actor: %s", exc)
        finally:
            self._replacing -= 1
            self._changed.set()

    async def _pick(self) -> _Actor:
        while True:
            live = [a for a in self._pool if a.alive]
            if live:
                return min(live, key=lambda a: a.load)
            if self._replacing == 0:
                raise RuntimeError("every Ray actor was lost and none could be replaced")
            self._changed.clear()
            await self._changed.wait()

    async def drain(self, reason: str) -> None:
        """Ask every live actor to stop its sessions at their next node boundary."""
        for actor in self._pool:
            if actor.alive:
                with contextlib.suppress(Exception):
                    actor.handle.drain.remote(reason)

    async def run(self, todo: Sequence[SessionSpec], sink: Sink, *, retry: frozenset[str] = frozenset()) -> None:
        """Run ``todo`` to the end (or to a stop): every session once, its record via ``sink``."""
        queue: list[SessionSpec] = list(todo)
        tries: dict[str, int] = {}
        seen_steps: dict[str, int] = {}
        wake = asyncio.Event()
        in_flight: set[asyncio.Task[None]] = set()
        errors = _actor_errors(self.ray)

        writing: set[asyncio.Task[None]] = set()

        async def record(spec: SessionSpec, trajectory: Trajectory, actor: _Actor) -> None:
            try:
                await sink.on_trajectory(trajectory)
            except Exception as exc:
                logger.exception("session %s could not be recorded", spec.session_id)
                sink.on_failed(spec, f"{type(exc).__name__}: {exc}")
                return
            if trajectory.status != "error" and actor.alive:  # its thread, once the record is safe
                with contextlib.suppress(Exception):
                    actor.handle.forget.remote(spec.session_id)

        async def one(spec: SessionSpec) -> None:
            actor = await self._pick()
            actor.load += 1
            sid = spec.session_id
            try:
                gen = actor.handle.run.remote(asdict(spec), sid in retry)
                async for ref in gen:
                    kind, body = await ref
                    if kind == "step":
                        step = Step.model_validate_json(body)
                        if step.turn >= seen_steps.get(sid, 0):  # a redone turn counts once
                            seen_steps[sid] = step.turn + 1
                            sink.on_step(step)
                            if sink.stop_reason() is not None:
                                wake.set()  # the driver drains the actors
                    elif kind == "resumed":
                        sink.on_resumed(spec)
                    elif kind == "done":
                        # the record is written (and fsynced) beside the run: the session's slot
                        # is free for the next session meanwhile
                        trajectory = Trajectory.model_validate_json(body)
                        task = asyncio.create_task(record(spec, trajectory, actor))
                        writing.add(task)
                        task.add_done_callback(writing.discard)
                    elif kind == "drained":
                        logger.info("session %s stopped (%s); it resumes next time", sid, body)
                    elif kind == "failed":
                        sink.on_failed(spec, body)
            except asyncio.CancelledError:
                raise
            except errors as exc:
                if actor.alive:
                    actor.alive = False
                    logger.warning("Ray actor on %s was lost (%s); its sessions go to the others",
                                   actor.where, type(exc).__name__)
                    task = asyncio.create_task(self._replace())
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                tries[sid] = tries.get(sid, 0) + 1
                if tries[sid] >= MAX_SESSION_TRIES:
                    sink.on_failed(spec, f"lost with {tries[sid]} Ray actors: {exc}")
                else:
                    queue.insert(0, spec)
            except Exception as exc:  # the sink or a reply that cannot be read
                logger.exception("session %s failed on the driver", sid)
                sink.on_failed(spec, f"{type(exc).__name__}: {exc}")
            finally:
                actor.load -= 1
                in_flight.discard(asyncio.current_task())  # type: ignore[arg-type]
                wake.set()

        drained = False
        while queue or in_flight:
            reason = sink.stop_reason()
            if reason is not None and not drained:
                drained = True
                await self.drain(reason)
            while queue and len(in_flight) < self.concurrency and sink.stop_reason() is None:
                in_flight.add(asyncio.create_task(one(queue.pop(0))))
            if not in_flight:
                break
            wake.clear()
            await wake.wait()
        if writing:
            await asyncio.gather(*list(writing))

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
