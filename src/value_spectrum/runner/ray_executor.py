"""The Ray executor: the second implementation of the runner's
:class:`~value_spectrum.runner.runner.Executor` protocol, on Ray async actors
(:mod:`~value_spectrum.runner.ray_actors`: about one actor per cluster CPU, each running many
sessions on its event loop; every decision and ended session streamed back to the driver, which
writes the records through the run log).

Ray is optional (``pip install 'value-spectrum[ray]'``) and imported only here, inside the
functions. Every actor rebuilds the services from the plan's config plus whatever the caller
passed to :class:`~value_spectrum.runner.services.Services` (a corpus, personas, a viewer factory,
a feed policy, a strategy: shipped once with ``ray.put``). Re-running continues exactly as with
the local executor (sessions that ended in error continue from their last good turn).

:func:`run_session_job` is the body of one session as a plain function (any executor, or a test,
can call it). With the SQLite default each session keeps a checkpoint database of its own in the
run directory's ``checkpoints/`` (which then must be on a file system every node reaches); with
``--checkpoints postgresql://...`` nothing needs sharing (see ``docs/simulation.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from value_spectrum.runlog import RunLog
from value_spectrum.runner.config import RunConfig
from value_spectrum.runner.plan import Plan, SessionSpec
from value_spectrum.runner.services import Services

if TYPE_CHECKING:
    from value_spectrum.runner.runner import Runner

logger = logging.getLogger(__name__)

RAY_MISSING = "the Ray executor needs ray: pip install 'value-spectrum[ray]' (or use --executor local)"
"""The error when ray is not installed."""

_WORKER_SERVICES: dict[tuple[str, str], Services] = {}
"""Per worker process: (plan JSON, id of the shipped parts) -> services (a corpus or an index
loads once per worker, not once per session)."""


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ImportError(RAY_MISSING) from None
    return ray


def _worker_services(plan: Plan, plan_json: str, given: dict[str, Any] | None, given_key: str) -> Services:
    key = (plan_json, given_key)
    if key not in _WORKER_SERVICES:
        if len(_WORKER_SERVICES) >= 2:
            _WORKER_SERVICES.clear()
        _WORKER_SERVICES[key] = Services(plan.config, **(given or {}))
    return _WORKER_SERVICES[key]


async def _run_job(plan_json: str, spec: SessionSpec, run_dir: str, given: dict[str, Any] | None,
                   given_key: str, retry_error: bool) -> dict[str, Any]:
    from value_spectrum.graphs.driver import run_session
    from value_spectrum.graphs.session import build_session_graph
    from value_spectrum.runner._checkpoints import open_checkpoints
    from value_spectrum.runner.runner import session_meta

    plan = Plan.model_validate_json(plan_json)
    services = _worker_services(plan, plan_json, given, given_key)
    log = RunLog(Path(run_dir))
    db = log.checkpoint_dir / f"{spec.session_id}.sqlite"
    async with open_checkpoints(db) as saver:
        graph = build_session_graph(saver)
        context = services.context(spec, max_steps=plan.steps_of(spec))
        thread_ns = log.read_manifest().thread_ns if log.manifest_path.is_file() else ""
        meta = session_meta(plan, spec, services.viewer_extra(context.viewer, context.persona), thread_ns)
        trajectory = await run_session(graph, meta, context, retry_error=retry_error)
    log.write_session(trajectory)
    if trajectory.status != "error":  # an error-ended session keeps its database for a retry
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    return {
        "session_id": trajectory.session_id,
        "status": trajectory.status,
        "steps": len(trajectory.steps),
        "cost_usd": trajectory.usage.cost_usd,
    }


def run_session_job(
    config_json: str,
    spec: dict[str, Any],
    run_dir: str,
    *,
    plan_json: str | None = None,
    given: dict[str, Any] | None = None,
    given_key: str = "",
    retry_error: bool = False,
) -> dict[str, Any]:
    """The body of one Ray task (a plain function, so any executor, or a test, can call it):
    run or resume one planned session and write its record into ``run_dir``.

    Args:
        config_json: ``RunConfig.model_dump_json()`` (a simulate plan of it, unless
            ``plan_json`` is given).
        spec: ``dataclasses.asdict(SessionSpec)``.
        run_dir: the shared run directory.
        plan_json: ``Plan.model_dump_json()``.
        given: the caller's service parts (``Services.given``).
        given_key: names ``given`` for the per-worker cache (the object ref's hex).
        retry_error: continue a session that ended in error from its last good turn.

    Returns:
        ``session_id``, ``status``, ``steps``, ``cost_usd``.
    """
    if plan_json is None:
        plan_json = Plan(config=RunConfig.model_validate_json(config_json)).model_dump_json()
    session = SessionSpec(**{**spec, "items": tuple(spec.get("items", ()))})
    return asyncio.run(_run_job(plan_json, session, run_dir, given, given_key, retry_error))


class RayExecutor:
    """Sessions on Ray async actors (``ray.init(address=plan.config.ray_address)`` unless Ray is
    already initialised; ``plan.config.ray_actors`` actors, default one per cluster CPU).

    At most ``concurrency`` sessions are in flight in the whole cluster; once ``max_cost`` is
    spent no new turn starts (running sessions drain at their next node, resumable).
    """

    name = "ray"
    per_session_checkpoints = True

    async def execute(self, runner: Runner, todo: Sequence[SessionSpec]) -> None:
        """Run ``todo`` (see :class:`~value_spectrum.runner.runner.Executor`).

        Raises:
            ImportError: ray is not installed (:data:`RAY_MISSING`).
        """
        ray = _import_ray()
        if not todo:
            return
        from value_spectrum.runner.ray_actors import ActorPool
        from value_spectrum.runner.session_pool import sink_of
        from value_spectrum.runner.session_worker import WorkerJob

        config = runner.plan.config
        if not ray.is_initialized():
            ray.init(address=config.ray_address, ignore_reinit_error=True, log_to_driver=False)
        given = runner.services.given or None

        limiter = None
        if config.gateway.rpm is not None or config.gateway.tpm is not None:
            from value_spectrum.runner.ray_limits import shared_bucket

            limiter = shared_bucket(ray)  # --rpm/--tpm for the whole run, not per worker
        job = WorkerJob(config_json=config.model_dump_json(), plan_json=runner.plan.model_dump_json(),
                        run_dir=str(runner.log.path), checkpoints=config.checkpoints,
                        given=ray.put(given) if given else None, limiter=limiter,
                        thread_ns=runner.thread_ns)
        pool = ActorPool(ray, job, actors=config.ray_actors, concurrency=config.concurrency)
        sink = sink_of(runner)
        # Ray prints its cluster events ("node ... marked dead") on stdout; keep stdout for the
        # caller (``simulate --json``) and send them to stderr
        with contextlib.redirect_stdout(sys.stderr):
            await pool.start()
            try:
                await pool.run(todo, sink, retry=frozenset(runner.retry))
            finally:
                await pool.close()
