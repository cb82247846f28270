"""`value-spectrum calibrate`: how well the report's statistics do on a design, measured by
simulation with the reference viewer at known profiles (see docs/methods.md)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from value_spectrum.cli._console import console, err_console, fail, print_json


def calibrate(
    decisions: Annotated[int, typer.Option("--decisions", "-n", min=1, help="Decisions per session.")] = 200,
    sessions: Annotated[int, typer.Option("--sessions", "-s", min=1, help="Sessions per group (persona x model).")] = 1,
    reps: Annotated[int, typer.Option("--reps", "-r", min=1, help="Groups simulated (known profiles: the built-in personas in turn).")] = 100,
    corpus: Annotated[str | None, typer.Option(help="Corpus directory (default: the demo corpus).")] = None,
    beta: Annotated[float, typer.Option(help="The reference viewer's beta (how sharply likes follow values).")] = 6.0,
    bias: Annotated[float, typer.Option(help="The reference viewer's baseline log-odds of a like.")] = 0.0,
    ci: Annotated[str, typer.Option(help="Interval method under test: wald (the report's default) or bootstrap.")] = "wald",
    perms: Annotated[int, typer.Option("--perms", min=20, help="Permutations of the drift test.")] = 100,
    drift: Annotated[float, typer.Option(min=0.0, max=1.0, help="Planted drift for the power estimate: share of the way to the mirror profile at the last turn (0: skip).")] = 0.75,
    seed: Annotated[int, typer.Option(help="Seed of the whole calibration.")] = 0,
    paired: Annotated[bool, typer.Option("--paired", help="Calibrate compare's paired differences instead (two "
                                         "viewers on the same videos turn by turn: Newcombe's interval, McNemar).")] = False,
    shift: Annotated[float, typer.Option(help="--paired: side b's log-odds shift for the power estimate (0: null only).")] = 0.5,
    session_sd: Annotated[float, typer.Option(min=0.0, help="--paired: SD of side b's log-odds offset per session "
                                              "(turns clustered by session; 0: independent turns).")] = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Measure interval coverage, bias, width, recovery, drift false positives and power, and
    steerability's null spread for DECISIONS x SESSIONS with the reference viewer; with --paired,
    the coverage, type-I error and power of compare's paired differences."""
    from value_spectrum.agents.reference import ReferenceViewer
    from value_spectrum.personas import load_builtin_personas
    from value_spectrum.retrieval.corpus import CorpusError, load_corpus
    from value_spectrum.scoring.calibration import Design
    from value_spectrum.scoring.calibration import calibrate as run_calibration
    from value_spectrum.scoring.revealed import CI_METHODS

    if ci not in CI_METHODS:
        fail(f"--ci: unknown method {ci!r}; choose {' or '.join(CI_METHODS)}")
    try:
        videos = load_corpus(corpus).videos
    except (CorpusError, OSError) as exc:
        fail(str(exc))
    labels = {v.id: v.values for v in videos if v.values is not None}
    if not labels:
        fail(f"{corpus or 'demo'}: no video has value labels; label the corpus first (corpus label)")
    personas = [p for p in load_builtin_personas() if p.target is not None]
    if paired:
        _paired(videos, labels, personas, decisions=decisions, sessions=sessions, reps=reps, beta=beta, bias=bias,
                shift=shift, session_sd=session_sd, seed=seed, corpus=corpus, as_json=as_json)
        return
    design = Design(
        decisions=decisions, sessions=sessions, reps=reps, seed=seed, ci=ci, n_perm=perms,
        drift=drift,
    )
    try:
        result = run_calibration(
            videos, personas, lambda s: ReferenceViewer(labels, beta=beta, bias=bias, seed=s), design
        )
    except ValueError as exc:
        fail(str(exc))
    out = result.as_dict()
    out["corpus"] = corpus or "demo"
    out["command"] = (
        f"value-spectrum calibrate --decisions {decisions} --sessions {sessions} --reps {reps}"
        f" --beta {beta:g} --bias {bias:g} --ci {ci} --perms {perms} --drift {drift:g} --seed {seed}"
        + (f" --corpus {corpus}" if corpus else "")
    )
    if as_json:
        print_json(out)
        return
    _print(out)
    if result.overall["coverage_mean"] is None:
        err_console.print("no repetition could be scored: " + ", ".join(result.reasons))
        raise typer.Exit(1)


