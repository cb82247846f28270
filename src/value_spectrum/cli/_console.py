"""Shared output helpers for the CLI: the only place (with the report renderer) that prints."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console

console = Console()
"""Standard output, for tables and summaries."""
err_console = Console(stderr=True)
"""Standard error, for progress, warnings and errors."""

EXIT_OK = 0
"""Everything worked."""
EXIT_PARTIAL = 1
"""The command ran but some inputs were rejected (validation problems, rejected items)."""
EXIT_USAGE = 2
"""Bad input: a missing file, an unknown id, an invalid option value."""


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print one line to stderr, ``error: <message>``, and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(code)


_T = TypeVar("_T")


def write_or_fail(target: Path, what: str, write: Callable[[], _T]) -> _T:
    """``write()``; when the disk refuses (an ``OSError``), one line naming ``target`` and
    ``what`` could not be written, and exit 2."""
    try:
        return write()
    except OSError as exc:
        fail(f"{target}: cannot write {what} ({exc.strerror or exc})")


def print_json(data: Any) -> None:
    """Write ``data`` as JSON to stdout (plain, no colours: it is for machines)."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    sys.stdout.write("\n")
    sys.stdout.flush()


@contextmanager
def index_progress(what: str) -> Iterator[Callable[[int, int], None]]:
    """A progress callback ``(done, total)`` for an index build: a rich bar with items and rate
    on stderr, shown from the first batch embedded (nothing when the index is up to date)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), console=err_console, transient=True)
    state: dict[str, Any] = {}

    def update(done: int, total: int) -> None:
        if "task" not in state:
            bar.start()
            state["start"] = time.perf_counter()
            state["task"] = bar.add_task(what, total=total, rate="")
        elapsed = max(time.perf_counter() - state["start"], 1e-6)
        bar.update(state["task"], completed=done, total=total, rate=f"{done / elapsed:.1f} videos/s")

    try:
        yield update
    finally:
        if "task" in state:
            bar.stop()
