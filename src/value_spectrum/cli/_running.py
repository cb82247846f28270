"""What the commands that run a plan (``simulate``, ``probe``, ``bench preference``, ``fork``)
share around their library call: the log set-up, the refusal of a run directory another process
is writing, and the call itself, with each way it can fail as one line and a true exit code."""

from __future__ import annotations

import logging
from collections.abc import Coroutine, Mapping
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

import typer

from value_spectrum.cli._console import err_console, fail

EXIT_INTERRUPTED = 130
"""Stopped by Ctrl-C (128 + SIGINT), as a shell reports it."""

_T = TypeVar("_T")


def one_line(exc: BaseException) -> str:
    """The first line of an error's message (its type when it has none); a ``KeyError``'s
    message without the quotes ``str`` puts round it."""
    raw = exc.args[0] if isinstance(exc, KeyError) and len(exc.args) == 1 else exc
    text = str(raw).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def setup_logging() -> None:
    """Library warnings to stderr, one line each (the checks' warnings, a retried session)."""
    from rich.logging import RichHandler

    logging.basicConfig(level=logging.WARNING, handlers=[RichHandler(console=err_console, show_path=False)],
                        format="%(message)s")


def refuse_in_use(out: Path | None) -> None:
    """Exit with one line when another process is writing the run directory ``out`` (checked at
    once, before the checks that load model clients)."""
    from value_spectrum.api import refuse_if_in_use
    from value_spectrum.runlog import RunInUseError

    try:
        refuse_if_in_use(out)
    except RunInUseError as exc:
        fail(str(exc))


def run_or_fail(
    call: Coroutine[Any, Any, _T],
    *,
    out: Path | None,
    names: Mapping[str, str] | None = None,
    around: AbstractContextManager[Any] | None = None,
    disk_hint: str = "",
) -> _T:
    """``asyncio.run(call)`` (inside ``around``, e.g. the progress bars), or exit with one line:

    * an option the library's models refuse: 2, naming the option (``names`` maps the library's
      field names to the CLI's option names);
    * Ctrl-C before the run's own handler was in place: 130;
    * a run directory that cannot be written (a full disk, permissions): 2, naming the file,
      then ``disk_hint``;
    * a model shown frames that takes no images: 1;
    * a check that refused the plan, a broken run directory, a missing extra: 2.
    """
    import asyncio

    from pydantic import ValidationError

    from value_spectrum.cli._gateway_flags import error_line
    from value_spectrum.runner.checks import ModalityCheckError

    try:
        with around if around is not None else nullcontext():
            return asyncio.run(call)
    except ValidationError as exc:
        fail(error_line(exc, dict(names) if names is not None else None))
    except KeyboardInterrupt:  # nothing to keep yet: the run had not taken over Ctrl-C
        err_console.print("[yellow]interrupted[/]", highlight=False)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else f"{out or 'the run directory'}: "
        fail(f"{where}{exc.strerror or exc}{disk_hint}")
    except ModalityCheckError as exc:  # the model cannot do the job as asked: a failure, not a usage error
        fail(one_line(exc), code=1)
    except (ValueError, KeyError, RuntimeError, ImportError) as exc:  # RunCheckError, RunDirError, ...
        fail(one_line(exc))


__all__ = ["EXIT_INTERRUPTED", "one_line", "refuse_in_use", "run_or_fail", "setup_logging"]
