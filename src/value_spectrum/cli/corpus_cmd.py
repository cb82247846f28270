"""`value-spectrum corpus ...`: import a collection, describe a corpus, pre-render demo media.

Thin over :mod:`value_spectrum.retrieval.importer`, :mod:`~value_spectrum.retrieval.summary`
and :mod:`~value_spectrum.retrieval.demo`; the library is imported inside each command so that
``value-spectrum --help`` stays cheap. (``corpus label`` is registered by ``cli/app.py``.)
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from value_spectrum.cli._console import (
    EXIT_OK,
    EXIT_PARTIAL,
    console,
    err_console,
    fail,
    print_json,
)


def import_(
    src: Annotated[
        Path, typer.Argument(metavar="DIR", help="Folder of videos and screenshots (read only).")
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Corpus directory to write: missing, empty, or a previous import (replaced).",
        ),
    ],
    keyframes: Annotated[
        int, typer.Option("--keyframes", "-k", min=1, max=64, help="Keyframes sampled per video.")
    ] = 3,
    manifest: Annotated[
        Path | None,
        typer.Option(
            "--manifest", "-m", help="CSV or JSONL metadata, one row per file ('file' column)."
        ),
    ] = None,
    max_side: Annotated[
        int,
        typer.Option(
            "--max-side",
            min=0,
            help="Shrink keyframes and stills to at most this many pixels on the longer side "
            "(0 keeps the original size).",
        ),
    ] = 1280,
    max_pixels: Annotated[
        int,
        typer.Option(
            "--max-pixels",
            min=0,
            help="Reject images and video frames with more pixels than this, before decoding "
            "them (0: no limit).",
        ),
    ] = 40_000_000,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", "-j", min=1, help="Files processed at once (default: CPUs, at most 4)."
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help='Print {"imported": N, "rejected": [{"path", "reason"}]}.'),
    ] = False,
) -> None:
    """Import a folder of short videos (mp4, webm, mov) and screenshots (jpg, png, webp).

    Metadata comes from a same-name .json sidecar or from --manifest.

    Bad items are rejected with a reason; the rest is imported.

    Exit status: 0 all imported, 1 some rejected, 2 usage error (e.g. nothing importable).
    """
    from value_spectrum.retrieval.importer import ImportUsageError, import_collection

    if manifest is not None and not manifest.is_file():
        fail(f"--manifest {manifest}: no such file")
    try:
        # the spinner names each file as it goes; with --json, stderr stays quiet
        with nullcontext() if as_json else err_console.status("importing ...") as status:
            result = import_collection(
                src,
                out,
                keyframes=keyframes,
                manifest=manifest,
                workers=workers,
                max_side=max_side or None,
                max_pixels=max_pixels or None,
                on_item=None if status is None else lambda p: status.update(f"importing {p}"),
            )
    except ImportUsageError as exc:
        fail(str(exc))
    if as_json:
        print_json(result.as_json())
    else:
        for r in result.rejected:
            err_console.print(
                f"[yellow]rejected[/] {escape(r.path)}: {escape(r.reason)}",
                highlight=False,
                soft_wrap=True,
            )
        where = f"into {escape(str(out))}" if result.imported else f"({escape(str(out))} left unchanged)"
        console.print(
            f"imported [bold]{len(result.imported)}[/] item(s) {where}; "
            f"rejected [bold]{len(result.rejected)}[/]",
            highlight=False,
        )
    raise typer.Exit(EXIT_PARTIAL if result.rejected else EXIT_OK)


def _info_table(data: dict[str, Any]) -> None:
    from rich.table import Table

    console.print(
        f"[bold]{data['name']}[/]: {data['items']} items, {data['with_video']} with a video, "
        f"{data['labelled']} labelled\ncontent hash {data['content_hash'][:16]}…",
        highlight=False,
    )
    values = Table(title="primary value", title_justify="left")
    values.add_column("value")
    values.add_column("items", justify="right")
    for name, n in data["per_primary_value"].items():
        values.add_row(name, str(n), style="dim" if n == 0 else "")
    platforms = Table(title="platform", title_justify="left")
    platforms.add_column("platform")
    platforms.add_column("items", justify="right")
    for name, n in data["platforms"].items():
        platforms.add_row(name, str(n), style="dim" if n == 0 else "")
    topics = Table(title="topic", title_justify="left")
    topics.add_column("topic")
    topics.add_column("items", justify="right")
    for name, n in sorted(data["topics"].items(), key=lambda kv: (-kv[1], kv[0])):
        topics.add_row(name or "(none)", str(n))
    from rich.columns import Columns

    console.print(Columns([values, platforms, topics]))


def info(
    corpus: Annotated[
        str | None,
        typer.Argument(metavar="CORPUS", help="Corpus directory, or 'demo' (default)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Describe a corpus: items per primary value, platform and topic; videos; content hash."""
    from value_spectrum.retrieval.corpus import CorpusError, load_corpus
    from value_spectrum.retrieval.summary import corpus_summary

    try:
        data = corpus_summary(load_corpus(corpus))
    except CorpusError as exc:
        fail(str(exc))
    if as_json:
        print_json(data)
    else:
        _info_table(data)


def render(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Write the demo corpus as a self-contained corpus directory here: missing, empty, or an "
            "earlier export (default: only fill the user cache).",
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", min=1, help="Only the first N cards (by id).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
) -> None:
    """Pre-render the demo corpus's keyframes (and its MP4s) into the cache, or export it."""
    from value_spectrum.retrieval.cache import cache_dir
    from value_spectrum.retrieval.corpus import CorpusError
    from value_spectrum.retrieval.demo import (
        MEDIA_SUBDIR,
        load_demo_corpus,
        render_demo_media,
        write_demo_corpus_dir,
    )

    try:
        corpus = load_demo_corpus()
    except CorpusError as exc:
        fail(str(exc))
    if out is not None and out.exists() and not out.is_dir():
        fail(f"--out {out}: exists and is not a folder")
    if out is not None and out.is_dir() and not (out / "corpus.jsonl").is_file() and any(out.iterdir()):
        fail(f"--out {out}: a folder with files but no corpus.jsonl; choose a missing or empty folder (or an earlier export)")
    with err_console.status(f"rendering {limit or len(corpus)} demo cards ..."):
        if out is None:
            n = render_demo_media(corpus, limit=limit)
            target = cache_dir() / MEDIA_SUBDIR
        else:
            n = write_demo_corpus_dir(corpus, out, limit=limit)
            target = out
    videos = sum(corpus.has_video(v) for v in corpus.videos[:n])
    if as_json:
        print_json({"cards": n, "with_video": videos, "path": str(target)})
    else:
        console.print(
            f"rendered {n} demo cards ({videos} with an MP4) in {target}", highlight=False
        )


def build() -> typer.Typer:
    """The `corpus` command group."""
    app = typer.Typer(no_args_is_help=True)
    app.command("import")(import_)
    app.command("info")(info)
    app.command("render")(render)
    return app
