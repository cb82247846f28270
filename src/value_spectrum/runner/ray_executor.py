"""The Ray executor: each session a Ray task, results written to a shared run directory.

Ray is optional (``pip install 'value-spectrum[ray]'``) and imported only here, inside the
functions. Every task rebuilds the services from the config (cached once per worker process),
runs its session with a checkpoint database of its own (``checkpoints/<session_id>.sqlite``
in the run directory, so no two machines write one SQLite file), writes the record atomically
and returns a small summary. The driver only plans, launches, watches the budget and summarises;
re-running continues exactly as with the local executor.

The run directory must be on a file system every node can reach (NFS, a mounted bucket); for
many machines a LangGraph Postgres checkpointer is the better home for checkpoints (see
``docs/simulation.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sys
import time
from pathlib import Path
from typing import Any

from value_spectrum.records import Step, Trajectory
from value_spectrum.runlog import RunLog
from value_spectrum.runner.config import RunConfig
from value_spectrum.runner.plan import SessionSpec, build_plan
from value_spectrum.runner.services import Services
from value_spectrum.runner.summary import RunSummary

logger = logging.getLogger(__name__)

RAY_MISSING = "the Ray executor needs ray: pip install 'value-spectrum[ray]' (or use --executor local)"
"""The error when ray is not installed."""


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ImportError(RAY_MISSING) from None
    return ray


@functools.lru_cache(maxsize=2)
def _worker_services(config_json: str) -> Services:
    """One set of services per worker process and config (loading a corpus or an index once)."""
    return Services(RunConfig.model_validate_json(config_json))


async def _run_job(config_json: str, spec: SessionSpec, run_dir: str) -> dict[str, Any]:
    from value_spectrum.graphs.driver import run_session
    from value_spectrum.graphs.session import build_session_graph
    from value_spectrum.runner._checkpoints import open_checkpoints
    from value_spectrum.runner.local import session_meta

    services = _worker_services(config_json)
    rundir = RunLog(Path(run_dir))
    db = rundir.checkpoint_dir / f"{spec.session_id}.sqlite"
    async with open_checkpoints(db) as saver:
        graph = build_session_graph(saver)
        context = services.context(spec)
        meta = session_meta(services.config, spec, services.viewer_extra(context.viewer, context.persona))
        trajectory = await run_session(graph, meta, context)
    rundir.write_session(trajectory)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return {
        "session_id": trajectory.session_id,
        "status": trajectory.status,
        "steps": len(trajectory.steps),
        "cost_usd": trajectory.usage.cost_usd,
    }


def run_session_job(config_json: str, spec: dict[str, Any], run_dir: str) -> dict[str, Any]:
    """The body of one Ray task (a plain function, so any executor, or a test, can call it):
    run or resume one planned session and write its record into ``run_dir``.

    Args:
        config_json: ``RunConfig.model_dump_json()``.
        spec: ``dataclasses.asdict(SessionSpec)``.
        run_dir: the shared run directory.

    Returns:
        ``session_id``, ``status``, ``steps``, ``cost_usd``.
    """
    return asyncio.run(_run_job(config_json, SessionSpec(**spec), run_dir))


async def run_batch_ray(
    config: RunConfig,
    *,
    services: Services | None = None,
    observer: Any = None,
    force_new: bool = False,
) -> RunSummary:
    """Run or continue a batch on Ray async actors (:mod:`~value_spectrum.runner.ray_actors`;
    ``ray.init(address=config.ray_address)`` unless Ray is initialised already).

    At most ``config.concurrency`` sessions are in flight in the whole cluster; once
    ``config.max_cost`` is spent no new turn starts (running sessions drain at their next node,
    resumable).

    Raises:
        ImportError: ray is not installed (:data:`RAY_MISSING`).
    """
    ray = _import_ray()
    from value_spectrum.runner.local import prepare_run_dir
    from value_spectrum.runner.ray_actors import ActorPool, Sink, WorkerJob

    start = time.perf_counter()
    services = services or Services(config)
    specs = build_plan(config, services.persona_ids)
    rundir = prepare_run_dir(config, services, specs, force_new=force_new)
    scan = rundir.scan(s.session_id for s in specs)
    summary = RunSummary(run_dir=str(rundir.path), run_id=rundir.path.name, sessions_planned=len(specs),
                         sessions_skipped=len(scan.finished), corrupt=list(scan.corrupt))
    todo = [s for s in specs if s.session_id not in scan.finished]
    if observer is not None:
        observer.on_plan(len(specs), len(scan.finished), config.steps)
    if not ray.is_initialized():
        ray.init(address=config.ray_address, ignore_reinit_error=True, log_to_driver=False)
    state: dict[str, Any] = {"spent": 0.0, "decisions": 0, "stopped": None}
    if config.max_cost is not None and config.max_cost <= 0 and todo:
        state["stopped"] = "budget"

    def on_step(step: Step) -> None:
        state["spent"] += step.usage.cost_usd
        state["decisions"] += 1
        if observer is not None:
            observer.on_step(step)
        if config.max_cost is not None and state["spent"] >= config.max_cost and state["stopped"] is None:
            state["stopped"] = "budget"
            logger.warning("stopping the batch: budget")

    async def on_trajectory(trajectory: Trajectory) -> None:
        await asyncio.to_thread(rundir.write_session, trajectory)
        summary.sessions_run += 1
        if observer is not None:
            observer.on_session_end(trajectory)

    def on_failed(spec: SessionSpec, text: str) -> None:
        summary.sessions_failed.append(f"{spec.session_id}: {text}")

    def on_resumed(spec: SessionSpec) -> None:
        summary.sessions_resumed += 1

    job = WorkerJob(config_json=config.model_dump_json(), run_dir=str(rundir.path),
                    checkpoints=config.checkpoints)
    pool = ActorPool(ray, job, actors=config.ray_actors, concurrency=config.concurrency)
    # Ray prints its cluster events ("node ... marked dead") on stdout; keep stdout for the
    # caller (``simulate --json``) and send them to stderr
    with contextlib.redirect_stdout(sys.stderr):
        if todo and state["stopped"] is None:
            await pool.start()
            try:
                await pool.run(todo, Sink(on_step=on_step, on_trajectory=on_trajectory, on_failed=on_failed,
                                          stop_reason=lambda: state["stopped"], on_resumed=on_resumed))
            finally:
                await pool.close()
    finished = rundir.scan([s.session_id for s in specs], quarantine=False).finished
    summary.sessions_pending = len(specs) - len(finished)
    summary.add_trajectories(finished[s.session_id] for s in specs if s.session_id in finished)
    summary.cost_usd_this_run = round(state["spent"], 8)
    summary.decisions_this_run = state["decisions"]
    summary.stopped = state["stopped"]
    summary.elapsed_s = round(time.perf_counter() - start, 3)
    return summary
