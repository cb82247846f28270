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
