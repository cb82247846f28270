"""Viewers that behave like viewers: the reference viewer's seeded boredom ends sessions with
status ``left`` after runs of skips, dwell is recorded as a graded signal, and the report shows
session length (and the dwell profile) per persona."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

from value_spectrum.agents.reference import ReferenceViewer
from value_spectrum.records import Decision, Observation, Outcome, Step
from value_spectrum.runlog import RunLog
from value_spectrum.runner.config import RunConfig
from value_spectrum.runner.local import run_batch
from value_spectrum.scoring.report import build_report
from value_spectrum.values import ValueProfile


def _run(out: Path, **viewer: object) -> RunLog:
    config = RunConfig(personas=("family_oriented", "archetype_power"), steps=40, sessions=4, seed=5,
                       viewer_options=dict(viewer), out=out, record_latency=False)
    asyncio.run(run_batch(config))
    return RunLog(out)


def test_boredom_ends_sessions_left_with_varying_length(tmp_path: Path) -> None:
    run = _run(tmp_path / "a", boredom=0.15)
    sessions = list(run.iter_sessions())
    assert {t.status for t in sessions} == {"left"}
    lengths = {len(t.steps) for t in sessions}
    assert len(lengths) > 2
    assert max(lengths) < 40
    for t in sessions:
        last = t.steps[-1]
        assert last.outcome == Outcome.SKIP
        assert last.decision is not None
        assert last.decision.leave
        assert not any(s.decision is not None and s.decision.leave for s in t.steps[:-1])
    again = _run(tmp_path / "b", boredom=0.15)
    assert sorted(p.read_bytes() for p in again.session_files()) == sorted(p.read_bytes() for p in run.session_files())


def test_without_boredom_nothing_changes(tmp_path: Path) -> None:
    plain = list(_run(tmp_path / "plain").iter_sessions())
    assert {(t.status, len(t.steps)) for t in plain} == {("finished", 40)}
    assert all(s.decision is not None and not s.decision.leave and s.decision.dwell_s is None
               for t in plain for s in t.steps)
    bored = {t.session_id: t for t in _run(tmp_path / "bored", boredom=0.15).iter_sessions()}
    for t in plain:  # the like/skip draws are the same; boredom only cuts the session short
        cut = bored[t.session_id].steps
        assert [s.outcome for s in t.steps[: len(cut)]] == [s.outcome for s in cut]


def test_leave_probability_rises_with_consecutive_skips() -> None:
    labels = {f"v{i}": ValueProfile.from_mapping({"power": 1.0}, default=0.0) for i in range(400)}
    viewer = ReferenceViewer(labels, beta=0.0, bias=-50.0, boredom=0.2, seed=1)  # always skips
    def skips(n: int) -> list[Step]:
        return [Step(turn=i, video_id="v0", outcome=Outcome.SKIP, decision=Decision(action="skip")) for i in range(n)]

    def rate(run: int) -> float:
        left = 0
        for i in range(400):
            reply = viewer.decide_sync(None, Observation(turn=run, video_id=f"v{i}"), history=skips(run))
            assert reply.decision is not None
            left += reply.decision.leave
        return left / 400

    r0, r4 = rate(0), rate(4)
    assert abs(r0 - (1 - math.exp(-0.2))) < 0.07
    assert abs(r4 - (1 - math.exp(-1.0))) < 0.07
    assert r4 > r0


def test_report_shows_session_length_and_the_dwell_profile(tmp_path: Path) -> None:
    run = _run(tmp_path / "r", boredom=0.05, dwell=True)
    report = build_report(run.path)
    for g in report.groups:
        sl = g.session_length
        assert sl is not None
        assert sl.sessions == 4
        assert 1 <= sl.left <= 4
        assert sl.min_turns <= sl.mean_turns <= sl.max_turns
        assert sl.dwell_like_s is not None
        assert sl.dwell_skip_s is not None
        assert sl.dwell_like_s > sl.dwell_skip_s
        assert sl.dwell_alignment is not None
        assert sl.dwell_alignment > 0.3, sl
    from value_spectrum.scoring.tables import length_table

    assert length_table(report) is not None
    plain = build_report(_run(tmp_path / "p").path)
    assert length_table(plain) is None
    assert plain.groups[0].session_length is not None
    assert plain.groups[0].session_length.dwell_reason == "no dwell recorded"


def test_simulate_boredom_flag(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from value_spectrum.cli.app import build_app

    app = build_app()
    res = CliRunner().invoke(app, ["simulate", "--personas", "family_oriented", "--steps", "30", "--sessions", "3",
                                   "--boredom", "0.2", "--dwell", "--out", str(tmp_path / "run"), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["status_counts"] == {"left": 3}
    report = CliRunner().invoke(app, ["report", str(tmp_path / "run")])
    assert "Session length" in report.output
    refused = CliRunner().invoke(app, ["simulate", "--model", "openai/x", "--boredom", "0.2", "--out",
                                       str(tmp_path / "x")])
    assert refused.exit_code == 2
    assert "--boredom: the reference viewer's leave hazard" in refused.output
    assert "--leave" in refused.output
