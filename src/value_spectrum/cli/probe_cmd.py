"""`value-spectrum probe`: one feed session with questionnaire probes every K turns; reports what
the persona *says* (stated profile per probe, its stability) against what it *does* (the revealed
profile from its likes and skips).

Thin over :func:`value_spectrum.api.aprobe` (a probe plan for the one runner; the instrument is
part of the run's identity). Heavy imports happen inside the command.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from value_spectrum.cli._console import console, err_console, fail, print_json
from value_spectrum.cli._gateway_flags import (
    FallbackOption,
    MaxParallelOption,
    ModalityOption,
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
    from value_spectrum.runner.config import GatewayConfig


def run_probe_session(
    persona_id: str,
    model: str,
    *,
    out: Path | None = None,
    api_base: str | None = None,
    turns: int = 60,
    every: int = 20,
    instrument: str | None = None,
    feed: str = "random",
    seed: int = 0,
    modality: str = "frames",
    gateway: GatewayConfig | None = None,
) -> Path:
    """Run (or continue) the session; returns the run directory (:func:`value_spectrum.api.probe`).

    Raises:
        ValueError: bad persona, instrument or configuration (one line).
    """
    from value_spectrum.api import probe as run_probe

    return run_probe(persona_id, model, out=out, api_base=api_base, turns=turns, every=every,
                     instrument=instrument, feed=feed, seed=seed, modality=modality,  # type: ignore[arg-type]
                     gateway=gateway).path


def _probe_json(group: Any, run_dir: Path) -> dict[str, Any]:
    stated = group.stated or {}
    return {
        "run_dir": str(run_dir),
        "persona_id": group.persona_id,
        "model": group.model,
        "outcomes": group.outcomes,
        "probes": stated.get("probes", []),
        "stated": stated.get("mean"),
        "stated_stability": stated.get("stability"),
        "stated_stability_reason": stated.get("stability_reason", "no probes"),
        "stated_alignment": stated.get("alignment"),
        "revealed": group.revealed,
        "revealed_reason": group.revealed_reason,
        "alignment": group.alignment,
        "alignment_reason": group.alignment_reason,
        "gap_spearman": stated.get("gap_spearman"),
        "gap_difference": stated.get("gap_difference"),
        "gap_reason": stated.get("gap_reason", "no probes"),
        "target": group.target,
    }


def _table(data: dict[str, Any]) -> Table:
    t = Table(title=f"{data['persona_id']} / {data['model']}: stated vs revealed (centred)")
    t.add_column("value")
    t.add_column("target", justify="right")
    for p in data["probes"]:
        t.add_column(f"probe@{p['after_turn']}", justify="right")
    t.add_column("stated", justify="right")
    t.add_column("revealed", justify="right")
    t.add_column("gap (SD)", justify="right")

    def f(x: Any) -> str:
        return "[dim]n/a[/]" if x is None else f"{x:+.2f}"

    from value_spectrum.values import VALUE_IDS

    for v in VALUE_IDS:
        row = [v, "n/a" if data["target"] is None else f"{data['target'][v]:.2f}"]
        row += [f((p["centred"] or {}).get(v)) for p in data["probes"]]
        row += [
            f((data["stated"] or {}).get(v)),
            f((data["revealed"] or {}).get(v)),
            f((data["gap_difference"] or {}).get(v)),
        ]
        t.add_row(*row)
    return t


def probe(
    persona: Annotated[str, typer.Option("--persona", "-p", help="Persona id or persona file.")],
    model: Annotated[
        str, typer.Option("--model", "-m", help="Model string, or 'reference' (offline).")
    ] = "reference",
    api_base: Annotated[
        str | None, typer.Option("--api-base", help="OpenAI-compatible endpoint.")
    ] = None,
    turns: Annotated[int, typer.Option("--turns", min=1, help="Feed turns.")] = 60,
    every: Annotated[int, typer.Option("--every", min=1, help="Probe every K turns.")] = 20,
    instrument: Annotated[
        str | None,
        typer.Option(
            "--instrument", help="Instrument id or YAML/JSON file (default: our own items)."
        ),
    ] = None,
    feed: Annotated[
        str, typer.Option("--feed", help="Feed policy: random | balanced | adaptive | search | replay.")
    ] = "random",
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Run directory (default runs/probe-<persona>-<model>-<hash of the options>)."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Run seed.")] = 0,
    modality: ModalityOption = "frames",
    rpm: RpmOption = None,
    tpm: TpmOption = None,
    max_parallel: MaxParallelOption = None,
    timeout: TimeoutOption = None,
    retries: RetriesOption = None,
    rate_limit_retries: RateLimitRetriesOption = None,
    fallback: FallbackOption = None,
    response_format: ResponseFormatOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan's calls, tokens and cost; call nothing, "
                                          "write nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Probe a persona's stated values every K turns of a feed session, against its choices.

    Exit status: 0 when answers could be scored (unanswered items are counted on stderr), 1 when
    no questionnaire item got a readable rating or a session ended in error, 2 on a usage error.
    """


    from value_spectrum.api import aprobe
    from value_spectrum.cli._estimate import estimate_quietly, print_versus, show_estimate, versus
    from value_spectrum.cli._running import refuse_in_use, run_or_fail, setup_logging
    from value_spectrum.cli.simulate_cmd import finish
    from value_spectrum.scoring.report import ScoringOptions, build_report

    setup_logging()
    gateway = gateway_config(
        models=(model,), rpm=rpm, tpm=tpm, max_parallel=max_parallel, timeout=timeout, retries=retries,
        rate_limit_retries=rate_limit_retries, fallback=fallback, response_format=response_format,
    )
    options: dict[str, Any] = dict(out=out, api_base=api_base, turns=turns, every=every, instrument=instrument,
                                   feed=feed, seed=seed, gateway=gateway, modality=modality)
    if dry_run:
        from value_spectrum.api import estimate_probe

        show_estimate(lambda: estimate_probe(persona, model, **options), as_json=as_json)
        return
    refuse_in_use(out)  # at once, before the checks that load model clients
    check_modality_name(modality)
    if model != "reference":
        from value_spectrum.api import estimate_probe

        est = estimate_quietly(lambda: estimate_probe(persona, model, **options))
    else:
        est = None
    run = run_or_fail(aprobe(persona, model, **options), out=out)
    run_dir = run.path
    if run.summary.failed:
        finish(run.summary, as_json=as_json, estimate=est)
    from value_spectrum.agents.probing import probe_coverage
    from value_spectrum.runlog import RunLog

    rep = build_report(run_dir, ScoringOptions(n_boot=0, window=max(every, 10)))
    if not rep.groups:
        fail(f"{run_dir}: the session produced no record", code=1)
    data = _probe_json(rep.groups[0], run_dir)
    coverage = probe_coverage(p for t in RunLog(run_dir).iter_sessions() for p in t.probes)
    data["items_asked"] = coverage.asked
    data["items_unanswered"] = coverage.unanswered
    data["unanswered_sample"] = coverage.sample_reply
    if est is not None:
        data["estimate"] = versus(est, run.summary)
    nothing = coverage.answered == 0
    if as_json:
        print_json(data)
        if coverage.unanswered:
            err_console.print(f"probe: {coverage.describe()}", markup=False, highlight=False, soft_wrap=True)
        if nothing:
            raise typer.Exit(1)
        return
    console.print(_table(data))

    def f(x: Any) -> str:
        return "n/a" if x is None else f"{x:.2f}"

    console.print(
        f"stated stability across probes {f(data['stated_stability'])} · stated alignment {f(data['stated_alignment'])} · "
        f"revealed alignment {f(data['alignment'])} · stated-vs-revealed Spearman {f(data['gap_spearman'])}"
    )
    for key in ("stated_stability_reason", "revealed_reason", "gap_reason"):
        if data[key]:
            err_console.print(f"[yellow]{key.replace('_', ' ')}:[/] {data[key]}")
    console.print(
        f"outcomes: {', '.join(f'{k} {v}' for k, v in data['outcomes'].items())} · run directory: {run_dir}"
    )
    if est is not None:
        print_versus(est, run.summary)
    if coverage.unanswered:
        err_console.print(f"probe: {coverage.describe()}", markup=False, highlight=False, soft_wrap=True)
    if nothing:
        err_console.print("probe: no questionnaire answer could be scored", highlight=False)
        raise typer.Exit(1)
