"""`value-spectrum simulate`: run (or continue) a batch of feed sessions.

Thin over :func:`value_spectrum.api.asimulate` (the checks, the runner and the run directory are
the library's); the library is imported inside the command so that ``value-spectrum --help``
stays cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from value_spectrum.cli._console import EXIT_PARTIAL, console, err_console, fail, print_json
from value_spectrum.cli._gateway_flags import (
    FallbackOption,
    MaxParallelOption,
    RateLimitRetriesOption,
    ResponseFormatOption,
    RetriesOption,
    RpmOption,
    TimeoutOption,
    TpmOption,
    check_modality_name,
    check_models,
    error_line,
)
from value_spectrum.cli._running import (
    EXIT_INTERRUPTED,
    refuse_in_use,
    run_or_fail,
    setup_logging,
)

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from value_spectrum.records import Step, Trajectory
    from value_spectrum.runner.estimate import Estimate
    from value_spectrum.runner.summary import RunSummary



class _Bars:
    """rich progress bars on stderr: sessions, decisions, tokens and cost."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.sessions: TaskID | None = None
        self.decisions: TaskID | None = None
        self.tokens = 0
        self.cost = 0.0
        self.steps = 0
        self.todo = 0

    def on_plan(self, sessions: int, already_done: int, steps_per_session: int) -> None:
        self.steps = steps_per_session
        self.sessions = self.progress.add_task("sessions", total=sessions, completed=already_done, info="")
        self.todo = (sessions - already_done) * steps_per_session
        self.decisions = self.progress.add_task("decisions", total=self.todo, info="")

    def on_step(self, step: Step) -> None:
        self.tokens += step.usage.prompt_tokens + step.usage.completion_tokens
        self.cost += step.usage.cost_usd
        assert self.decisions is not None
        self.progress.update(
            self.decisions, advance=1, info=f"{self.tokens:,} tokens  ${self.cost:.4f}"
        )

    def on_session_end(self, trajectory: Trajectory) -> None:
        assert self.sessions is not None
        self.progress.update(self.sessions, advance=1)
        short = self.steps - len(trajectory.steps)
        if short > 0 and trajectory.status == "left" and self.decisions is not None:
            # a viewer that left will not take its remaining turns: the bar's total shrinks
            self.todo -= short
            self.progress.update(self.decisions, total=self.todo)


def _print_summary(s: RunSummary) -> None:
    from rich.table import Table

    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    done = f"{s.sessions_finished}/{s.sessions_planned}"
    detail = f"{s.sessions_run} now, {s.sessions_skipped} already done"
    if s.sessions_resumed:
        detail += f", {s.sessions_resumed} resumed"
    if s.sessions_retried:
        detail += f", {s.sessions_retried} retried after an error"
    table.add_row("sessions", f"{done}  ({detail})")
    if set(s.status_counts) - {"finished"}:  # viewers that left, sessions in error: how they ended
        table.add_row("ended", "  ".join(f"{k} {v}" for k, v in sorted(s.status_counts.items())))
    if s.sessions_error:
        table.add_row("ended in error", f"[red]{s.sessions_error}[/]")
    if s.error_decisions:
        table.add_row("error decisions", f"[red]{s.error_decisions}[/]")
    table.add_row("decisions", f"{s.decisions}  ({s.decisions_this_run} now)")
    table.add_row("outcomes", "  ".join(f"{k} {v}" for k, v in s.outcomes.items()))
    table.add_row("like rate", "n/a" if s.like_rate is None else f"{s.like_rate:.1%}")
    if s.repairs or s.retries:
        retried = "" if s.retries is None else f", {s.retries} requests re-sent"
        table.add_row("repairs", f"{s.repairs} repair requests, {s.repaired} decisions repaired{retried}")
    table.add_row("tokens", f"{s.prompt_tokens:,} in, {s.completion_tokens:,} out")
    table.add_row("cost", f"${s.cost_usd:.4f}  (${s.cost_usd_this_run:.4f} now)")
    table.add_row("time", f"{s.elapsed_s:.1f} s")
    table.add_row("run directory", s.run_dir)
    console.print(table)
    for line in s.corrupt:
        err_console.print(f"[yellow]redone:[/] {line}", highlight=False)
    for line in s.sessions_failed:
        err_console.print(f"[red]failed:[/] {line}", highlight=False)
    if s.sessions_pending and s.decisions_this_run:
        err_console.print(
            "[dim]decisions, outcomes, tokens and cost count finished sessions only; "
            "'now' counts every turn of this invocation, unfinished sessions included[/]", highlight=False)
    if s.stopped == "budget":
        err_console.print(
            f"[yellow]stopped:[/] budget spent; {s.sessions_pending} sessions unfinished. "
            "Re-run the same command to continue.", highlight=False)
    elif s.stopped == "interrupt":
        err_console.print(
            f"[yellow]interrupted:[/] finished sessions kept; {s.sessions_pending} unfinished. "
            "Re-run the same command to continue.", highlight=False)
    elif s.failed:
        err_console.print(
            f"[red]failed:[/] {s.sessions_error} sessions ended in error, {s.error_decisions} decisions are errors; "
            f"first: {s.first_error}", highlight=False, markup=True)
        err_console.print(
            "[yellow]fix the cause and re-run the same command:[/] sessions that ended in error continue from their "
            "last good turn; finished ones are kept", highlight=False)
    elif s.sessions_finished:
        err_console.print(f"[dim]next: value-spectrum report {s.run_dir} --html report.html[/]", highlight=False)


