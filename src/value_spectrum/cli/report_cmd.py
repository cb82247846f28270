"""`value-spectrum report RUN_DIR`: score a run directory; terminal tables, JSON or HTML.

Imports only the scoring room (no torch, no chromadb, no model client): a report is recomputed
from the run directory alone.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from value_spectrum.cli._console import console, err_console, fail, print_json

log = logging.getLogger(__name__)


def _manifest_corpus(run_dir: Path) -> tuple[str | None, str | None]:
    """The corpus a run used (a spec ``load_corpus`` accepts) and its content hash."""
    try:
        m = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, None
    corpus: dict[str, Any] = m.get("corpus") or {}
    config: dict[str, Any] = m.get("config") or {}
    spec = config.get("corpus") or corpus.get("path") or corpus.get("name")
    return (None if spec is None else str(spec)), corpus.get("content_hash")


def _open_corpus(run_dir: Path) -> Any:
    """The run's corpus, reopened, when it is on this machine and unchanged; else None."""
    spec, digest = _manifest_corpus(run_dir)
    if spec is None:
        return None
    try:
        from value_spectrum.retrieval.corpus import load_corpus

        corpus = load_corpus(spec)
    except Exception as exc:  # any failure only means: no fallback
        log.info("cannot reopen corpus %r: %s", spec, exc)
        return None
    if digest and corpus.content_hash() != digest:
        err_console.print(f"[yellow]corpus {spec!r} changed since the run; not using its labels[/]")
        return None
    return corpus


def report(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="A run directory (manifest.json + sessions/).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write a self-contained HTML page here.")
    ] = None,
    window: Annotated[
        int | None,
        typer.Option(
            "--window", min=1,
            help="Turns per consistency window (default: a third of the session, 10 to 50).",
        ),
    ] = None,
    boot: Annotated[
        int,
        typer.Option(
            "--boot", min=0, help="Bootstrap resamples for confidence intervals (0: none)."
        ),
    ] = 200,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")] = 0,
    circle_prior: Annotated[
        float,
        typer.Option(
            "--circle-prior",
            min=0.0,
            help="Strength of the value-circle smoothness prior of the decomposition (0: plain ridge).",
        ),
    ] = 1.0,
    min_decisions: Annotated[
        int, typer.Option("--min-decisions", min=1, help="Fewest decisions a profile is fitted on.")
    ] = 10,
) -> None:
    """Score a run: revealed profiles, alignment, drift, stated vs revealed, the paper's scores."""
    from value_spectrum.scoring.report import ScoringOptions, build_report
    from value_spectrum.scoring.rundir import LABELS_FILE, RunDirError, labelled

    opts = ScoringOptions(
        window=window,
        n_boot=boot,
        seed=seed,
        min_decisions=min_decisions,
        circle_prior=circle_prior,
    )
    corpus = None
    fallback = None
    if run_dir.is_dir() and not (run_dir / LABELS_FILE).is_file():
        corpus = _open_corpus(run_dir)
        if corpus is not None:
            err_console.print(
                f"no {LABELS_FILE} in {run_dir}: using the labels of corpus {corpus.name!r} (same content hash)"
            )
            fallback = labelled(corpus)
    try:
        rep = build_report(run_dir, opts, labels=fallback)
    except RunDirError as exc:
        fail(str(exc))
    if html is not None:
        from value_spectrum.scoring.html import write_html

        if corpus is None and any(e.keyframe is None for e in rep.examples):
            corpus = _open_corpus(run_dir)
        if corpus is not None:
            rep = rep.model_copy(
                update={"examples": [_with_keyframe(e, corpus) for e in rep.examples]}
            )

        try:
            out = write_html(rep, html)
        except OSError as exc:
            fail(f"{html}: cannot write the HTML report ({exc.strerror or exc})")
        err_console.print(f"HTML report written to {out}")
    if as_json:
        print_json(rep.model_dump(mode="json"))
        return
    from value_spectrum.scoring.tables import report_renderables

    console.print(report_renderables(rep, width=console.width))


def _with_keyframe(example: Any, corpus: Any) -> Any:
    """The example with its first keyframe resolved from the corpus (rendered on demand for demo
    cards); unchanged when it has one or the video is not in the corpus."""
    if example.keyframe is not None or example.video_id not in corpus:
        return example
    try:
        paths = corpus.keyframe_paths(corpus.get(example.video_id))
    except Exception as exc:  # a missing image is a placeholder, never a failed report
        log.info("no keyframe for %s: %s", example.video_id, exc)
        return example
    return example.model_copy(update={"keyframe": str(paths[0])}) if paths else example
