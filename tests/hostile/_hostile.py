"""Shared checks for the hostile-input tests: what a command printed, what it wrote, what it kept.

Every hostile input must give a known exit status, exactly one line on stderr that names the
file, field or value at fault, nothing written outside the folder the command was told to
write to, and nothing that was already done lost.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from value_spectrum.cli.app import build_app

runner = CliRunner()


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def cli(*args: str) -> Result:
    """Run ``value-spectrum ARGS`` in process."""
    result = runner.invoke(build_app(), list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"uncaught {type(result.exception).__name__}: {result.exception}") from result.exception
    return Result(result.exit_code, result.stdout, result.stderr)


def assert_one_line(result: Result, *needles: str, code: int | Sequence[int] = 1) -> str:
    """The command failed with ``code`` and said why in one stderr line containing ``needles``."""
    codes = (code,) if isinstance(code, int) else tuple(code)
    assert result.code in codes, (result.code, result.stdout, result.stderr)
    lines = result.error_lines()
    assert len(lines) == 1, lines
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert "Traceback" not in result.stderr + result.stdout
    return lines[0]


def tree(root: Path, *, skip: Sequence[Path] = ()) -> dict[str, str]:
    """Path -> content hash of every file under ``root`` (folders under ``skip`` left out)."""
    skipped = [s.resolve() for s in skip]
    out: dict[str, str] = {}
    for p in sorted(root.rglob("*")):
        rp = p.resolve() if not p.is_symlink() else p
        if any(rp == s or s in rp.parents for s in skipped):
            continue
        if p.is_file() and not p.is_symlink():
            out[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
        elif p.is_symlink():
            out[p.relative_to(root).as_posix()] = "link"
    return out


def others_can_read(path: Path) -> bool:
    """Whether group or other users have any access to ``path``."""
    return bool(path.stat().st_mode & 0o077)
