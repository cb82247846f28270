"""The one way the run commands (simulate, probe, bench preference, fork) turn a failed library
call into one line and an exit code (``cli._running.run_or_fail``)."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
import typer

from value_spectrum.cli._running import EXIT_INTERRUPTED, run_or_fail
from value_spectrum.runner.config import RunConfig


async def _raise(exc: BaseException) -> None:
    raise exc


async def _answer() -> int:
    return 42


def _exit(capsys: pytest.CaptureFixture[str], exc: BaseException, **kw: object) -> tuple[int, str]:
    with pytest.raises(typer.Exit) as stopped:
        run_or_fail(_raise(exc), out=Path("runs/x"), **kw)  # type: ignore[arg-type]
    return stopped.value.exit_code, " ".join(capsys.readouterr().err.split())


def test_the_call_s_result_comes_back() -> None:
    assert run_or_fail(_answer(), out=None) == 42


def test_each_failure_is_one_line_with_a_true_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        RunConfig(out="runs/x", steps=0)
    except Exception as exc:  # pydantic's ValidationError, as the library raises it
        invalid = exc
    code, text = _exit(capsys, invalid, names={"steps": "turns"})
    assert code == 2
    assert text.startswith("error: --turns:")

    code, text = _exit(capsys, OSError(errno.ENOSPC, "No space left on device", "runs/x/sessions/a.json"),
                       disk_hint="; free some space")
    assert (code, text) == (2, "error: runs/x/sessions/a.json: No space left on device; free some space")

    code, text = _exit(capsys, OSError(errno.EACCES, "Permission denied"))
    assert (code, text) == (2, "error: runs/x: Permission denied")

    code, text = _exit(capsys, ValueError("--model: unknown model 'x'\nmore detail"))
    assert (code, text) == (2, "error: --model: unknown model 'x'")

    code, text = _exit(capsys, KeyError("no persona 'nobody'"))
    assert (code, text) == (2, "error: no persona 'nobody'")

    code, text = _exit(capsys, KeyboardInterrupt())
    assert (code, text) == (EXIT_INTERRUPTED, "interrupted")


def test_an_unexpected_error_is_not_hidden() -> None:
    with pytest.raises(ZeroDivisionError):
        run_or_fail(_raise(ZeroDivisionError("bug")), out=None)
