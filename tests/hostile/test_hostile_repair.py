"""Issue 12 item 5: a repaired reply leaves a trace. Every raw reply of a decision is kept, the
repaired decision is flagged, and repairs and retries are counted in the summary, the manifest
and the report; run files written before these fields existed still load."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from _hostile import cli

from value_spectrum.agents.fake import ScriptedViewer
from value_spectrum.agents.testing import TestServer, fast_retries
from value_spectrum.personas import get_persona
from value_spectrum.records import Observation, Outcome, Step, Trajectory, Usage

GOOD = '{"decision": "like", "reason": "lovely", "trait_number": 1}'


def _obs() -> Observation:
    return Observation(turn=0, video_id="v1", title="Sunday dinner", modality="title")


def test_viewer_keeps_the_first_reply_and_flags_the_repair() -> None:
    viewer = ScriptedViewer(["I think I like it!", GOOD], strategy="simple")
    reply = asyncio.run(viewer.decide(get_persona("family_oriented"), _obs()))
    assert reply.outcome == Outcome.LIKE
    assert reply.repaired
    assert reply.earlier_raws == ("I think I like it!",)
    assert reply.raw == GOOD
    assert reply.usage.repairs == 1


def test_failed_repair_keeps_both_replies() -> None:
    viewer = ScriptedViewer(["hmm", "still hmm"], strategy="simple")
    reply = asyncio.run(viewer.decide(get_persona("family_oriented"), _obs()))
    assert reply.outcome == Outcome.UNPARSEABLE
    assert not reply.repaired
    assert reply.earlier_raws == ("hmm",)
    assert reply.raw == "still hmm"
    assert reply.usage.repairs == 1


def test_clean_reply_counts_zero_repairs() -> None:
    reply = asyncio.run(ScriptedViewer([GOOD]).decide(get_persona("family_oriented"), _obs()))
    assert not reply.repaired
    assert reply.earlier_raws == ()
    assert reply.usage.repairs == 0


def _garbage_then_good(body: dict[str, object]) -> str:
    text = json.dumps(body.get("messages"))
    if "could not be read" in text:
        return '{"action": "like", "reason": "fine"}'
    return "Sure! I would probably like this one."


def test_run_counts_repairs_in_summary_manifest_and_report(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with TestServer(reply=_garbage_then_good) as server:
        result = cli("simulate", "--steps", "3", "--personas", "family_oriented", "--model", "openai/test-vlm",
                     "--api-base", server.base_url, "--out", str(out), "--json", "--no-cache")
    assert result.code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["repairs"] == 3
    assert summary["repaired"] == 3
    (record,) = (out / "sessions").glob("*.json")
    traj = Trajectory.model_validate_json(record.read_text())
    assert all(s.repaired for s in traj.steps)
    assert all(s.earlier_raws == ("Sure! I would probably like this one.",) for s in traj.steps)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"] == {"repairs": 3, "repaired": 3, "retries": 0}
    report = cli("report", str(out), "--json")
    assert report.code == 0, report.stderr
    usage = {row["model"]: row for row in json.loads(report.stdout)["usage"]}
    assert usage["all"]["repairs"] == 3
    html = out / "report.html"
    assert cli("report", str(out), "--html", str(html)).code == 0
    text = html.read_text()
    assert "Sure! I would probably like this one." in text  # the first reply, in the explorer
    assert "unreadable, repair asked" in text


# openai/...: the direct openai client; custom_openai/...: litellm's Router (not a direct prefix)
@pytest.mark.parametrize("model", ["openai/retry-direct", "custom_openai/retry-router"])
def test_run_counts_retries_exactly_in_summary_manifest_and_report(tmp_path: Path, model: str) -> None:
    out = tmp_path / "run"
    with TestServer(reply=_garbage_then_good) as server, fast_retries():
        server.inject("500", 2)
        server.inject("429", 3)
        server.inject("malformed", 1)
        result = cli("simulate", "--steps", "3", "--personas", "family_oriented", "--model", model,
                     "--api-base", server.base_url, "--modality", "title", "--out", str(out), "--json", "--no-cache",
                     "--retries", "6")  # litellm's Router spends one retry budget over every kind of fault
        sent = len(server.requests)
    assert result.code == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout)
    assert summary["retries"] == 6
    assert summary["repairs"] == 3
    assert sent == 3 + 3 + 6  # decisions + repair requests + retries
    (record,) = (out / "sessions").glob("*.json")
    traj = Trajectory.model_validate_json(record.read_text())
    assert sum(s.usage.retries or 0 for s in traj.steps) == 6
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"] == {"repairs": 3, "repaired": 3, "retries": 6}
    report = cli("report", str(out), "--json")
    assert report.code == 0, report.stderr
    usage = {row["model"]: row for row in json.loads(report.stdout)["usage"]}
    assert usage["all"]["retries"] == usage[model]["retries"] == 6
    terminal = cli("report", str(out))
    (row,) = [line for line in terminal.stdout.splitlines() if line.strip().startswith("all")]
    assert row.split()[7:9] == ["6", "3"]  # the retry and repair columns
    html = out / "report.html"
    assert cli("report", str(out), "--html", str(html)).code == 0
    assert "<td>6</td><td>3</td>" in html.read_text()  # retries, repairs in the usage table


def test_old_records_still_load() -> None:
    old = {"turn": 0, "video_id": "v", "outcome": "like", "decision": {"action": "like"}, "raw": "x",
           "usage": {"prompt_tokens": 1, "completion_tokens": 1, "cost_usd": 0.0, "cached": False}}
    step = Step.model_validate(old)
    assert step.earlier_raws == ()
    assert not step.repaired
    assert step.usage.repairs is None
    assert Usage().retries is None