def print_summary(s: RunSummary) -> None:
    """The summary table and its notes (shared by ``probe`` and ``bench``)."""
    _print_summary(s)


def simulate(
    personas: Annotated[
        list[str] | None,
        typer.Option("--personas", "-p", help="Persona id or YAML/JSON file (repeatable). Default: every built-in persona."),
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", help="litellm model string, or 'reference' (repeatable). Default: reference."),
    ] = None,
    api_base: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint (vLLM, llama.cpp, Ollama).")] = None,
    sessions: Annotated[int, typer.Option(min=1, help="Sessions per (persona, model) pair.")] = 1,
    steps: Annotated[int, typer.Option(min=1, help="Decisions per session.")] = 30,
    feed: Annotated[str, typer.Option(help="Feed policy: random | balanced | adaptive | search | replay.")] = "random",
    modality: Annotated[str, typer.Option(help="What the viewer sees: frames | caption | title.")] = "frames",
    strategy: Annotated[str, typer.Option(help="Prompt strategy: plain | simple | isq | values.")] = "simple",
    seed: Annotated[int, typer.Option(help="Run seed; every session seed derives from it.")] = 0,
    concurrency: Annotated[int, typer.Option(min=1, help="Sessions at once.")] = 8,
    max_cost: Annotated[float | None, typer.Option(min=0.0, help="Budget in USD for this invocation; stops cleanly when spent.")] = None,
    probe_every: Annotated[int, typer.Option(min=0, help="Questionnaire probe every K turns (0: none).")] = 0,
    out: Annotated[Path | None, typer.Option(help="Run directory (default runs/sim-<hash of the options>).")] = None,
    corpus: Annotated[str | None, typer.Option(help="Corpus directory (default: the demo corpus).")] = None,
    embedder: Annotated[str, typer.Option(help="Embedder for the adaptive and search feeds: auto | clip | text | fake.")] = "auto",
    temperature: Annotated[float, typer.Option(min=0.0, help="Sampling temperature of model viewers.")] = 0.0,
    cache: Annotated[bool, typer.Option("--cache/--no-cache", help="Response cache for deterministic requests.")] = True,
    cache_store: Annotated[str | None, typer.Option(help="Response cache: a folder, sqlite:///FILE or postgresql://USER@HOST/DB shared by every worker and run (default: the user cache).")] = None,
    latency: Annotated[bool, typer.Option("--latency/--no-latency", help="Record decision wall times (off: byte-identical reruns).")] = True,
    executor: Annotated[str, typer.Option(help="Where sessions run: local (one event loop) | processes (worker processes on this machine) | ray.")] = "local",
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster address for --executor ray.")] = None,
    ray_actors: Annotated[int | None, typer.Option(min=1, help="Ray async actors, each running many sessions (default: one per cluster CPU).")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="--executor processes: worker processes, each running many sessions (default: one per CPU).")] = None,
    checkpoints: Annotated[str | None, typer.Option(help="Checkpoint store: a SQLite file or postgresql://USER@HOST/DB shared by every worker (default: the run directory).")] = None,
    rpm: RpmOption = None,
    tpm: TpmOption = None,
    max_parallel: MaxParallelOption = None,
    timeout: TimeoutOption = None,
    retries: RetriesOption = None,
    rate_limit_retries: RateLimitRetriesOption = None,
    fallback: FallbackOption = None,
    response_format: ResponseFormatOption = None,
    force_new: Annotated[bool, typer.Option("--force-new", help="Move an existing run in --out aside and start afresh.")] = False,
    leave: Annotated[bool, typer.Option("--leave", help="Viewers may leave the feed (sessions end 'left'): a model viewer "
                                        "is asked each turn; the reference viewer gets a boredom model (--boredom, "
                                        "default 0.15).")] = False,
    boredom: Annotated[float | None, typer.Option(min=0.0, help="Reference viewer: leave hazard per consecutive skip "
                                                  "(sessions end 'left'); off by default.")] = None,
    dwell: Annotated[bool, typer.Option("--dwell", help="Record seconds watched per decision: a model viewer is asked; "
                                        "the reference viewer stays P(like) x the video's length.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan's calls, tokens and cost; call nothing, "
                                          "write nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Run persona viewers through feeds of short videos; re-running the same command continues."""
    from pydantic import ValidationError
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from value_spectrum.api import asimulate
    from value_spectrum.runner.config import GatewayConfig

    setup_logging()
    try:
        gateway = GatewayConfig(rpm=rpm, tpm=tpm, max_parallel_requests=max_parallel, timeout_s=timeout,
                                num_retries=retries, rate_limit_retries=rate_limit_retries,
                                fallbacks=tuple(fallback or ()),
                                response_format=response_format,  # type: ignore[arg-type]
                                cache_store=cache_store)
    except ValidationError as exc:
        fail(error_line(exc))
    if cache_store is not None and not cache:
        fail("--cache-store: not used with --no-cache")
    models = tuple(model or ("reference",))
    check_models(gateway, models)
    if boredom is not None and "reference" not in models:
        fail("--boredom: the reference viewer's leave hazard (--model reference); a model viewer decides itself "
             "whether it leaves: --leave")
    viewer_options: dict[str, Any] = {**({"boredom": boredom} if boredom is not None else {}),
                                      **({"leave": True} if leave else {}), **({"dwell": True} if dwell else {})}
    options: dict[str, Any] = dict(
        personas=tuple(personas or ()), models=models, api_base=api_base, sessions=sessions, steps=steps, feed=feed,
        modality=modality, strategy=strategy, seed=seed, probe_every=probe_every, corpus=corpus, embedder=embedder,
        temperature=temperature, cache=cache, gateway=gateway, viewer_options=viewer_options)
    if dry_run:
        _dry_run(options, as_json=as_json)
        return
    refuse_in_use(out)  # at once, before the checks that load model clients
    check_modality_name(modality)
    est = _estimate_quietly(options) if any(m != "reference" for m in models) else None
    if ray_address is not None and executor != "ray":
        fail("--ray-address: only used with --executor ray")
    if ray_actors is not None and executor != "ray":
        fail("--ray-actors: only used with --executor ray")
    if workers is not None and executor != "processes":
        fail("--workers: only used with --executor processes")
    progress = Progress(
        TextColumn("{task.description:>9}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"), console=err_console, disable=quiet or as_json, transient=False,
    )
    run = run_or_fail(
        asimulate(
                personas=tuple(personas or ()), models=models, api_base=api_base, sessions=sessions, steps=steps,
                feed=feed, modality=modality, strategy=strategy, seed=seed, concurrency=concurrency,  # type: ignore[arg-type]
                max_cost=max_cost, probe_every=probe_every, out=out, corpus=corpus, embedder=embedder,
                temperature=temperature, cache=cache, latency=latency, executor=executor, ray_address=ray_address,
                ray_actors=ray_actors, workers=workers, checkpoints=checkpoints, gateway=gateway, force_new=force_new, observer=_Bars(progress), handle_signals=True,
                viewer_options=viewer_options,
        ),
        out=out, names={"models": "model", "record_latency": "latency"}, around=progress,
        disk_hint="; fix that and run the same command again (finished sessions are kept)",
    )
    finish(run.summary, as_json=as_json, estimate=est)


def _dry_run(options: dict[str, Any], *, as_json: bool) -> None:
    """``--dry-run``: the estimate of the plan, nothing called or written."""
    from value_spectrum.cli._estimate import show_estimate
    from value_spectrum.runner.config import RunConfig
    from value_spectrum.runner.estimate import estimate

    show_estimate(lambda: estimate(RunConfig(**options)), as_json=as_json, names={"models": "model"})


def _estimate_quietly(options: dict[str, Any]) -> Estimate | None:
    """The estimate shown beside the run's spending (None when it cannot be made)."""
    from value_spectrum.cli._estimate import estimate_quietly
    from value_spectrum.runner.config import RunConfig
    from value_spectrum.runner.estimate import estimate

    return estimate_quietly(lambda: estimate(RunConfig(**options)))


def finish(summary: RunSummary, *, as_json: bool, estimate: Estimate | None = None) -> None:
    """Print the summary (with the dry-run estimate beside what was spent, when given) and exit
    with the truth: 130 after Ctrl-C, 1 when a session ended in error, a decision is an error or
    a session crashed, else 0."""
    from value_spectrum.cli._estimate import print_versus, versus

    if as_json:
        print_json({**summary.to_dict(), **({"estimate": versus(estimate, summary)} if estimate else {})})
    else:
        _print_summary(summary)
        if estimate is not None:
            print_versus(estimate, summary)
    if summary.stopped == "interrupt":
        raise typer.Exit(EXIT_INTERRUPTED)
    if summary.failed:
        raise typer.Exit(EXIT_PARTIAL)
