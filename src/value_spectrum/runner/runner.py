"""One runner for every plan: it checks the plan, takes the run directory's lock, creates or
checks the run directory through the run log, hands the sessions still to do to an
:class:`~value_spectrum.runner.executor.Executor`, writes each ended session, and aggregates the
summary as sessions end (no trajectory is kept in memory).

A rerun of the same plan keeps every finished session and retries the sessions that ended in
error (a provider fault, a missing key, a server that went away) from their last good turn.

Example:
    >>> from value_spectrum.runner.config import RunConfig
    >>> # summary = asyncio.run(Runner(Plan(config=RunConfig(steps=5))).run())
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from value_spectrum.graphs.driver import SessionMeta, thread_name
from value_spectrum.records import Step, Trajectory
from value_spectrum.runlog import RunDirError, RunInUseError, RunLog
from value_spectrum.runner.checks import preflight
from value_spectrum.runner.manifest import build_manifest
from value_spectrum.runner.plan import Plan, SessionSpec
from value_spectrum.runner.services import Services
from value_spectrum.runner.summary import RunSummary

logger = logging.getLogger(__name__)

DEFAULT_RUNS_DIR = Path("runs")
"""Where runs go without ``out``: ``runs/<Plan.run_name()>``."""


class RunObserver(Protocol):
    """Progress callbacks (the CLI's progress bars)."""

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


def run_dir_of(plan: Plan) -> Path:
    """``plan.config.out`` or ``runs/<deterministic name>``."""
    out = plan.config.out
    return Path(out) if out is not None else DEFAULT_RUNS_DIR / plan.run_name()


def default_executor(name: str) -> Executor:
    """The executor a config names: ``local``, ``processes`` or ``ray``."""
    if name == "ray":
        from value_spectrum.runner.ray_executor import RayExecutor

        return RayExecutor()
    if name == "processes":
        from value_spectrum.runner.process_executor import ProcessExecutor

        return ProcessExecutor()
    from value_spectrum.runner.executor import LocalExecutor

    return LocalExecutor()


def session_meta(plan: Plan, spec: SessionSpec, extra: dict[str, Any], thread_ns: str = "") -> SessionMeta:
    """The trajectory identity of a planned session (``thread_ns``: the run manifest's
    namespace of checkpoint threads)."""
    c = plan.config
    return SessionMeta(
        session_id=spec.session_id,
        persona_id=spec.persona_id,
        model=spec.model,
        strategy=c.strategy,
        modality=c.modality,
        feed=plan.feed_name(),
        seed=spec.seed,
        extra={"session_index": spec.index, **dict(spec.extra), **extra},
        thread_ns=thread_ns,
    )


class Runner:
    """Runs (or continues) one plan.

    Args:
        plan: what to run.
        services: the services (default: built from ``plan.config``).
        executor: where sessions run (default: the one ``plan.config.executor`` names,
            :func:`default_executor`).
        observer: progress callbacks.
        force_new: move an existing run directory aside and start afresh.
        check: run :func:`~value_spectrum.runner.checks.preflight` first.
    """

    def __init__(
        self,
        plan: Plan,
        *,
        services: Services | None = None,
        executor: Executor | None = None,
        observer: RunObserver | None = None,
        force_new: bool = False,
        check: bool = True,
    ) -> None:
        self.plan = plan
        self.services = services or Services(plan.config)
        if executor is None:
            executor = default_executor(plan.config.executor)
        self.executor: Executor = executor
        self.observer: RunObserver = observer or _Silent()
        self.force_new = force_new
        self.check = check
        self.log = RunLog(run_dir_of(plan))
        self.stop_reason: str | None = None
        self.retry: set[str] = set()
        """Session ids whose record ended in error: the executor continues them from their last
        good turn (``run_session(..., retry_error=True)``)."""
        self.summary = RunSummary(run_dir=str(self.log.path), run_id=self.log.path.name)
        self.thread_ns = ""
        """The run's checkpoint thread namespace (the manifest's ``thread_ns``, read when the run
        directory is created or checked): ``SessionMeta.thread`` names each session's thread."""
        self._spent = 0.0
        self._worker_formats: dict[str, str] = {}
        self._stop_listeners: list[Any] = []
        self._store_failures: set[str] = set()

    # ---- the executor's side --------------------------------------------------------------
    def on_step(self, step: Step) -> None:
        """Count a recorded step (cost, progress); stop once the budget is spent."""
        self._spent += step.usage.cost_usd
        self.summary.decisions_this_run += 1
        self.observer.on_step(step)
        limit = self.plan.config.max_cost
        if limit is not None and self._spent >= limit:
            self.request_stop("budget")

    def add_cost(self, cost_usd: float) -> None:
        """Count spending an executor could not report step by step (remote sessions)."""
        self._spent += cost_usd
        limit = self.plan.config.max_cost
        if limit is not None and self._spent >= limit:
            self.request_stop("budget")

    async def session_ended(self, trajectory: Trajectory, *, written: bool = False) -> None:
        """Write an ended session's record (unless the executor already did) and count it."""
        if not written:
            # fsync in a worker thread: the other sessions keep going while the disk syncs; the
            # folder is fsynced once when the run ends (a kill never loses a renamed record)
            await asyncio.to_thread(self.log.write_session, trajectory, sync_dir=False)
        retried = trajectory.session_id in self.retry
        self.summary.sessions_run += 1
        if retried:
            self.summary.sessions_retried += 1
        self.summary.add(trajectory)
        self.observer.on_session_end(trajectory)

    def session_failed(self, spec: SessionSpec, exc: BaseException) -> None:
        """A session crashed outside the viewer (a bug): reported; it is redone next time."""
        self.summary.sessions_failed.append(f"{spec.session_id}: {type(exc).__name__}: {exc}")

    def store_failed(self, spec: SessionSpec, exc: OSError | sqlite3.Error) -> None:
        """A session that could not be stored (a full disk, a broken checkpoint store); the first
        failure of each kind is logged in one line, the others only counted: a full disk fails
        them all alike. The session resumes next time."""
        problem = _store_problem(exc)
        kind = str(getattr(exc, "strerror", None) or exc)
        if kind not in self._store_failures:
            self._store_failures.add(kind)
            logger.error("session %s failed: %s", spec.session_id, problem)
        else:
            logger.info("session %s failed: %s", spec.session_id, problem)
        self.summary.sessions_failed.append(f"{spec.session_id}: {problem}")

    def request_stop(self, reason: str) -> None:
        """Start no new session or turn; running sessions stop at their next turn, resumable."""
        if self.stop_reason is None:
            self.stop_reason = reason
            logger.warning("stopping the run: %s", reason)
        for listener in list(self._stop_listeners):
            listener(reason)

    def on_stop(self, listener: Any) -> None:
        """Call ``listener(reason)`` when a stop is requested (executors drain their sessions)."""
        self._stop_listeners.append(listener)

    def meta(self, spec: SessionSpec, extra: dict[str, Any]) -> SessionMeta:
        """The trajectory identity of ``spec``."""
        return session_meta(self.plan, spec, extra, self.thread_ns)

    def thread(self, session_id: str) -> str:
        """The checkpoint thread of ``session_id`` in this run."""
        return thread_name(self.thread_ns, session_id)

    # ---- the run ----------------------------------------------------------------------------
    def _prepare(self) -> None:
        """Create the run directory and its side files, or check an existing one.

        Raises:
            RunDirError: the directory holds another run (the message lists the differences and
                the ways out), or is not usable.
        """
        log, services = self.log, self.services
        corpus_info = services.corpus.describe()
        if log.exists():
            manifest = log.read_manifest()
            diffs = self.plan.differences(manifest.config)
            if manifest.corpus.get("content_hash") not in (None, corpus_info["content_hash"]):
                diffs.append("corpus: its content hash changed")
            if diffs:
                raise RunDirError(
                    f"{log.manifest_path}: this run was made with a different config (" + "; ".join(diffs)
                    + "); re-run with the same options, or pass --out NEW_DIR or --force-new"
                )
            self.thread_ns = manifest.thread_ns  # empty for a run made before namespaces
            self._write_side_files(corpus_info, only_missing=True)
            return
        log.check_can_create()
        specs = self.plan.sessions(services.persona_ids)
        manifest = build_manifest(
            self.plan, run_id=log.path.name, persona_ids=services.persona_ids, corpus=dict(corpus_info),
            embedder=services.embedder_info, seeds=tuple(s.seed for s in specs),
        )
        log.create(manifest)
        self.thread_ns = manifest.thread_ns
        self._write_side_files(corpus_info, only_missing=False)

    def _write_side_files(self, corpus_info: dict[str, Any], *, only_missing: bool) -> None:
        """``labels.json`` and ``personas.json``: what scoring needs (sessions hold only ids).

        Both are made from the corpus and the personas, which the manifest check has just matched,
        so a damaged copy left by an earlier run is rewritten (with a warning), never kept.
        """
        log, services = self.log, self.services
        if not (only_missing and _readable(log.read_labels, log.labels_path)):
            corpus = services.corpus
            log.write_labels(corpus, corpus=corpus_info, root=corpus.root,
                             keyframes={v.id: corpus.keyframe_locations(v) for v in corpus})
        if not (only_missing and _readable(log.read_personas, log.personas_path)):
            log.write_personas(services.personas)

    def note_response_formats(self, modes: dict[str, str]) -> None:
        """A worker's structured-output modes (model -> mode): the process and Ray executors'
        gateways live in their workers, and the manifest records the run's."""
        from value_spectrum.agents.formats import merge_modes

        self._worker_formats = merge_modes(self._worker_formats, modes)

    def _record_response_formats(self) -> None:
        """Which structured-output mode each model ran in (it may have degraded), in the manifest."""
        from value_spectrum.agents.formats import merge_modes

        modes = merge_modes(self.services.response_formats(), self._worker_formats)
        if modes:
            manifest = self.log.read_manifest()
            merged = {**manifest.response_formats, **modes}
            if merged != manifest.response_formats:
                self.log.write_manifest(manifest.model_copy(update={"response_formats": merged}))

    def _record_counts(self) -> None:
        """Keep the run's repair and retry totals in the manifest (``counts``)."""
        s = self.summary
        counts = {"repairs": s.repairs, "repaired": s.repaired}
        if s.retries is not None:
            counts["retries"] = s.retries
        try:
            manifest = self.log.read_manifest()
            if manifest.counts != counts:
                self.log.write_manifest(manifest.model_copy(update={"counts": counts}))
        except (RunDirError, OSError) as exc:  # the sessions hold the same numbers
            logger.warning("could not update the manifest's counts: %s", exc)

    def _lock(self) -> Any:
        """Take the directory's lock (moving an old run aside first for ``force_new``)."""
        if self.force_new and self.log.exists():
            with self.log.lock():  # refused while another process uses the old run
                aside = self.log.move_aside()
            logger.warning("moved the previous run in %s to %s (--force-new)", self.log.path, aside)
        return self.log.lock().acquire()

    async def run(self, *, handle_signals: bool = False) -> RunSummary:
        """Run every session of the plan that is not finished.

        Args:
            handle_signals: install a SIGINT handler (first Ctrl-C drains, second cancels).

        Raises:
            RunCheckError: the plan cannot run (see :func:`~value_spectrum.runner.checks.preflight`).
            RunInUseError: another process holds the run directory.
            RunDirError: the directory holds another run.
        """
        start = time.perf_counter()
        # a run directory in use is refused before the (slower) checks; a new one is locked only
        # after them, so that a refused plan writes nothing
        lock = self._lock() if self.log.exists() else None
        try:
            if self.check:
                self.summary.warnings = await preflight(self.plan, self.services)
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        specs = self.plan.sessions(self.services.persona_ids)
        if lock is None:
            self.log.check_can_create()  # before the lock file: nothing is written into a foreign folder
            lock = self._lock()
        try:
            self._prepare()
            todo = self._scan(specs)
            self.observer.on_plan(len(specs), len(specs) - len(todo), max(self.plan.steps_of(s) for s in specs))
            stranded = self._stranded_checkpoints(todo)
            if stranded:
                logger.warning("%s", stranded)
                self.summary.warnings.append(stranded)
            limit = self.plan.config.max_cost
            if limit is not None and limit <= 0 and todo:
                self.request_stop("budget")
            loop = asyncio.get_running_loop()
            if handle_signals:
                loop.add_signal_handler(signal.SIGINT, self._on_sigint)
            try:
                if self.stop_reason is None:  # with nothing to do, still opens (checks) its stores
                    await self.executor.execute(self, todo)
            finally:
                if handle_signals:
                    loop.remove_signal_handler(signal.SIGINT)
            self._record_response_formats()
            self._record_counts()
        finally:
            try:
                self.log.sync_sessions()
            finally:
                lock.release()
        s = self.summary
        s.sessions_pending = s.sessions_planned - s.sessions_finished
        s.cost_usd_this_run = round(self._spent, 8)
        s.stopped = self.stop_reason
        s.elapsed_s = round(time.perf_counter() - start, 3)
        s.finish()
        return s

    def _scan(self, specs: Sequence[SessionSpec]) -> list[SessionSpec]:
        """Count the sessions already ended; return those to run (unfinished, or ended in error:
        retried from their last good turn)."""
        s = self.summary
        s.sessions_planned = len(specs)
        planned = {sp.session_id for sp in specs}
        done: set[str] = set()
        scan = self.log.scan(planned, on_record=lambda t: self._already(t, done))
        s.corrupt = list(scan.corrupt)
        todo = [sp for sp in specs if sp.session_id not in done]
        return todo

    def _stranded_checkpoints(self, todo: Sequence[SessionSpec]) -> str | None:
        """Say so when unfinished sessions have checkpoints this executor does not read.

        With the default store the local executor keeps one database for the run
        (``checkpoints.sqlite``), the process and Ray executors one per session
        (``checkpoints/<session>.sqlite``; an executor says so with ``per_session_checkpoints``).
        A run continued on the other kind starts those sessions over from turn 0: their records
        are the same (every draw is seeded by seed and turn; the response cache answers repeated
        deterministic requests), but the turns are asked again."""
        from value_spectrum.runner._checkpoints import sessions_checkpointed

        if self.plan.config.checkpoints is not None or not todo:
            return None
        ids = {spec.session_id for spec in todo}
        if getattr(self.executor, "per_session_checkpoints", False):
            found = sessions_checkpointed(self.log.checkpoints_path, self.thread_ns) & ids
            theirs, where = "local", self.log.checkpoints_path
        else:
            found = {sid for sid in ids
                     if sessions_checkpointed(self.log.checkpoint_dir / f"{sid}.sqlite", self.thread_ns)}
            theirs, where = "processes or ray", self.log.checkpoint_dir
        if not found:
            return None
        mine = getattr(self.executor, "name", type(self.executor).__name__)
        return (f"{len(found)} unfinished session(s) have checkpoints in {where} from --executor {theirs}, "
                f"which --executor {mine} does not read: they start over from turn 0 (same records; "
                f"the response cache answers repeated requests). To resume them instead, continue "
                f"with --executor {theirs.split()[0]} until they finish.")

    def _already(self, trajectory: Trajectory, done: set[str]) -> None:
        if trajectory.status == "error":
            self.retry.add(trajectory.session_id)
            return
        done.add(trajectory.session_id)
        self.summary.sessions_skipped += 1
        self.summary.add(trajectory)

    _sigints = 0

    def _on_sigint(self) -> None:
        self._sigints += 1
        if self._sigints == 1:
            self.request_stop("interrupt")
            return
        self.request_stop("cancel")  # a second Ctrl-C: do not wait for running model calls


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


def _store_problem(exc: OSError | sqlite3.Error) -> str:
    """One line for a failure to write the run's files (a full disk most often)."""
    where = getattr(exc, "filename", None)
    why = " ".join(str(getattr(exc, "strerror", None) or exc).split())
    hint = "free some space and run the same command again" if "full" in why.lower() or "space" in why.lower() else (
        "run the same command again once the cause is fixed")
    return f"{where + ': ' if where else ''}{why}; {hint} (finished sessions are kept, unfinished ones resume)"


class Executor(Protocol):
    """Runs sessions of a plan for a :class:`Runner`.

    For each session in ``todo`` it builds the context (``runner.services.context``), runs or
    resumes it (``retry_error=True`` for ids in ``runner.retry``), and calls
    ``await runner.session_ended(trajectory)``; a crash is ``runner.session_failed(spec, exc)``.
    It starts no new session once ``runner.stop_reason`` is set and drains running ones when a
    stop is requested (``runner.on_stop``).

    An executor whose default SQLite checkpoints are one file per session
    (``RunLog.checkpoint_dir``) rather than the run's one ``checkpoints.sqlite`` sets the class
    attribute ``per_session_checkpoints = True`` (the runner then warns when a continued run's
    unfinished sessions were checkpointed by the other kind).
    """

    async def execute(self, runner: Runner, todo: Sequence[SessionSpec]) -> None:
        """Run ``todo``; return when every session ended, failed or was stopped."""
        ...


__all__ = [
    "DEFAULT_RUNS_DIR",
    "Executor",
    "RunDirError",
    "RunInUseError",
    "RunObserver",
    "Runner",
    "run_dir_of",
    "session_meta",
]
