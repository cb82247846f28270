"""`value-spectrum corpus label`: value labels by keyword retrieval and zero-shot similarity,
with agreement against authored labels. Thin over :mod:`value_spectrum.retrieval.labelling`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from value_spectrum.cli._console import console, err_console, fail, print_json


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
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Label videos with values (keyword retrieval + zero-shot) and compare with authored labels."""
    from value_spectrum.cli.index_cmd import check_index_dir, make_cli_embedder
    from value_spectrum.retrieval.building import open_index
    from value_spectrum.retrieval.corpus import CorpusError, load_corpus
    from value_spectrum.retrieval.index import VideoIndexError
    from value_spectrum.retrieval.labelling import label_corpus, load_value_keywords

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
    if as_json:
        data = report.model_dump(mode="json", exclude=None if items else {"items"})
        print_json(data)
        return
    from rich.table import Table

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.0f}%"

    console.print(
        f"[bold]{corp.name}[/]: {report.n_items} videos, {report.n_authored} with an authored primary "
        f"value; embedder {emb.name}\n"
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
                it.id, str(it.zero_shot_top1), f"{it.zero_shot.as_dict()[str(it.zero_shot_top1)]:.2f}",
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
