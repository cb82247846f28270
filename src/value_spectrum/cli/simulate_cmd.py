"""`value-spectrum simulate`: run (or continue) a batch of feed sessions.

Thin over :func:`value_spectrum.runner.local.run_batch`; the runner is imported inside the
command so that ``value-spectrum --help`` stays cheap.
"""

from __future__ import annotations

import logging
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
    check_modality,
    check_models,
    error_line,
)

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from value_spectrum.records import Step, Trajectory
    from value_spectrum.runner.summary import RunSummary

EXIT_INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT), as shells expect."""


class _Bars:
    """rich progress bars on stderr: sessions, decisions, tokens and cost."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.sessions: TaskID | None = None
        self.decisions: TaskID | None = None
        self.tokens = 0
        self.cost = 0.0

    def on_plan(self, sessions: int, already_done: int, steps_per_session: int) -> None:
        self.sessions = self.progress.add_task("sessions", total=sessions, completed=already_done, info="")
        todo = (sessions - already_done) * steps_per_session
        self.decisions = self.progress.add_task("decisions", total=todo, info="")

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


def _print_summary(s: RunSummary) -> None:
    from rich.table import Table

    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    done = f"{s.sessions_finished}/{s.sessions_planned}"
    detail = f"{s.sessions_run} now, {s.sessions_skipped} already done"
    if s.sessions_resumed:
        detail += f", {s.sessions_resumed} resumed"
    table.add_row("sessions", f"{done}  ({detail})")
    if s.status_counts.get("error"):
        table.add_row("ended in error", str(s.status_counts["error"]))
    table.add_row("decisions", f"{s.decisions}  ({s.decisions_this_run} now)")
    table.add_row("outcomes", "  ".join(f"{k} {v}" for k, v in s.outcomes.items()))
    table.add_row("like rate", "n/a" if s.like_rate is None else f"{s.like_rate:.1%}")
    if s.repairs or s.retries:
        retried = "" if s.retries is None else f", {s.retries} provider retries"
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
    elif s.sessions_finished:
        err_console.print(f"[dim]next: value-spectrum report {s.run_dir} --html report.html[/]", highlight=False)


def _check_credentials(models: tuple[str, ...], api_base: str | None) -> None:
    """Refuse, in one line and before any work, a model whose provider key is missing."""
    llms = [m for m in models if m != "reference"]
    if not llms:
        return
    from value_spectrum.agents.gateway import credentials_problem

    for m in llms:
        problem = credentials_problem(m, api_base)
        if problem:
            fail(problem)


def _warn_unpriced(models: tuple[str, ...]) -> None:
    """One warning per model that --max-cost cannot stop: litellm prices it at 0 or not at all."""
    llms = [m for m in models if m != "reference"]
    if not llms:
        return
    import litellm

    for m in llms:
        try:
            info = litellm.get_model_info(m)
            priced = bool(info.get("input_cost_per_token") or info.get("output_cost_per_token"))
        except Exception:  # litellm raises its own error types for unmapped models
            priced = False
        if not priced:
            err_console.print(
                f"[yellow]--max-cost:[/] litellm has no price for {m}; its turns count as $0 and the "
                "budget will not stop them (tokens are still counted)", highlight=False)


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
    latency: Annotated[bool, typer.Option("--latency/--no-latency", help="Record decision wall times (off: byte-identical reruns).")] = True,
    executor: Annotated[str, typer.Option(help="Where sessions run: local (asyncio) | ray.")] = "local",
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster address for --executor ray.")] = None,
    ray_actors: Annotated[int | None, typer.Option(min=1, help="Ray async actors, each running many sessions (default: one per cluster CPU).")] = None,
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
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Run persona viewers through feeds of short videos; re-running the same command continues."""
    import asyncio

    from pydantic import ValidationError
    from rich.logging import RichHandler
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from value_spectrum.runlog import RunDirError
    from value_spectrum.runner.config import RunConfig
    from value_spectrum.runner.local import run_batch
    from value_spectrum.runner.services import Services

    logging.basicConfig(level=logging.WARNING, handlers=[RichHandler(console=err_console, show_path=False)], format="%(message)s")
    options: dict[str, Any] = dict(
        personas=tuple(personas or ()), models=tuple(model or ("reference",)), api_base=api_base,
        sessions=sessions, steps=steps, feed=feed, modality=modality, strategy=strategy, seed=seed,
        concurrency=concurrency, max_cost=max_cost, probe_every=probe_every, out=out, corpus=corpus,
        embedder=embedder, temperature=temperature, cache=cache, record_latency=latency,
        executor=executor, ray_address=ray_address, ray_actors=ray_actors, checkpoints=checkpoints,
        gateway=dict(rpm=rpm, tpm=tpm, max_parallel_requests=max_parallel, timeout_s=timeout, num_retries=retries,
                     rate_limit_retries=rate_limit_retries, fallbacks=tuple(fallback or ()),
                     response_format=response_format),
    )
    try:
        config = RunConfig(**options)
    except ValidationError as exc:
        fail(error_line(exc, {"models": "model", "record_latency": "latency"}))
    check_models(config.gateway, config.models)
    _check_credentials(config.models, config.api_base)
    check_modality(config.models, config.api_base, config.modality, config.gateway)
    try:
        services = Services(config)
    except (ValueError, OSError, RuntimeError) as exc:
        fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    except KeyboardInterrupt:
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if ray_address is not None and executor != "ray":
        fail("--ray-address: only used with --executor ray")
    if ray_actors is not None and executor != "ray":
        fail("--ray-actors: only used with --executor ray")
    if config.max_cost is not None:
        _warn_unpriced(config.models)
    if "reference" in config.models and not any(v.values is not None for v in services.corpus):
        fail(f"--model reference chooses by the videos' value labels, and corpus {services.corpus.name!r} has none; "
             "label it (see `value-spectrum corpus label`) or use an LLM viewer")

    progress = Progress(
        TextColumn("{task.description:>9}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"), console=err_console, disable=quiet or as_json, transient=False,
    )
    try:
        with progress:
            summary = asyncio.run(
                run_batch(config, services=services, observer=_Bars(progress), force_new=force_new, handle_signals=True)
            )
    except RunDirError as exc:
        fail(str(exc))
    except ImportError as exc:
        fail(str(exc))
    except OSError as exc:  # the run directory cannot be written (a full disk, permissions)
        where = f"{exc.filename}: " if exc.filename else f"{out or 'the run directory'}: "
        fail(f"{where}{exc.strerror or exc}; fix that and run the same command again (finished sessions are kept)")
    except KeyboardInterrupt:  # before the batch's own handler was in place: nothing to keep yet
        err_console.print("[yellow]interrupted[/]", highlight=False)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if as_json:
        print_json(summary.to_dict())
    else:
        _print_summary(summary)
    if summary.stopped == "interrupt":
        raise typer.Exit(EXIT_INTERRUPTED)
    if summary.sessions_failed:
        raise typer.Exit(EXIT_PARTIAL)
