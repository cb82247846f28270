"""The ``value-spectrum`` command. Thin over the library: each command module parses options,
calls a library function and prints.

Command modules are imported only when their command runs (or its own ``--help`` is shown):
the root group knows each command by name and one line of help (:data:`COMMANDS`), which is all
``value-spectrum --help`` prints, so it imports typer and rich's help and nothing of ours beyond
this module; ``value-spectrum simulate ...`` imports the simulate module alone. A test checks the
listed lines against the commands' own help.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import typer
from typer.core import TyperCommand, TyperGroup

if TYPE_CHECKING:  # typer's own (vendored) click; nothing to import at run time
    from typer import _click as click

ROOT_HELP = "Measure the human values of vision-language models on short-video feeds."
MARKUP: Literal["rich"] = "rich"
"""Typer's markup mode for every command's help."""


@dataclass(frozen=True)
class Entry:
    """One command of the root group, loaded on use."""

    module: str
    """The command module (under ``value_spectrum.cli``)."""
    attr: str
    """A command function, or for a group a ``build()`` returning its Typer."""
    help: str
    """The line ``value-spectrum --help`` shows (a test checks it against the command's own)."""
    group: bool = False
    """True: ``attr`` builds a Typer of subcommands."""


COMMANDS: dict[str, Entry] = {
    "search": Entry("index_cmd", "search", "Search the video collection (builds the demo index on first use)."),
    "simulate": Entry("simulate_cmd", "simulate",
                      "Run persona viewers through feeds of short videos; re-running the same command continues."),
    "fork": Entry("fork_cmd", "fork",
                  "Continue session ID of RUN from turn K with one condition changed: the first K steps are the "
                  "parent's records, byte for byte; then `compare RUN DIR` shows paired differences."),
    "export": Entry("export_cmd", "export",
                    "Export a run as tidy rows (pandas: `pd.read_parquet(f)` or `pd.read_json(f, lines=True)`)."),
    "report": Entry("report_cmd", "report",
                    "Score a run: revealed profiles, alignment, drift, stated vs revealed, the paper's scores."),
    "compare": Entry("compare_cmd", "compare",
                     "Compare models: % yes per value with intervals, revealed profiles, alignment and steerability "
                     "per strategy, differences (Cohen's h, Holm-adjusted p), paired differences of forks and "
                     "replayed feeds, usage and cost."),
    "probe": Entry("probe_cmd", "probe",
                   "Probe a persona's stated values every K turns of a feed session, against its choices."),
    "calibrate": Entry("calibrate_cmd", "calibrate",
                       "Measure interval coverage, bias, width, recovery, drift false positives and power, and "
                       "steerability's null spread for DECISIONS x SESSIONS with the reference viewer; with "
                       "--paired, the coverage, type-I error and power of compare's paired differences."),
    "chat": Entry("chat_cmd", "chat", "Chat with a persona played by a model; /help lists the commands."),
    "personas": Entry("personas_cmd", "build", "List, show and validate personas.", group=True),
    "corpus": Entry("corpus_cmd", "build", "Video collections: the demo corpus, import, labels.", group=True),
    "index": Entry("index_cmd", "build", "Build the CLIP/text vector index.", group=True),
    "bench": Entry("bench_cmd", "build", "The paper's benchmarks.", group=True),
    "humans": Entry("humans_cmd", "build", "People's like/skip logs as runs (human baselines).", group=True),
}
"""The root group's commands, in the order ``--help`` lists them."""


def _corpus_extras(corpus: typer.Typer) -> None:
    from value_spectrum.cli import labels_cmd

    corpus.command("label")(labels_cmd.label)


EXTRAS: dict[str, Callable[[typer.Typer], None]] = {"corpus": _corpus_extras}
"""Subcommands a group gets from another module."""


def load_command(name: str) -> click.Command:
    """The real click command ``name`` of the root group (its module imported now)."""
    entry = COMMANDS[name]
    target = getattr(importlib.import_module(f"value_spectrum.cli.{entry.module}"), entry.attr)
    holder = typer.Typer(rich_markup_mode=MARKUP)
    if entry.group:
        sub: typer.Typer = target()
        if name in EXTRAS:
            EXTRAS[name](sub)
        holder.add_typer(sub, name=name, help=entry.help)
    else:
        holder.command(name)(target)
    return typer.main.get_group(holder).commands[name]


class LazyGroup(TyperGroup):
    """The root group: commands by name from :data:`COMMANDS`, each module imported on use."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loaded: dict[str, click.Command] = {}
        self._listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        if cmd_name in self._loaded:
            return self._loaded[cmd_name]
        if self._listing:  # the root's help: the name and its line are enough
            return TyperCommand(cmd_name, help=COMMANDS[cmd_name].help, rich_markup_mode=MARKUP)
        command = self._loaded[cmd_name] = load_command(cmd_name)
        return command

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


def _version(flag: bool) -> None:
    if flag:
        from value_spectrum import __version__

        typer.echo(f"value-spectrum {__version__}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    """Assemble the command tree. A factory, so importing this module registers nothing."""
    app = typer.Typer(
        name="value-spectrum",
        help=ROOT_HELP,
        cls=LazyGroup,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=MARKUP,
    )

    @app.callback()
    def _root(
        version: bool = typer.Option(
            False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ) -> None:
        """Measure the human values of vision-language models on short-video feeds."""

    return app


def main() -> None:
    """Entry point of the console script and of ``python -m value_spectrum``."""
    build_app()(prog_name="value-spectrum")
