"""The public Python API: run a simulation, a probe or the preference benchmark, and score it.

Every command of the CLI is one of these functions; the keywords mirror its options. The sync
functions work where an event loop is already running (Jupyter): the run then happens in a worker
thread with its own loop. The ``a``-prefixed coroutines are for async code.

Example:
    >>> import value_spectrum as vs
    >>> # run = vs.simulate(personas=["family_oriented"], steps=20)
    >>> # vs.score(run).to_dict()["groups"][0]["alignment"]
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from value_spectrum.graphs.feeds import FeedFactory, FeedPolicy
    from value_spectrum.graphs.session import ProbeHook
    from value_spectrum.personas.model import Persona
    from value_spectrum.personas.prompts import PromptStrategy
    from value_spectrum.records import Modality
    from value_spectrum.retrieval.corpus import Corpus
    from value_spectrum.runner.config import GatewayConfig, RunConfig
    from value_spectrum.runner.estimate import Estimate
    from value_spectrum.runner.plan import Plan
    from value_spectrum.runner.runner import RunObserver
    from value_spectrum.runner.services import Services, ViewerFactory
    from value_spectrum.runner.summary import RunSummary
    from value_spectrum.scoring.report_model import Report

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end from sync code, also inside a running event loop (Jupyter):
    then in a worker thread with a loop of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="value-spectrum") as pool:
        return pool.submit(asyncio.run, coro).result()


@dataclass(frozen=True)
class Run:
    """A run directory and what the invocation that made it did.

    ``ok`` is False when a session ended in error, a decision is an ``error`` outcome or a
    session crashed (the CLI then exits 1); calling the same function again retries those
    sessions from their last good turn.
    """

    path: Path
    """The run directory."""
    summary: RunSummary
    """Counts, outcomes, errors, tokens, cost, time (``summary.to_dict()``: ``simulate --json``)."""
    kind: str = "simulate"
    """simulate | probe | preference | fork."""
    plan: Plan | None = None
    """What was run."""
    estimate: Estimate | None = None
    """The plan's estimate made just before it ran, where asked for (``estimate=True``)."""

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.summary.failed

    def score(self, **options: Any) -> Report:
        """:func:`score` of this run."""
        return score(self, **options)

    def __fspath__(self) -> str:
        return str(self.path)