def _paired(videos: Any, labels: Any, personas: Any, *, decisions: int, sessions: int, reps: int, beta: float,
            bias: float, shift: float, session_sd: float, seed: int, corpus: str | None, as_json: bool) -> None:
    """``calibrate --paired``: the paired statistics of ``compare`` against simulated truth."""
    from rich.table import Table

    from value_spectrum.agents.reference import ReferenceViewer
    from value_spectrum.scoring.paired_calibration import PairedDesign, calibrate_paired

    design = PairedDesign(decisions=decisions, sessions=sessions, reps=reps, shift=shift, session_sd=session_sd,
                          seed=seed)
    try:
        result = calibrate_paired(
            videos, personas, lambda s, h: ReferenceViewer(labels, beta=beta, bias=bias + h, seed=s), design)
    except ValueError as exc:
        fail(str(exc))
    out = result.as_dict()
    out["summary"] = {"null": result.summary("null"), "alternative": result.summary("alternative")}
    out["corpus"] = corpus or "demo"
    out["command"] = (
        f"value-spectrum calibrate --paired --decisions {decisions} --sessions {sessions} --reps {reps}"
        f" --beta {beta:g} --bias {bias:g} --shift {shift:g}"
        + (f" --session-sd {session_sd:g}" if session_sd else "") + f" --seed {seed}"
        + (f" --corpus {corpus}" if corpus else "")
    )
    if as_json:
        print_json(out)
        return
    console.print(f"{reps} repetitions x {sessions} session pair(s) x {decisions} paired decisions, beta {beta:g}, "
                  f"alternative: b shifted by {shift:g} log-odds; corpus {out['corpus']}", highlight=False)
    table = Table("value", "cover (null)", "type I", "cover (alt)", "power", "truth pp", "width pp", box=None)
    for value, row in result.null.items():
        alt = result.alternative.get(value, {})
        table.add_row(value, _fmt(row["coverage"]), _fmt(row["reject"]), _fmt(alt.get("coverage")),
                      _fmt(alt.get("reject")), _fmt(alt.get("truth_pp"), 1), _fmt(row["width_pp"], 1))
    console.print(table)
    null_all, alt_all = result.null.get("all", {}), result.alternative.get("all", {})
    if null_all.get("cluster_coverage") is not None:
        console.print(
            f"overall, cluster-robust by session: coverage {_fmt(null_all.get('cluster_coverage'))} (null), "
            f"{_fmt(alt_all.get('cluster_coverage'))} (alternative); type I {_fmt(null_all.get('cluster_reject'))}, "
            f"power {_fmt(alt_all.get('cluster_reject'))}", highlight=False)
    console.print(f"[dim]{out['command']}[/]", highlight=False)


def _fmt(x: object, nd: int = 2) -> str:
    return "-" if x is None else f"{float(x):.{nd}f}"  # type: ignore[arg-type]


def _print(out: dict[str, object]) -> None:
    from rich.table import Table

    d = out["design"]
    o = out["overall"]
    dr = out["drift"]
    st = out["steerability"]
    assert isinstance(d, dict)
    assert isinstance(o, dict)
    assert isinstance(dr, dict)
    assert isinstance(st, dict)
    console.print(
        f"{d['reps']} groups x {d['sessions']} session(s) x {d['decisions']} decisions, "
        f"beta {out['beta']:g}, {d['ci']} intervals at {d['level']:.0%}, corpus {out['corpus']}",
        highlight=False,
    )
    table = Table("value", "coverage", "bias", "width", box=None)
    per_value = out["per_value"]
    assert isinstance(per_value, dict)
    for v, row in per_value.items():
        table.add_row(v, _fmt(row["coverage"]), _fmt(row["bias"]), _fmt(row["width"]))
    table.add_row(
        "overall", f"{_fmt(o['coverage_mean'])} (min {_fmt(o['coverage_min'])})",
        _fmt(o["bias_mean"]), _fmt(o["width_mean"]),
    )
    console.print(table)
    console.print(
        f"recovery (Spearman) median {_fmt(o['recovery_median'])}, SD {_fmt(o['recovery_sd'])}; "
        f"calibration slope {_fmt(o['calibration_slope_mean'])}; "
        f"cannot score {_fmt(o['cannot_score_share'])}",
        highlight=False,
    )
    console.print(
        f"smoothed estimate (ridge + circle prior, not used for intervals): recovery median "
        f"{_fmt(o['smoothed_recovery_median'])}, calibration slope "
        f"{_fmt(o['smoothed_calibration_slope_mean'])}",
        highlight=False,
    )
    console.print(
        f"drift (windows of {int(dr['window'])}): false positives {_fmt(dr['false_positive_rate'])}, "
        f"power {_fmt(dr['power'])} at planted {dr['planted']}, "
        f"too short to tell {_fmt(dr['too_short_share'])}",
        highlight=False,
    )
    console.print(
        f"steerability with nothing planted: SD {_fmt(st['null_sd_pp'], 1)} pp "
        f"(relative {_fmt(st['null_sd_rel_pct'], 1)} %)",
        highlight=False,
    )
