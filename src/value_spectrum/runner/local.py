"""A simulate (or probe) run of a :class:`RunConfig`, through the one :class:`Runner`.

:func:`run_batch` is the coroutine most callers want; :class:`BatchRunner` keeps the older
object form. Both build ``Plan(config=config)`` and run it with the executor the config names.

Example:
    >>> from value_spectrum.runner.config import RunConfig
    >>> # summary = asyncio.run(run_batch(RunConfig(steps=5)))
"""

from __future__ import annotations

from pathlib import Path

from value_spectrum.runlog import RunDirError
from value_spectrum.runner.config import RunConfig
from value_spectrum.runner.plan import Plan
from value_spectrum.runner.runner import DEFAULT_RUNS_DIR, Executor, Runner, RunObserver, run_dir_of
from value_spectrum.runner.services import Services
from value_spectrum.runner.summary import RunSummary

BatchObserver = RunObserver
"""Progress callbacks (the older name of :class:`~value_spectrum.runner.runner.RunObserver`)."""


def plan_of(config: RunConfig, services: Services | None = None) -> Plan:
    """The plan of a simulate run of ``config`` (``probe`` when it probes; the instrument's
    identity from ``services``)."""
    if config.probe_every > 0:
        services = services or Services(config)
        return Plan(config=config, kind="simulate", instrument=services.instrument_identity())
    return Plan(config=config)


def default_run_dir(config: RunConfig) -> Path:
    """``config.out`` or ``runs/<deterministic name>``."""
    return Path(config.out) if config.out is not None else DEFAULT_RUNS_DIR / Plan(config=config).run_name()


class BatchRunner:
    """Runs (or continues) the simulate run of ``config`` in this process.

    Args:
        config: the run.
        services: prebuilt services (default: from the config).
        observer: progress callbacks.
        force_new: move an existing run directory aside and start afresh.
        durability: LangGraph checkpoint durability of the local executor (``sync`` | ``async``).
    """

    def __init__(
        self,
        config: RunConfig,
        *,
        services: Services | None = None,
        observer: RunObserver | None = None,
        force_new: bool = False,
        durability: str = "sync",
    ) -> None:
        from value_spectrum.runner.executor import LocalExecutor

        services = services or Services(config)
        executor: Executor | None = LocalExecutor(durability=durability) if config.executor == "local" else None
        self.runner = Runner(plan_of(config, services), services=services, executor=executor,
                             observer=observer, force_new=force_new)

    async def run(self, *, handle_signals: bool = False) -> RunSummary:
        """Run every unfinished session (see :meth:`Runner.run`)."""
        return await self.runner.run(handle_signals=handle_signals)


async def run_batch(
    config: RunConfig,
    *,
    services: Services | None = None,
    observer: RunObserver | None = None,
    force_new: bool = False,
    handle_signals: bool = False,
) -> RunSummary:
    """Run or continue the simulate run of ``config`` with the executor it names.

    Raises:
        RunCheckError: the plan cannot run (unknown model, missing key, unlabelled corpus, ...).
        RunInUseError: another process is running this run directory.
        RunDirError: the run directory holds a different run.
    """
    services = services or Services(config)
    runner = Runner(plan_of(config, services), services=services, observer=observer, force_new=force_new)
    return await runner.run(handle_signals=handle_signals)


__all__ = ["BatchObserver", "BatchRunner", "RunDirError", "default_run_dir", "plan_of", "run_batch", "run_dir_of"]
