"""`value-spectrum corpus label`: value labels by keyword retrieval and zero-shot similarity,
with agreement against authored labels; ``--write`` stores them in an imported corpus. Thin over
:mod:`value_spectrum.retrieval.labelling`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from value_spectrum.cli._console import console, err_console, fail, print_json

if TYPE_CHECKING:
    from value_spectrum.retrieval.label_writing import LabelWriteResult
    from value_spectrum.retrieval.labelling import LabelReport


def label(
    corpus: Annotated[
        str | None, typer.Argument(metavar="CORPUS", help="Corpus directory, or 'demo' (default).")
    ] = None,
    embedder: Annotated[
        str, typer.Option("--embedder", "-e", help="auto, clip, text or fake.")
    ] = "auto",
    k: Annotated[
        int, typer.Option("--k", "-k", min=1, max=100, help="Videos retrieved per keyword.")
    ] = 5,
    temperature: Annotated[
        float,
        typer.Option(
            "--temperature", min=1e-4, help="Softmax temperature of the zero-shot labels."
        ),
    ] = 0.05,
    keywords: Annotated[
        Path | None,
        typer.Option("--keywords", help="A value keyword YAML file (default: the built-in one)."),
    ] = None,
    index: Annotated[
        Path | None,
        typer.Option("--index", "-i", help="Index directory (default: the user cache)."),
    ] = None,
    items: Annotated[
        bool, typer.Option("--items", help="With --json: include per-video labels.")
    ] = False,
    write: Annotated[
        bool,
        typer.Option(
            "--write",
            help="Write the proposed labels into CORPUS's corpus.jsonl (an imported corpus, not "
            "the demo), with labels-provenance.json beside it.",
        ),
    ] = False,
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            metavar="zero-shot|retrieval|both",
            help="With --write: zero-shot (default) labels every video with a graded profile; "
            "retrieval only the videos a keyword retrieved (one value each); both: their mean "
            "where retrieval has a label, else zero-shot.",
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite", help="With --write: replace authored labels too (default: keep them)."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Label videos with values (keyword retrieval + zero-shot) and compare with authored labels.

    With --write they go into an imported corpus, for `simulate --model reference` and `report`.
    """
    from value_spectrum.cli.index_cmd import check_index_dir, make_cli_embedder
    from value_spectrum.retrieval.building import open_index
    from value_spectrum.retrieval.corpus import CorpusError, load_corpus
    from value_spectrum.retrieval.index import VideoIndexError
    from value_spectrum.retrieval.label_writing import (
        DEFAULT_SOURCE,
        LABEL_SOURCES,
        LabelSource,
        LabelWriteError,
        write_labels,
    )
    from value_spectrum.retrieval.labelling import label_corpus, load_value_keywords

    if not write:
        if source is not None:
            fail("--source: only used with --write")
        if overwrite:
            fail("--overwrite: only used with --write")
    elif corpus is None or corpus == "demo":
        fail(
            "--write: the demo corpus's labels are authored and ship with the package; "
            "--write labels an imported corpus directory (value-spectrum corpus import DIR --out CORPUS)"
        )
    src: LabelSource = DEFAULT_SOURCE
    if source is not None:
        if source not in LABEL_SOURCES:
            fail(f"--source: expected one of {', '.join(LABEL_SOURCES)}, got {source!r}")
        src = source  # type: ignore[assignment]
    try:
        corp = load_corpus(corpus)
        kw = load_value_keywords(keywords)
    except (CorpusError, OSError, ValueError) as exc:
        fail(str(exc))
    check_index_dir(index, "--index")
    emb = make_cli_embedder(embedder)
    try:
        with err_console.status(f"labelling {len(corp)} videos with {emb.name} ..."):
            opened = open_index(corp, emb, path=index)
            report = label_corpus(
                corp, opened.index, emb, k=k, temperature=temperature, keywords=kw
            )
    except (VideoIndexError, KeyError) as exc:
        fail(str(exc))
    written: LabelWriteResult | None = None
    if write:
        try:
            written = write_labels(
                str(corpus), report, source=src, overwrite=overwrite, keywords_file=keywords
            )
        except (LabelWriteError, CorpusError, OSError) as exc:
            fail(str(exc).splitlines()[0])
    if as_json:
        data = report.model_dump(mode="json", exclude=None if items else {"items"})
        if written is not None:
            data["write"] = written.model_dump(mode="json")
        print_json(data)
        return
    _print_report(corp.name, emb.name, k, report)
    if written is not None:
        from rich.markup import escape

        w = written
        console.print(
            f"[bold]wrote[/] {src} labels: {w.written} videos labelled, {w.unchanged} unchanged"
            + (
                f", {w.kept_authored} authored kept (--overwrite replaces them)"
                if w.kept_authored
                else ""
            )
            + (f", {w.no_proposal} without a proposal" if w.no_proposal else "")
            + (f", {w.cleared} earlier labels cleared" if w.cleared else "")
            + ("" if w.changed_files else "; no file changed")
            + f"\n{escape(w.corpus_file)}\n{escape(w.provenance_file)}"
        )
        _print_written(w)


def _print_written(w: LabelWriteResult) -> None:
    """The labels the write set: each video's top two values (all ten: --json)."""
    from rich.table import Table

    if not w.labels:
        return
    table = Table(title=f"labels written ({w.source}); all ten values per video: --json")
    for col in ("id", "primary value", "relevance", "second value", "relevance "):
        table.add_column(col, justify="right" if col.startswith("relevance") else "left")
    for vid, labels in w.labels.items():
        if labels is None:
            table.add_row(vid, "[dim](cleared)[/]", "", "", "")
            continue
        (v1, p1), (v2, p2) = sorted(labels.items(), key=lambda kv: (-kv[1], kv[0]))[:2]
        table.add_row(vid, v1, f"{p1:.2f}", v2, f"{p2:.2f}")
    console.print(table)


def _print_report(name: str, emb_name: str, k: int, report: LabelReport) -> None:
    from rich.table import Table

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.0f}%"

    console.print(
        f"[bold]{name}[/]: {report.n_items} videos, {report.n_authored} with an authored primary "
        f"value; embedder {emb_name}\n"
        f"zero-shot top-1 agreement {pct(report.top1_agreement)}; keyword retrieval precision "
        f"{pct(report.retrieval_precision)} (k={k}), coverage {pct(report.coverage)}"
    )
    if report.n_authored == 0:  # nothing to compare with: show the proposed labels themselves
        table = Table(title="proposed labels (no authored labels to compare with)")
        for col in ("id", "zero-shot top-1", "p", "keyword retrieval"):
            table.add_column(col, justify="right" if col == "p" else "left")
        for it in report.items:
            hit = it.retrieval
            table.add_row(
                it.id,
                str(it.zero_shot_top1),
                f"{it.zero_shot.as_dict()[str(it.zero_shot_top1)]:.2f}",
                f"{hit.value} ({hit.keyword!r})" if hit is not None else "-",
            )
        console.print(table)
        err_console.print("every video's full labels: --json --items")
        return
    table = Table(title="zero-shot agreement per authored value")
    table.add_column("value")
    table.add_column("agreement", justify="right")
    for v, a in report.per_value.items():
        table.add_row(v, pct(a))
    console.print(table)
