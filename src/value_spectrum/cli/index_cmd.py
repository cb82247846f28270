"""`value-spectrum index build` and `value-spectrum search`: thin over
:mod:`value_spectrum.retrieval.building` and :mod:`value_spectrum.retrieval.search`.

Heavy libraries (torch, chromadb, sentence-transformers) load inside the command functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from value_spectrum.cli._console import console, err_console, fail, index_progress, print_json

if TYPE_CHECKING:
    from value_spectrum.retrieval.embedders.base import Embedder

EMBEDDER_HELP = "auto (OpenCLIP if its weights are here, else text), clip, text or fake."


def make_cli_embedder(
    kind: str,
    clip_model: str | None = None,
    clip_pretrained: str | None = None,
    clip_checkpoint: Path | None = None,
) -> Embedder:
    """Build the embedder for a command, printing one line when ``auto`` chooses. Exits with a
    one-line error when it cannot be built."""
    from value_spectrum.retrieval.embedders import EmbedderError, choose_auto, make_embedder

    try:
        if kind == "auto":
            kind, why = choose_auto(clip_model, clip_pretrained, clip_checkpoint)
            err_console.print(f"embedder: {kind} ({why})", highlight=False)
        return make_embedder(
            kind,
            model=clip_model,
            pretrained=clip_pretrained,
            checkpoint=str(clip_checkpoint) if clip_checkpoint else None,
        )
    except (EmbedderError, ValueError) as exc:
        fail(str(exc))


def check_index_dir(path: Path | None, option: str = "--out") -> None:
    """Refuse (one line, exit 2) an index directory that is a file, or a folder holding other
    files: Chroma would write its database among them."""
    if path is None or not path.exists():
        return
    if not path.is_dir():
        fail(f"{option} {path}: exists and is not a folder")
    if not (path / "chroma.sqlite3").is_file() and any(path.iterdir()):
        fail(f"{option} {path}: a folder with files but no index (no chroma.sqlite3); choose a missing or empty folder")


def build_cmd(
    corpus: Annotated[
        str | None, typer.Option("--corpus", "-c", help="Corpus directory, or 'demo' (default).")
    ] = None,
    embedder: Annotated[str, typer.Option("--embedder", "-e", help=EMBEDDER_HELP)] = "auto",
    clip_model: Annotated[
        str | None, typer.Option("--clip-model", help="OpenCLIP model (default ViT-B-32).")
    ] = None,
    clip_pretrained: Annotated[
        str | None,
        typer.Option(
            "--clip-pretrained", help="OpenCLIP pretrained tag (default laion2b_s34b_b79k)."
        ),
    ] = None,
    clip_checkpoint: Annotated[
        Path | None, typer.Option("--clip-checkpoint", help="Local OpenCLIP weights file.")
    ] = None,
    text_weight: Annotated[
        float,
        typer.Option(
            "--text-weight",
            min=0.0,
            max=1.0,
            help="Text share of a video vector (image embedders).",
        ),
    ] = 0.3,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Index directory (default: the user cache).")
    ] = None,
    chroma_url: Annotated[
        str | None,
        typer.Option("--chroma-url", help="Use a Chroma server, e.g. http://localhost:8000."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the build report as JSON.")
    ] = False,
) -> None:
    """Embed a corpus into a vector index; re-running embeds only new or changed videos."""
    from value_spectrum.retrieval.building import open_index
    from value_spectrum.retrieval.corpus import CorpusError, load_corpus
    from value_spectrum.retrieval.index import VideoIndexError

    try:
        corp = load_corpus(corpus)
    except (CorpusError, OSError) as exc:
        fail(str(exc))
    check_index_dir(out)
    emb = make_cli_embedder(embedder, clip_model, clip_pretrained, clip_checkpoint)
    try:
        with index_progress(f"indexing with {emb.name}") as progress:
            opened = open_index(corp, emb, path=out, chroma_url=chroma_url, text_weight=text_weight, progress=progress)
    except VideoIndexError as exc:
        fail(str(exc))
    report = opened.report
    assert report is not None
    payload: dict[str, Any] = {
        "index": opened.index.location,
        "corpus": corp.name,
        **report.model_dump(mode="json"),
    }
    if as_json:
        print_json(payload)
        return
    console.print(
        f"[bold]{payload['index']}[/]: {report.total} videos "
        f"({report.added} added, {report.updated} updated, {report.skipped} unchanged, "
        f"{report.removed} removed) with {emb.name} in {report.seconds:.1f} s"
    )


def build() -> typer.Typer:
    """The `index` command group."""
    app = typer.Typer(no_args_is_help=True)
    app.command("build")(build_cmd)
    return app


def search(
    query: Annotated[str, typer.Argument(metavar="QUERY", help="What to look for.")],
    index: Annotated[
        Path | None,
        typer.Option("--index", "-i", help="An index directory built by 'index build'."),
    ] = None,
    corpus: Annotated[
        str | None, typer.Option("--corpus", "-c", help="Corpus directory, or 'demo' (default).")
    ] = None,
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=100, help="How many results.")] = 5,
    platform: Annotated[
        str | None, typer.Option("--platform", "-p", help="Only this platform: tiktok | youtube_shorts | instagram_reels | other.")
    ] = None,
    embedder: Annotated[
        str | None,
        typer.Option(
            "--embedder", "-e", help=EMBEDDER_HELP + " Default: the index's own, else auto."
        ),
    ] = None,
    chroma_url: Annotated[
        str | None, typer.Option("--chroma-url", help="Use a Chroma server.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON array, best first.")
    ] = False,
) -> None:
    """Search the video collection (builds the demo index on first use)."""
    from value_spectrum.records import PLATFORMS
    from value_spectrum.retrieval.building import open_index
    from value_spectrum.retrieval.corpus import CorpusError, load_corpus
    from value_spectrum.retrieval.embedders import EmbedderError, embedder_from_description
    from value_spectrum.retrieval.index import ChromaVideoIndex, VideoIndexError

    if not query.strip():
        fail("QUERY: empty; say what to look for, e.g. value-spectrum search 'family dinner'")
    if platform is not None and platform not in PLATFORMS:
        fail(f"--platform: unknown platform {platform!r}; expected one of {', '.join(PLATFORMS)}")
    try:
        corp = load_corpus(corpus)
    except (CorpusError, OSError) as exc:
        fail(str(exc))
    try:
        if index is not None or (chroma_url is not None and embedder is None):
            idx = ChromaVideoIndex(None, index, chroma_url=chroma_url)
            if embedder is None:
                try:
                    emb = embedder_from_description(idx.embedder)
                except EmbedderError as exc:
                    fail(f"{idx.location}: {exc}")
            else:
                emb = make_cli_embedder(embedder)
                idx = ChromaVideoIndex(emb.describe(), index, chroma_url=chroma_url)
        else:
            emb = make_cli_embedder(embedder or "auto")
            with index_progress(f"indexing {corp.name} with {emb.name} (first use)") as progress:
                idx = open_index(corp, emb, chroma_url=chroma_url, progress=progress).index
        hits = idx.query(
            emb.embed_texts([query])[0], k=k, where={"platform": platform} if platform else None
        )
    except (VideoIndexError, EmbedderError) as exc:
        fail(str(exc))
    if corpus is None and index is not None and any(h.id not in corp for h in hits):
        err_console.print("[yellow]these hits are not in the demo corpus; pass --corpus DIR (the corpus this "
                          "index was built from) to see their titles[/]", highlight=False)
    rows = []
    for h in hits:
        v = corp.get(h.id) if h.id in corp else None
        rows.append(
            {
                "id": h.id,
                "score": round(h.score, 4),
                "title": v.title if v else "",
                "platform": v.platform if v else h.metadata.get("platform", ""),
                "primary_value": (v.primary_value if v else h.metadata.get("primary_value"))
                or None,
                "topic": v.topic if v else h.metadata.get("topic", ""),
                "caption": v.caption if v else "",
            }
        )
    if as_json:
        print_json(rows)
        return
    from rich.table import Table

    table = Table(title=f"search: {query}", show_lines=False)
    for col in ("#", "score", "id", "platform", "primary value", "title"):
        table.add_column(col, overflow="fold")
    for n, r in enumerate(rows, 1):
        table.add_row(
            str(n),
            f"{r['score']:.3f}",
            str(r["id"]),
            str(r["platform"]),
            str(r["primary_value"] or "-"),
            str(r["title"]),
        )
    console.print(table)