def _tuple(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def refuse_if_in_use(out: str | Path | None) -> None:
    """Refuse at once a run directory another process is running, before the corpus, the
    personas and the model clients load (the runner checks again when it takes the lock).

    Raises:
        RunInUseError: one line naming the directory and the holder's pid.
    """
    if out is not None:
        from value_spectrum.runlog import RunLock

        RunLock(out).check_free()


def _gateway(gateway: GatewayConfig | Mapping[str, Any] | None) -> GatewayConfig:
    from value_spectrum.runner.config import GatewayConfig

    if gateway is None:
        return GatewayConfig()
    return gateway if isinstance(gateway, GatewayConfig) else GatewayConfig(**gateway)


async def arun_plan(
    plan: Plan,
    services: Services,
    *,
    observer: RunObserver | None = None,
    force_new: bool = False,
    handle_signals: bool = False,
) -> Run:
    """Run (or continue) any plan with the one runner; the executor is the config's."""
    from value_spectrum.runner.runner import Runner

    runner = Runner(plan, services=services, observer=observer, force_new=force_new)
    summary = await runner.run(handle_signals=handle_signals)
    return Run(path=Path(summary.run_dir), summary=summary, kind=plan.kind, plan=plan)


async def asimulate(
    personas: str | Sequence[str] | None = None,
    models: str | Sequence[str] = ("reference",),
    *,
    steps: int = 30,
    sessions: int = 1,
    seed: int = 0,
    feed: str | FeedPolicy = "random",
    modality: Modality = "frames",
    strategy: str | PromptStrategy = "simple",
    api_base: str | None = None,
    concurrency: int = 8,
    out: str | Path | None = None,
    corpus: str | Corpus | None = None,
    embedder: str = "auto",
    temperature: float = 0.0,
    cache: bool = True,
    latency: bool = True,
    max_cost: float | None = None,
    probe_every: int = 0,
    instrument: str | None = None,
    executor: str = "local",
    ray_address: str | None = None,
    ray_actors: int | None = None,
    workers: int | None = None,
    checkpoints: str | None = None,
    gateway: GatewayConfig | Mapping[str, Any] | None = None,
    viewer_options: Mapping[str, Any] | None = None,
    force_new: bool = False,
    viewer_factory: ViewerFactory | None = None,
    feeds: Mapping[str, FeedFactory] | None = None,
    probe: ProbeHook | None = None,
    persona_objects: Sequence[Persona] | None = None,
    observer: RunObserver | None = None,
    handle_signals: bool = False,
) -> Run:
    """Run (or continue) persona viewers through feeds of short videos (``value-spectrum
    simulate``). Re-running the same call continues: finished sessions are kept, sessions that
    ended in error are retried from their last good turn.

    Args:
        personas: persona ids or YAML/JSON files (default: every built-in persona).
        models: litellm model strings, or ``reference`` (the no-LLM reference viewer).
        feed: a feed name (random | balanced | adaptive | search | replay, or one in ``feeds``)
            or your own policy object (``name`` + ``next(state, rng)``).
        strategy: plain | simple | isq | values, or your own callable ``persona -> Prompt``.
        corpus: a corpus directory, a :class:`~value_spectrum.retrieval.corpus.Corpus`, or None
            for the demo corpus.
        gateway: rate limits, retries, timeout, fallbacks (``GatewayConfig`` or its fields).
        executor: ``local`` (this process), ``processes`` (``workers`` worker processes on this
            machine; what you pass in Python must pickle) or ``ray``.
        viewer_factory: your own viewer per session (``SessionSpec -> Viewer``).
        feeds: more named feed factories.
        probe: your own probe hook ``(persona, viewer, after_turn) -> Probe | None``.
        persona_objects: :class:`~value_spectrum.personas.model.Persona` objects instead of ids.
        observer: progress callbacks.
        handle_signals: first Ctrl-C drains, second cancels (main thread only).

    The other keywords are ``simulate``'s options of the same name (see ``docs/cli.md``).

    Returns:
        The :class:`Run`: its ``path`` and ``summary``.

    Raises:
        pydantic.ValidationError: a bad option (names the field).
        RunCheckError: an unknown model or provider, missing credentials, an unlabelled corpus
            for the reference viewer, more steps than the corpus has videos.
        RunInUseError: another process is running this run directory.
        RunDirError: the directory holds another run.
    """
    from value_spectrum.graphs.feeds import USER_PREFIX
    from value_spectrum.personas.prompts import strategy_name
    from value_spectrum.runner.config import RunConfig
    from value_spectrum.runner.services import Services

    refuse_if_in_use(out)
    feed_name = feed if isinstance(feed, str) else f"{USER_PREFIX}{feed.name}"
    given_corpus = None if corpus is None or isinstance(corpus, str) else corpus
    config = RunConfig(
        personas=tuple(p.id for p in persona_objects) if persona_objects else _tuple(personas),
        models=_tuple(models),
        api_base=api_base, sessions=sessions, steps=steps, feed=feed_name, modality=modality,
        strategy=strategy_name(strategy), seed=seed, concurrency=concurrency, max_cost=max_cost, probe_every=probe_every,
        instrument=instrument, out=None if out is None else Path(out),
        corpus=corpus if isinstance(corpus, str) else (None if given_corpus is None else given_corpus.name),
        embedder=embedder,  # type: ignore[arg-type]
        temperature=temperature, cache=cache, record_latency=latency,
        executor=executor,  # type: ignore[arg-type]
        ray_address=ray_address, ray_actors=ray_actors, workers=workers, checkpoints=checkpoints,
        gateway=_gateway(gateway),
        viewer_options=dict(viewer_options or {}),
    )
    services = Services(
        config, corpus=given_corpus, personas=tuple(persona_objects) if persona_objects else None,
        viewer_factory=viewer_factory, feed=None if isinstance(feed, str) else feed, feeds=feeds, probe=probe,
        strategy=None if isinstance(strategy, str) else strategy,
    )
    return await arun_plan(simulate_plan(config, services), services, observer=observer,
                           force_new=force_new, handle_signals=handle_signals)


def simulate_plan(config: RunConfig, services: Services) -> Plan:
    """The plan of a simulate run (with the probe instrument's identity when it probes)."""
    from value_spectrum.runner.plan import Plan

    return Plan(config=config, instrument=services.instrument_identity())


def simulate(*args: Any, **kwargs: Any) -> Run:
    """:func:`asimulate`, from sync code (also inside a running event loop).

    Example:
        >>> import value_spectrum as vs
        >>> # run = vs.simulate(personas=["family_oriented"], steps=20)
        >>> # run.path, run.ok, run.summary.decisions
    """
    return run_sync(asimulate(*args, **kwargs))


async def aprobe(
    persona: str,
    model: str = "reference",
    *,
    turns: int = 60,
    every: int = 20,
    instrument: str | None = None,
    feed: str = "random",
    seed: int = 0,
    modality: Modality = "frames",
    out: str | Path | None = None,
    corpus: str | None = None,
    api_base: str | None = None,
    gateway: GatewayConfig | Mapping[str, Any] | None = None,
    viewer_factory: ViewerFactory | None = None,
    observer: RunObserver | None = None,
) -> Run:
    """One feed session with questionnaire probes every ``every`` turns (``value-spectrum
    probe``). The instrument is part of the run's identity: another ``instrument`` is another
    run directory (or, with the same ``out``, a refusal naming the difference).

    Raises:
        ValueError: ``every`` more than ``turns``, a bad persona, instrument or option.
        RunCheckError, RunInUseError, RunDirError: as :func:`asimulate`.
    """
    from value_spectrum.runner.services import Services

    plan = probe_plan(persona, model, turns=turns, every=every, instrument=instrument, feed=feed, seed=seed,
                      modality=modality, out=out, corpus=corpus, api_base=api_base, gateway=gateway)
    refuse_if_in_use(out)
    services = Services(plan.config, viewer_factory=viewer_factory)
    plan = plan.model_copy(update={"instrument": services.instrument_identity()})
    return await arun_plan(plan, services, observer=observer)


def probe_plan(
    persona: str,
    model: str = "reference",
    *,
    turns: int = 60,
    every: int = 20,
    instrument: str | None = None,
    feed: str = "random",
    seed: int = 0,
    modality: Modality = "frames",
    out: str | Path | None = None,
    corpus: str | None = None,
    api_base: str | None = None,
    gateway: GatewayConfig | Mapping[str, Any] | None = None,
) -> Plan:
    """The plan of :func:`aprobe` (``probe --dry-run`` estimates it): one session of ``turns``
    decisions with a questionnaire every ``every`` turns. Reads nothing but its options.

    Raises:
        ValueError: ``every`` more than ``turns``.
        pydantic.ValidationError: a bad option (names the field).
    """
    from value_spectrum.runner.config import RunConfig
    from value_spectrum.runner.plan import Plan

    if every > turns:
        raise ValueError(f"--every: {every} is more than --turns {turns}: no probe would be asked")
    config = RunConfig(
        personas=(persona,), models=(model,), api_base=api_base, steps=turns, probe_every=every,
        instrument=instrument, out=None if out is None else Path(out), feed=feed, seed=seed, concurrency=1,
        modality=modality,
        corpus=corpus, gateway=_gateway(gateway),
    )
    return Plan(config=config, kind="probe")


def probe(*args: Any, **kwargs: Any) -> Run:
    """:func:`aprobe`, from sync code (also inside a running event loop)."""
    return run_sync(aprobe(*args, **kwargs))


async def abench_preference(
    model: str = "reference",
    *,
    persona: str | None = None,
    per_value: int = 50,
    modality: Modality = "frames",
    corpus: str | None = None,
    items: str = "auto",
    embedder: str = "auto",
    seed: int = 0,
    concurrency: int = 8,
    out: str | Path | None = None,
    api_base: str | None = None,
    gateway: GatewayConfig | Mapping[str, Any] | None = None,
    viewer_factory: ViewerFactory | None = None,
    observer: RunObserver | None = None,
    estimate: bool = False,
) -> Run:
    """The paper's preference benchmark (``value-spectrum bench preference``): a fixed item list
    per value, each asked the paper's question (or, with ``persona``, in character); score it with
    :func:`score` (``report.preference``). ``estimate``: also estimate the plan (the items it
    will ask) just before running it, in ``Run.estimate`` (None when it cannot be made).

    Raises:
        ValueError: an unknown item source, modality or embedder; a corpus without items.
        RunCheckError, RunInUseError, RunDirError: as :func:`asimulate`.
    """
    from value_spectrum.retrieval.corpus import load_corpus
    from value_spectrum.runner.preference import preference_plan
    from value_spectrum.runner.services import Services

    refuse_if_in_use(out)
    loaded = load_corpus(corpus)
    plan = preference_plan(
        loaded, model, persona=persona, per_value=per_value, modality=modality, corpus_spec=corpus,
        items=items,  # type: ignore[arg-type]
        embedder=embedder, seed=seed, concurrency=concurrency, api_base=api_base, gateway=_gateway(gateway),
        out=None if out is None else Path(out),
    )
    before = _estimate_quietly(plan, loaded) if estimate else None
    services = Services(plan.config, corpus=loaded, viewer_factory=viewer_factory)
    run = await arun_plan(plan, services, observer=observer)
    return dataclasses.replace(run, estimate=before)


def _estimate_quietly(plan: Plan, corpus: Corpus) -> Estimate | None:
    """The estimate of ``plan`` before it runs; None (logged) when it cannot be made (the run
    itself checks and reports the same problems)."""
    import logging

    from value_spectrum.runner.estimate import estimate

    try:
        return estimate(plan, corpus=corpus)
    except Exception as exc:  # never stop a run for its estimate
        logging.getLogger(__name__).info("no estimate: %s", exc)
        return None


def estimate_probe(persona: str, model: str = "reference", **options: Any) -> Estimate:
    """``probe --dry-run``: the calls, tokens and cost of :func:`aprobe` with the same options,
    nothing called or written (:func:`value_spectrum.runner.estimate.estimate`)."""
    from value_spectrum.runner.estimate import estimate

    return estimate(probe_plan(persona, model, **options))


def estimate_preference(
    model: str = "reference", *, persona: str | None = None, per_value: int = 50, modality: Modality = "frames",
    corpus: str | None = None, items: str = "auto", embedder: str = "auto", seed: int = 0,
    api_base: str | None = None, gateway: GatewayConfig | Mapping[str, Any] | None = None,
) -> Estimate:
    """``bench preference --dry-run``: the estimate of :func:`abench_preference`. Items come
    from the corpus index only when it is built already (a dry run builds nothing); otherwise
    from the authored primary values, and the estimate's notes say so."""
    from value_spectrum.retrieval.corpus import load_corpus
    from value_spectrum.runner.estimate import estimate
    from value_spectrum.runner.preference import preference_plan

    loaded = load_corpus(corpus)
    plan = preference_plan(loaded, model, persona=persona, per_value=per_value, modality=modality,
                           corpus_spec=corpus, items=items, embedder=embedder, seed=seed,  # type: ignore[arg-type]
                           api_base=api_base, gateway=_gateway(gateway), build_index=False)
    est = estimate(plan, corpus=loaded)
    note = f"items: {sum(len(v) for v in plan.items.values())} over {len(plan.items)} values, {plan.item_source}"
    if items != "authored" and plan.item_source == "authored":
        note += (" (the corpus index is not built yet, and a dry run builds nothing: the real run retrieves "
                 "items by keyword, so the count per value may differ)")
    return dataclasses.replace(est, notes=(*est.notes, note))


def bench_preference(*args: Any, **kwargs: Any) -> Run:
    """:func:`abench_preference`, from sync code (also inside a running event loop)."""
    return run_sync(abench_preference(*args, **kwargs))


async def afork(
    run: Run | str | Path,
    *,
    session: str,
    at: int,
    model: str | None = None,
    persona: str | None = None,
    strategy: str | None = None,
    out: str | Path | None = None,
    api_base: str | None = None,
    checkpoints: str | None = None,
    viewer_factory: ViewerFactory | None = None,
    observer: RunObserver | None = None,
    handle_signals: bool = False,
) -> Run:
    """Continue one recorded session from turn ``at`` under one changed condition (``value-spectrum
    fork``): the new run's first ``at`` steps are the parent's records, byte for byte; from turn
    ``at`` on the session's seeds are the parent's and only the condition differs. The new run is
    a normal run directory (its manifest's ``config["fork"]`` names the parent run, session, K and
    the change) that ``report`` and ``compare`` read like any other; ``compare`` with the parent
    reports paired differences over the turns after K. Calling it again continues the fork.

    Args:
        run: the parent run (a :class:`Run` or its directory).
        session: the session id to fork.
        at: K, the turns shared with the parent (0 .. its steps - 1).
        model, persona, strategy: the one changed condition.
        out: the fork's run directory.
        api_base: OpenAI-compatible endpoint of the fork's model (default: the parent's).
        checkpoints: the fork's checkpoint store (SQLite file or ``postgresql://...``).

    Raises:
        ForkError: unknown session, K out of range, nothing or more than one thing changed.
        RunCheckError: an unknown model or provider, missing credentials.
        RunDirError, RunInUseError: as :func:`asimulate`.
    """
    from value_spectrum.runner.fork import fork_plan

    refuse_if_in_use(out)
    parent = run.path if isinstance(run, Run) else run
    plan, services = fork_plan(parent, session=session, at=at, model=model, persona=persona,
                               strategy=strategy, out=out, api_base=api_base, checkpoints=checkpoints,
                               viewer_factory=viewer_factory)
    return await arun_plan(plan, services, observer=observer, handle_signals=handle_signals)


def fork(*args: Any, **kwargs: Any) -> Run:
    """:func:`afork`, from sync code (also inside a running event loop).

    Example:
        >>> import value_spectrum as vs
        >>> # child = vs.fork("runs/a", session="carer--reference--000", at=10, model="openai/x")
    """
    return run_sync(afork(*args, **kwargs))


def score(
    run: Run | str | Path,
    *,
    window: int | None = None,
    boot: int | None = None,
    ci: str | None = None,
    perms: int | None = None,
    seed: int | None = None,
    circle_prior: float | None = None,
    l2: float | None = None,
    min_decisions: int | None = None,
    **options: Any,
) -> Report:
    """Score a run directory (``value-spectrum report``): the report's ``to_dict()`` is exactly
    what ``report RUN --json`` prints (the keywords are its options; left out, the same
    defaults); ``groups_frame()`` and ``decisions_frame()`` are pandas DataFrames. Nothing
    outside the run directory is read. Other ``ScoringOptions`` fields may be given by name.

    Raises:
        RunDirError: not a run directory, or a file it cannot read.
    """
    from value_spectrum.scoring.report import ScoringOptions, build_report

    given = {"window": window, "n_boot": boot, "ci": ci, "n_perm": perms, "seed": seed,
             "circle_prior": circle_prior, "l2": l2, "min_decisions": min_decisions}
    opts = ScoringOptions(**{k: v for k, v in given.items() if v is not None}, **options)
    path = run.path if isinstance(run, Run) else Path(run)
    return build_report(path, opts)


def export(run: Run | str | Path, output: str | Path | None = None, *, fmt: str = "jsonl",
           what: str = "decisions") -> Any:
    """The run's tidy rows (``what``: decisions | groups | probes): a pandas DataFrame, or written
    to ``output`` (jsonl | csv | parquet, atomically) when given (``value-spectrum export``)."""
    from value_spectrum.runner.export import COLUMNS_OF, export_rows, write_rows

    path = run.path if isinstance(run, Run) else Path(run)
    rows = export_rows(path, what)  # type: ignore[arg-type]
    columns = COLUMNS_OF[what]
    if output is None:
        import pandas as pd

        return pd.DataFrame(list(rows), columns=list(columns))
    return write_rows(rows, fmt, Path(output), columns)  # type: ignore[arg-type]


__all__ = [
    "Run",
    "abench_preference",
    "afork",
    "aprobe",
    "arun_plan",
    "asimulate",
    "bench_preference",
    "estimate_preference",
    "estimate_probe",
    "export",
    "fork",
    "probe",
    "probe_plan",
    "refuse_if_in_use",
    "run_sync",
    "score",
    "simulate",
    "simulate_plan",
]
