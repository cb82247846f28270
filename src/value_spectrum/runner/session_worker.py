"""One worker of a multi-process run: many sessions at once on its own event loop, each
streaming every finished turn and its end back to the driver.

The same body serves the Ray executor's async actors (:mod:`~value_spectrum.runner.ray_actors`)
and the process executor's worker processes (:mod:`~value_spectrum.runner.process_executor`);
the driver side of both is :func:`~value_spectrum.runner.session_pool.dispatch`. A session is
one call of :meth:`SessionWorker.run`, an async generator of ``("step", step json)`` after every
decision, ``("resumed", turn)`` when it continued from a checkpoint, and then one final
``("done", trajectory json)``, ``("drained", reason)`` or ``("failed", text)``, preceded by
``("formats", json)`` (model -> structured-output mode) when the worker's modes changed, so that
a mode degraded in a worker reaches the driver's manifest.

With the SQLite default each session keeps a checkpoint database of its own in the run
directory's ``checkpoints/`` (so workers never contend for one file); with ``--checkpoints
postgresql://...`` one store serves every session of the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from value_spectrum.runner.plan import SessionSpec

logger = logging.getLogger(__name__)

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
    """The run's shared rate limiter (a Ray actor handle), or None (an executor that shares
    limits another way installs its own :mod:`~value_spectrum.agents.shared_limits` limiter)."""
    thread_ns: str = ""
    """The run's checkpoint thread namespace (the manifest's ``thread_ns``)."""


class SessionWorker:
    """The body of one worker: a Ray async actor (wrapped with ``ray.remote`` by
    :func:`~value_spectrum.runner.ray_actors.worker_class`) or one worker process of the process
    executor (:mod:`~value_spectrum.runner.process_executor`).

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
        self._sent_formats: dict[str, str] = {}  # the structured-output modes the driver has
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
            modes = self.services.response_formats()
            if modes != self._sent_formats:  # a degraded mode reaches the driver's manifest
                self._sent_formats = modes
                queue.put_nowait(("formats", json.dumps(modes)))
            queue.put_nowait(_END)
