"""`value-spectrum bench preference`: the paper's preference benchmark.

Thin over :func:`value_spectrum.api.abench_preference`: a preference plan (a fixed item list per
value, chosen by :func:`value_spectrum.runner.preference.select_items`) run by the one runner.
The answers are written as a run directory (``report`` works on it) and scored as % yes per
value, abstains (refused, unparseable, error) kept apart, beside the paper's figures. Everything
heavy (agents, retrieval, litellm) is imported inside the command, never at import of this module.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from value_spectrum.cli._console import console, fail, print_json
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
    gateway_config,
)

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

DEFAULT_PER_VALUE = 50
"""Items per value (the paper's about 50)."""


def preference_json(report: Any, *, items: str = "") -> dict[str, Any]:
    """The ``--json`` object: ``scores`` (value -> % yes), ``scores_ci`` (value -> 95% Wilson
    interval, %), ``abstain``, ``n``, ``mean``, ``sd``, ``reference`` (the paper's table) and
    where it came from."""
    from value_spectrum.scoring.reference import CITATION, preference_reference

    p = report.preference[0]
    return {
        "model": p.model,
        "scores": p.scores,
        "scores_ci": p.scores_ci,
        "scores_ci_method": "wilson 95%",
        "abstain": p.abstain,
        "abstain_total": sum(p.abstain.values()),
        "yes": p.yes,
        "no": p.no,
        "n": p.n,
        "mean": p.mean,
        "sd": p.sd,
        "items": items,
        "run_dir": report.run_dir,
        "reference": preference_reference(),
        "citation": CITATION,
    }


def preference(
    model: Annotated[
        str, typer.Option("--model", "-m", help="Model string, or 'reference' (offline).")
    ] = "reference",
    api_base: Annotated[
        str | None, typer.Option("--api-base", help="OpenAI-compatible endpoint.")
    ] = None,
    persona: Annotated[
        str | None, typer.Option("--persona", "-p", help="Ask in character: a persona id or YAML file (default: no persona).")
    ] = None,
    per_value: Annotated[
        int, typer.Option("--per-value", min=1, help="Items per value.")
    ] = DEFAULT_PER_VALUE,
    modality: Annotated[
        str, typer.Option("--modality", help="What the model sees: frames | caption | title.")
    ] = "frames",
    corpus: Annotated[
        str | None, typer.Option("--corpus", help="Corpus directory (default: demo).")
    ] = None,
    items: Annotated[str, typer.Option("--items", help="How items are chosen: retrieval (each value's keywords search the index), authored (the cards' own primary values), or auto (retrieval when the index opens, else authored).")] = "auto",
    embedder: Annotated[
        str, typer.Option("--embedder", help="Embedder for keyword retrieval: auto | clip | text | fake.")
    ] = "auto",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Run directory to write (default runs/preference-<model>[-<persona>]-<hash of the options>).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the item choice and the viewer.")] = 0,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, help="Questions at once.")
    ] = 8,
    rpm: RpmOption = None,
    tpm: TpmOption = None,
    max_parallel: MaxParallelOption = None,
    timeout: TimeoutOption = None,
    retries: RetriesOption = None,
    rate_limit_retries: RateLimitRetriesOption = None,
    fallback: FallbackOption = None,
    response_format: ResponseFormatOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan's calls, tokens and cost; call nothing, "
                                          "write nothing (items from the index only when it is built).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The paper's preference test: % of 'yes' per value, beside the paper's figures."""
    check_modality_name(modality)
    from value_spectrum.runner.preference import check_item_source

    try:
        check_item_source(items)
    except ValueError as exc:
        fail(str(exc))
    if embedder not in ("auto", "clip", "text", "fake"):
        fail(f"--embedder: unknown embedder {embedder!r}; choose auto, clip, text or fake")


    from value_spectrum.api import abench_preference, estimate_preference
    from value_spectrum.cli._estimate import print_versus, show_estimate, versus
    from value_spectrum.cli._running import refuse_in_use, run_or_fail, setup_logging
    from value_spectrum.cli.simulate_cmd import finish

    setup_logging()
    gateway = gateway_config(
        models=(model,), rpm=rpm, tpm=tpm, max_parallel=max_parallel, timeout=timeout, retries=retries,
        rate_limit_retries=rate_limit_retries, fallback=fallback, response_format=response_format,
    )
    options: dict[str, Any] = dict(api_base=api_base, persona=persona, per_value=per_value, modality=modality,
                                   corpus=corpus, items=items, embedder=embedder, seed=seed, gateway=gateway)
    if dry_run:
        show_estimate(lambda: estimate_preference(model, **options), as_json=as_json)
        return
    refuse_in_use(out)  # at once, before the checks that load model clients
    run = run_or_fail(abench_preference(
        model, out=out, api_base=api_base, persona=persona, per_value=per_value,
        modality=modality,  # type: ignore[arg-type]
        corpus=corpus, items=items, embedder=embedder, seed=seed, concurrency=concurrency, gateway=gateway,
        estimate=model != "reference",  # the items the run asks, selected once
    ), out=out)
    est = run.estimate
    run_dir = run.path
    if run.summary.failed:
        finish(run.summary, as_json=as_json, estimate=est)
    from value_spectrum.scoring.report import ScoringOptions, build_report

    rep = build_report(run_dir, ScoringOptions(n_boot=0))
    scored = sum(sum(p.yes.values()) + sum(p.no.values()) for p in rep.preference)
    asked = sum(sum(p.n.values()) for p in rep.preference)
    if scored == 0:
        hint = "; a model that takes no images needs --modality caption" if modality == "frames" else ""
        fail(f"no item could be scored: {asked} of {asked} abstained (refused, unreadable or errors; "
             f"see {run_dir}){hint}", code=1)
    if as_json:
        data = preference_json(rep, items=run.plan.item_source if run.plan is not None else "")
        print_json({**data, **({"estimate": versus(est, run.summary)} if est is not None else {})})
        return
    from value_spectrum.scoring.tables import preference_table

    console.print(preference_table(rep.preference, rep.reference))
    console.print(f"[dim]{rep.citation}[/]")
    console.print(f"run directory: {run_dir}  (value-spectrum report {run_dir} --html report.html)")
    if est is not None:
        print_versus(est, run.summary)


def build() -> typer.Typer:
    """The `bench` command group."""
    app = typer.Typer(no_args_is_help=True)
    app.command("preference")(preference)
    return app
