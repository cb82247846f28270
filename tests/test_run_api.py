"""The public Python API over the one runner: a notebook cell (also inside a running event loop)
gives what the CLI gives; a report needs nothing but the run directory; a probe's instrument is
part of its identity; the preference bench is a plan of the same runner."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import value_spectrum as vs
from value_spectrum.cli.app import build_app
from value_spectrum.runlog import RunDirError, RunLog

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _report_json(run_dir: Path, *args: str) -> dict[str, Any]:
    res = CliRunner().invoke(build_app(), ["report", str(run_dir), "--json", *args])
    assert res.exit_code == 0, res.output
    data: dict[str, Any] = json.loads(res.stdout)
    return data


def test_the_notebook_cell_equals_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run = vs.simulate(personas=["family_oriented"], steps=20)
    assert run.path.parent == Path("runs")
    assert run.ok
    assert run.summary.decisions == 20
    report = vs.score(run)
    assert report.to_dict() == _report_json(run.path)  # exactly what `report --json` prints
    groups = report.groups_frame()
    assert list(groups["persona_id"]) == ["family_oriented"]
    assert groups.loc[0, "alignment"] == report.groups[0].alignment
    decisions = report.decisions_frame()
    assert len(decisions) == 20
    assert set(decisions["outcome"]) <= {"like", "skip"}
    from importlib import metadata

    assert vs.__version__ == metadata.version("value-spectrum")


def test_the_sync_api_works_inside_a_running_event_loop(tmp_path: Path) -> None:
    async def cell() -> Any:  # what Jupyter does: the cell runs while a loop is running
        asyncio.get_running_loop()
        return vs.simulate(personas=["family_oriented"], steps=20, out=tmp_path / "nb")

    run = asyncio.run(cell())
    assert run.ok
    assert vs.score(run).to_dict()["groups"] == _report_json(tmp_path / "nb")["groups"]
    again = asyncio.run(vs.asimulate(personas=["family_oriented"], steps=20, out=tmp_path / "nb"))
    assert again.summary.sessions_skipped == 1  # the coroutine form continues the same run
    assert again.summary.sessions_run == 0


HEAVY = ("value_spectrum.agents", "litellm", "chromadb", "open_clip", "torch")

BLOCKED = f"""
import json, sys
sys.modules["value_spectrum.retrieval"] = None  # the corpus code, the demo corpus with it: unavailable
import value_spectrum as vs
print(json.dumps(vs.score(sys.argv[1], boot=50).to_dict()))
loaded = [m for m in {HEAVY!r} if m in sys.modules]
assert not loaded, loaded  # no model stack either
"""

BLOCKED_CLI = f"""
import sys
sys.modules["value_spectrum.retrieval"] = None
from value_spectrum.cli.app import build_app
try:
    build_app()(["report", sys.argv[1], "--json", "--boot", "50"], prog_name="value-spectrum")
finally:
    loaded = [m for m in {HEAVY!r} if m in sys.modules]
    assert not loaded, loaded
"""


def test_report_from_the_run_directory_alone(tmp_path: Path) -> None:
    run = vs.simulate(personas=["family_oriented", "corporate_climber"], steps=40, out=tmp_path / "r")
    here = vs.score(run, boot=50).to_dict()
    env = {**os.environ, "PYTHONPATH": SRC}
    py = subprocess.run([sys.executable, "-c", BLOCKED, str(run.path)], capture_output=True, text=True, env=env,
                        check=False)
    assert py.returncode == 0, py.stderr
    cli = subprocess.run([sys.executable, "-c", BLOCKED_CLI, str(run.path)], capture_output=True, text=True,
                         env=env, check=False)
    assert cli.returncode == 0, cli.stderr
    from_python, from_cli = json.loads(py.stdout), json.loads(cli.stdout)
    assert from_python == from_cli
    assert from_python["groups"] == here["groups"]
    assert all(g["revealed"] is not None for g in from_python["groups"])
    assert all(g["target"] is not None for g in from_python["groups"])  # targets from personas.json


def _other_instrument(tmp_path: Path) -> Path:
    from value_spectrum.personas.instruments import load_instrument

    data = load_instrument(None).model_dump(mode="json")
    data["id"] = "my-items"
    data["items"][0]["text"] = "I like my own wording better."
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_probe_instrument_is_part_of_the_identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = _other_instrument(tmp_path)
    first = vs.probe("family_oriented", turns=4, every=2, out=tmp_path / "p")
    assert first.ok
    with pytest.raises(RunDirError, match=r"instrument_digest.*--out NEW_DIR or --force-new"):
        vs.probe("family_oriented", turns=4, every=2, out=tmp_path / "p", instrument=str(mine))
    (record,) = RunLog(tmp_path / "p").session_files()
    assert "vs-portrait-v1" in record.read_text()  # never mixed
    monkeypatch.chdir(tmp_path)
    a = vs.probe("family_oriented", turns=4, every=2)
    b = vs.probe("family_oriented", turns=4, every=2, instrument=str(mine))
    assert a.path != b.path  # the default directory follows the instrument: a new run
    probes = [json.loads(p.read_text())["probes"] for p in RunLog(b.path).session_files()]
    assert {p["instrument"] for p in probes[0]} == {"my-items"}


def test_preference_bench_is_a_plan_of_the_one_runner(tmp_path: Path) -> None:
    run = vs.bench_preference(items="authored", per_value=3, out=tmp_path / "b")
    assert run.kind == "preference"
    assert run.ok
    assert run.summary.sessions_planned == 10  # one session per value
    report = vs.score(run, boot=0)
    assert report.kind == "preference"
    (pref,) = report.preference
    assert sum(pref.n.values()) == run.summary.decisions
    again = vs.bench_preference(items="authored", per_value=3, out=tmp_path / "b")
    assert again.summary.sessions_run == 0  # continued, nothing asked twice
