"""The CLI's front door: help is cheap, and the reference page matches the commands."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

HEAVY = ("torch", "open_clip", "chromadb", "litellm", "langgraph", "sentence_transformers")


def test_help_imports_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "from value_spectrum.cli.app import main\n"
        "sys.argv = ['value-spectrum', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
    assert "simulate" in out.stdout


def test_python_dash_m_works_like_the_console_script() -> None:
    out = subprocess.run([sys.executable, "-m", "value_spectrum", "--version"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.startswith("value-spectrum ")


def test_cli_reference_page_is_current(repo_root: Path) -> None:
    spec = importlib.util.spec_from_file_location("cli_reference", repo_root / "scripts" / "cli_reference.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    current = (repo_root / "docs" / "cli.md").read_text(encoding="utf-8")
    assert current == module.render(), "docs/cli.md is stale: python scripts/cli_reference.py > docs/cli.md"
