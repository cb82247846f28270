"""The ``value-spectrum`` command. Thin over the library: each command module parses options,
calls a library function and prints. Command modules import nothing heavy at module level, so
``value-spectrum --help`` loads neither torch, open_clip, chromadb nor litellm."""

from __future__ import annotations

import typer

from value_spectrum import __version__
from value_spectrum.cli import (
    bench_cmd,
    calibrate_cmd,
    chat_cmd,
    compare_cmd,
    corpus_cmd,
    export_cmd,
    fork_cmd,
    humans_cmd,
    index_cmd,
    labels_cmd,
    personas_cmd,
    probe_cmd,
    report_cmd,
    simulate_cmd,
)


def _version(flag: bool) -> None:
    if flag:
        typer.echo(f"value-spectrum {__version__}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    """Assemble the command tree. A factory, so importing this module registers nothing."""
    app = typer.Typer(
        name="value-spectrum",
        help="Measure the human values of vision-language models on short-video feeds.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode="rich",
    )

    @app.callback()
    def _root(
        version: bool = typer.Option(
            False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ) -> None:
        """Measure the human values of vision-language models on short-video feeds."""

    app.add_typer(personas_cmd.build(), name="personas", help="List, show and validate personas.")
    corpus = corpus_cmd.build()
    corpus.command("label")(labels_cmd.label)
    app.add_typer(corpus, name="corpus", help="Video collections: the demo corpus, import, labels.")
    app.add_typer(index_cmd.build(), name="index", help="Build the CLIP/text vector index.")
    app.command("search")(index_cmd.search)
    app.command("simulate")(simulate_cmd.simulate)
    app.command("fork")(fork_cmd.fork)
    app.command("export")(export_cmd.export)
    app.command("report")(report_cmd.report)
    app.command("compare")(compare_cmd.compare)
    app.command("probe")(probe_cmd.probe)
    app.add_typer(bench_cmd.build(), name="bench", help="The paper's benchmarks.")
    app.command("calibrate")(calibrate_cmd.calibrate)
    app.add_typer(humans_cmd.build(), name="humans", help="People's like/skip logs as runs (human baselines).")
    app.command("chat")(chat_cmd.chat)
    return app


def main() -> None:
    """Entry point of the console script and of ``python -m value_spectrum``."""
    build_app()(prog_name="value-spectrum")
