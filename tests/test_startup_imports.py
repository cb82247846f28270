"""`value-spectrum --help` and every command's `--help` load no numpy, litellm, openai, torch or
LangGraph, nor our pydantic record modules: parsing a command line must cost about as much as
typer itself (which imports pydantic's core to coerce values, so pydantic itself is allowed)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("numpy", "litellm", "openai", "torch", "langgraph", "sentence_transformers", "chromadb", "PIL", "yaml",
         "value_spectrum.records", "value_spectrum.values", "value_spectrum.runner.config")

PROBE = """
import json, sys
from value_spectrum.cli.app import main
heavy = json.loads(sys.argv[2])
sys.argv = ["value-spectrum", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(m for m in heavy if m in sys.modules)))
"""


@pytest.mark.parametrize("args", [
    ["--help"], ["simulate", "--help"], ["chat", "--help"], ["probe", "--help"], ["bench", "preference", "--help"],
    ["search", "--help"], ["report", "--help"], ["personas", "--help"], ["corpus", "--help"],
])
def test_help_imports_nothing_heavy(args: list[str]) -> None:
    out = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args), json.dumps(HEAVY)],
                         capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == [], f"value-spectrum {' '.join(args)} imported {loaded}"


ROOT_HELP_PROBE = """
import json, sys
from value_spectrum.cli.app import main
sys.argv = ["value-spectrum", "--help"]
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.startswith("value_spectrum"))))
"""


def test_the_root_help_imports_no_command_module() -> None:
    out = subprocess.run([sys.executable, "-c", ROOT_HELP_PROBE], capture_output=True, text=True, check=True)
    ours = json.loads(out.stdout.strip().splitlines()[-1])
    assert ours == ["value_spectrum", "value_spectrum.cli", "value_spectrum.cli.app"]
    assert "simulate" in out.stdout
    assert "Run persona viewers through feeds" in out.stdout


def test_each_listed_line_is_the_commands_own_help() -> None:
    import inspect

    from value_spectrum.cli.app import COMMANDS, load_command

    for name, entry in COMMANDS.items():
        command = load_command(name)
        own = inspect.cleandoc(command.short_help or command.help or "").split("\n\n")[0]
        assert " ".join(own.split()) == entry.help, f"{name}: the root's --help line differs from the command's own"


def test_a_command_runs_with_only_its_own_module() -> None:
    code = ROOT_HELP_PROBE.replace('["value-spectrum", "--help"]', '["value-spectrum", "personas", "list"]')
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    ours = json.loads(out.stdout.strip().splitlines()[-1])
    assert "value_spectrum.cli.personas_cmd" in ours
    assert not [m for m in ours if m.endswith("_cmd") and m != "value_spectrum.cli.personas_cmd"]
    assert "family_oriented" in out.stdout
