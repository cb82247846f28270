"""The local asyncio executor: many sessions at once under a semaphore, one SQLite checkpoint
database per run, atomic session records, budget and Ctrl-C stops that keep every finished
session and leave unfinished ones resumable.

Example:
    >>> from value_spectrum.runner.config import RunConfig
    >>> # summary = asyncio.run(BatchRunner(RunConfig(steps=5)).run())
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any, Protocol

from value_spectrum.graphs.driver import SessionMeta, load_checkpoint, run_session
from value_spectrum.records import Step, Trajectory
from value_spectrum.runlog import RunDirError, RunLog
from value_spectrum.runner.config import RunConfig
from value_spectrum.runner.manifest import build_manifest, run_name
from value_spectrum.runner.plan import SessionSpec, build_plan
from value_spectrum.runner.services import Services
from value_spectrum.runner.summary import RunSummary

logger = logging.getLogger(__name__)

DEFAULT_RUNS_DIR = Path("runs")
"""Where runs go without ``--out``: ``runs/<run_name(config)>``."""


class BatchObserver(Protocol):
    """Progress callbacks (the CLI's progress bars); every method optional in spirit."""

    def on_plan(self, sessions: int, already_done: int, steps_per_session: int) -> None: ...
    def on_step(self, step: Step) -> None: ...
    def on_session_end(self, trajectory: Trajectory) -> None: ...


class _Silent:
    def on_plan(self, sessions: int, already_done: int, steps_per_session: int) -> None:
        pass

    def on_step(self, step: Step) -> None:
        pass

    def on_session_end(self, trajectory: Trajectory) -> None:
        pass


def default_run_dir(config: RunConfig) -> Path:
    """``config.out`` or ``runs/<deterministic name>``."""
    return Path(config.out) if config.out is not None else DEFAULT_RUNS_DIR / run_name(config)


def session_meta(config: RunConfig, spec: SessionSpec, extra: dict[str, Any]) -> SessionMeta:
    """The trajectory identity of a planned session."""
    return SessionMeta(
        session_id=spec.session_id,
        persona_id=spec.persona_id,
        model=spec.model,
        strategy=config.strategy,
        modality=config.modality,
        feed=config.feed,
        seed=spec.seed,
        extra={"session_index": spec.index, **extra},
    )


def prepare_run_dir(
    config: RunConfig, services: Services, specs: tuple[SessionSpec, ...], *, force_new: bool = False
) -> RunLog:
    """Create the run directory and its manifest, or check an existing one against the config.

    Raises:
        RunDirError: the directory holds a run with a different config or corpus (the message
            lists the differences and the ways out).
    """
    rundir = RunLog(default_run_dir(config))
    if rundir.exists() and force_new:
        aside = rundir.move_aside()
        logger.warning("moved the previous run in %s to %s (--force-new)", rundir.path, aside)
    corpus_info = services.corpus.describe()
    if rundir.exists():
        manifest = rundir.read_manifest()
        diffs = config.differences(manifest.config)
        if manifest.corpus.get("content_hash") not in (None, corpus_info["content_hash"]):
            diffs.append("corpus: its content hash changed")
        if diffs:
            raise RunDirError(
                f"{rundir.manifest_path}: this run was made with a different config ("
                + "; ".join(diffs)
                + "); re-run with the same options, or pass --out NEW_DIR or --force-new"
            )
        _write_side_files(rundir, services, corpus_info, only_missing=True)
        return rundir
    rundir.check_can_create()
    rundir.create(
        build_manifest(
            config,
            run_id=rundir.path.name,
            persona_ids=services.persona_ids,
            corpus=dict(corpus_info),
            embedder=services.embedder_info,
            seeds=tuple(s.seed for s in specs),
        )
    )
    _write_side_files(rundir, services, corpus_info, only_missing=False)
    return rundir


def _write_side_files(
    rundir: RunLog, services: Services, corpus_info: dict[str, Any], *, only_missing: bool
) -> None:
    """``labels.json`` and ``personas.json``, which scoring reads (sessions hold only ids).

    Both are made from the corpus and the personas, which the manifest check has just matched,
    so a damaged copy left by an earlier run is rewritten (with a warning), never kept.
    """
    if not (only_missing and _readable(rundir.read_labels, rundir.labels_path)):
        corpus = services.corpus
        rundir.write_labels(
            corpus,
            corpus=corpus_info,
            root=corpus.root,
            keyframes={v.id: corpus.keyframe_locations(v) for v in corpus},
        )
    if not (only_missing and _readable(rundir.read_personas, rundir.personas_path)):
        rundir.write_personas(services.personas)


def _readable(read: Any, path: Path) -> bool:
    """Whether a side file is present and valid; a damaged one is reported and rewritten."""
    if not path.is_file():
        return False
    try:
        read()
        return True
    except RunDirError as exc:
        logger.warning("%s; writing it again", exc)
        return False


class BatchRunner:
    """Runs (or continues) a batch in this process.

    Args:
        config: the run.
        services: prebuilt services (default: from the config).
        observer: progress callbacks.
        force_new: move an existing run directory aside and start afresh.
        durability: LangGraph checkpoint durability: ``sync`` (a checkpoint is on disk before
            the next node runs) or ``async`` (faster; a kill may redo the last node).
    """

    def __init__(
        self,
        config: RunConfig,
        *,
        services: Services | None = None,
        observer: BatchObserver | None = None,
        force_new: bool = False,
        durability: str = "sync",
    ) -> None:
        self.config = config
        self.services = services or Services(config)
        self.observer: BatchObserver = observer or _Silent()
        self.force_new = force_new
        self.durability = durability
        self._store_failures: set[str] = set()
        self.stop_reason: str | None = None
        self._controls: set[Any] = set()
        self._spent = 0.0
        self._decisions = 0
        self._tasks: list[asyncio.Task[None]] = []

    # ---- stopping -----------------------------------------------------------------------
    def request_stop(self, reason: str) -> None:
        """Start no new session or turn; sessions stop at their next node boundary, resumable."""
        if self.stop_reason is None:
            self.stop_reason = reason
            logger.warning("stopping the batch: %s", reason)
        for control in list(self._controls):
            control.request_drain(reason)

    def _on_step(self, step: Step) -> None:
        self._spent += step.usage.cost_usd
        self._decisions += 1
        self.observer.on_step(step)
        if self.config.max_cost is not None and self._spent >= self.config.max_cost:
            self.request_stop("budget")

    def _on_sigint(self) -> None:
        if self.stop_reason != "interrupt":
            self.request_stop("interrupt")
            return
        for task in self._tasks:  # a second Ctrl-C: do not wait for running model calls
            task.cancel()

    # ---- running ------------------------------------------------------------------------
    async def run(self, *, handle_signals: bool = False) -> RunSummary:
        """Run every unfinished session of the plan.

        Args:
            handle_signals: install a SIGINT handler (first Ctrl-C drains, second cancels).
        """
        from value_spectrum.graphs.session import build_session_graph
        from value_spectrum.runner._checkpoints import open_checkpoints

        start = time.perf_counter()
        specs = build_plan(self.config, self.services.persona_ids)
        rundir = prepare_run_dir(self.config, self.services, specs, force_new=self.force_new)
        scan = rundir.scan(s.session_id for s in specs)
        finished: dict[str, Trajectory] = dict(scan.finished)
        summary = RunSummary(
            run_dir=str(rundir.path),
            run_id=rundir.path.name,
            sessions_planned=len(specs),
            sessions_skipped=len(finished),
            corrupt=list(scan.corrupt),
        )
        todo = [s for s in specs if s.session_id not in finished]
        self.observer.on_plan(len(specs), len(finished), self.config.steps)
        if self.config.max_cost is not None and self.config.max_cost <= 0 and todo:
            self.request_stop("budget")
        loop = asyncio.get_running_loop()
        if handle_signals:
            loop.add_signal_handler(signal.SIGINT, self._on_sigint)
        sem = asyncio.Semaphore(self.config.concurrency)
        try:
            async with open_checkpoints(
                rundir.checkpoints_path, self.config.checkpoints,
                max_connections=min(self.config.concurrency, 16),
            ) as saver:
                graph = build_session_graph(saver)

                async def one(spec: SessionSpec) -> None:
                    async with sem:
                        await self._one(spec, graph, saver, rundir, finished, summary)

                self._tasks = [asyncio.create_task(one(s), name=s.session_id) for s in todo]
                await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:
            if handle_signals:
                loop.remove_signal_handler(signal.SIGINT)
        modes = self.services.response_formats()
        if modes:  # which structured-output mode each model ran in (it may have degraded)
            manifest = rundir.read_manifest()
            if {**manifest.response_formats, **modes} != manifest.response_formats:
                rundir.write_manifest(manifest.model_copy(update={"response_formats": {**manifest.response_formats, **modes}}))
        summary.sessions_pending = len(specs) - len(finished)
        summary.add_trajectories(finished[s.session_id] for s in specs if s.session_id in finished)
        _record_counts(rundir, summary)
        summary.cost_usd_this_run = round(self._spent, 8)
        summary.decisions_this_run = self._decisions
        summary.stopped = self.stop_reason
        summary.elapsed_s = round(time.perf_counter() - start, 3)
        return summary

    def _store_failed(self, sid: str, exc: OSError | sqlite3.Error, summary: RunSummary) -> None:
        """Record a session that could not be stored; the first such failure is logged (one
        line), the others only counted in the summary: a full disk fails them all alike."""
        problem = _store_problem(exc)
        kind = str(getattr(exc, "strerror", None) or exc)
        if kind not in self._store_failures:
            self._store_failures.add(kind)
            logger.error("session %s failed: %s", sid, problem)
        else:
            logger.info("session %s failed: %s", sid, problem)
        summary.sessions_failed.append(f"{sid}: {problem}")

    async def _one(
        self,
        spec: SessionSpec,
        graph: Any,
        saver: Any,
        rundir: RunLog,
        finished: dict[str, Trajectory],
        summary: RunSummary,
    ) -> None:
        from langgraph.errors import GraphDrained
        from langgraph.runtime import RunControl

        if self.stop_reason is not None:
            return
        sid = spec.session_id
        try:
            context = self.services.context(spec, on_step=self._on_step)
            meta = session_meta(self.config, spec, self.services.viewer_extra(context.viewer, context.persona))
            checkpoint = await load_checkpoint(graph, sid)
            if checkpoint[0] is not None:
                summary.sessions_resumed += 1
            control = RunControl()
            self._controls.add(control)
            if self.stop_reason is not None:
                control.request_drain(self.stop_reason)
            try:
                trajectory = await run_session(
                    graph, meta, context, control=control, durability=self.durability,
                    checkpoint=checkpoint,
                )
            finally:
                self._controls.discard(control)
        except GraphDrained:
            logger.info("session %s stopped (%s); it resumes next time", sid, self.stop_reason)
            return
        except asyncio.CancelledError:
            logger.info("session %s cancelled; it resumes next time", sid)
            return
        except (OSError, sqlite3.Error) as exc:  # a full disk, a broken store: one line, no traceback
            self._store_failed(sid, exc, summary)
            return
        except Exception as exc:
            logger.exception("session %s failed", sid)
            summary.sessions_failed.append(f"{sid}: {type(exc).__name__}: {exc}")
            return
        # fsync in a worker thread: the other sessions keep going while the disk syncs
        try:
            await asyncio.to_thread(rundir.write_session, trajectory)
        except OSError as exc:  # the session stays in the checkpoints and resumes next time
            self._store_failed(sid, exc, summary)
            return
        finished[sid] = trajectory
        summary.sessions_run += 1
        with contextlib.suppress(Exception):  # the record is safe; a stale thread is harmless
            await saver.adelete_thread(sid)
        self.observer.on_session_end(trajectory)


def _record_counts(rundir: RunLog, summary: RunSummary) -> None:
    """Keep the run's repair and retry totals in the manifest (``counts``)."""
    counts = {"repairs": summary.repairs, "repaired": summary.repaired}
    if summary.retries is not None:
        counts["retries"] = summary.retries
    try:
        manifest = rundir.read_manifest()
        if manifest.counts != counts:
            rundir.write_manifest(manifest.model_copy(update={"counts": counts}))
    except (RunDirError, OSError) as exc:  # the sessions hold the same numbers
        logger.warning("could not update the manifest's counts: %s", exc)


def _store_problem(exc: OSError | sqlite3.Error) -> str:
    """One line for a failure to write the run's files (a full disk most often)."""
    where = getattr(exc, "filename", None)
    why = " ".join(str(getattr(exc, "strerror", None) or exc).split())
    hint = "free some space and run the same command again" if "full" in why.lower() or "space" in why.lower() else (
        "run the same command again once the cause is fixed")
    return f"{where + ': ' if where else ''}{why}; {hint} (finished sessions are kept, unfinished ones resume)"


async def run_batch(
    config: RunConfig,
    *,
    services: Services | None = None,
    observer: BatchObserver | None = None,
    force_new: bool = False,
    handle_signals: bool = False,
) -> RunSummary:
    """Run or continue the batch of ``config`` with the executor it names.

    Raises:
        RunDirError: the run directory holds a different run.
    """
    if config.executor == "ray":
        from value_spectrum.runner.ray_executor import run_batch_ray

        return await run_batch_ray(config, services=services, observer=observer, force_new=force_new)
    runner = BatchRunner(config, services=services, observer=observer, force_new=force_new)
    return await runner.run(handle_signals=handle_signals)


__all__ = ["BatchObserver", "BatchRunner", "RunDirError", "default_run_dir", "run_batch"]
