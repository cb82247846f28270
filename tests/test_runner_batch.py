"""The local batch runner: run directory, determinism, continue, budget, errors, corrupt records,
config mismatch, export."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from _sim_fakes import BrokenViewer, CostlyViewer, reference_factory, services, tiny_corpus
from value_spectrum.records import RunManifest, Trajectory
from value_spectrum.runlog import RunDirError, RunLog
from value_spectrum.runner.config import RunConfig
from value_spectrum.runner.export import COLUMNS, export_rows, export_text
from value_spectrum.runner.local import run_batch


def cfg(out: Path, **kw) -> RunConfig:
    base = dict(out=out, steps=6, sessions=2, seed=3, concurrency=3, record_latency=False)
    base.update(kw)
    return RunConfig(**base)


def run(config: RunConfig, factory=None, **kw):
    return asyncio.run(run_batch(config, services=services(config, factory), **kw))


def session_bytes(run_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((run_dir / "sessions").glob("*.json"))}


def test_run_directory_layout_and_manifest(tmp_path: Path) -> None:
    s = run(cfg(tmp_path / "r"))
    assert s.sessions_planned == s.sessions_finished == s.sessions_run == 4
    assert s.decisions == 24
    assert s.stopped is None
    assert s.sessions_pending == 0
    assert sum(s.outcomes.values()) == 24
    m = RunManifest.model_validate_json((tmp_path / "r" / "manifest.json").read_text())
    assert m.models == ("reference",)
    assert m.personas == ("carer", "climber")
    assert m.corpus["content_hash"] == tiny_corpus().content_hash()
    assert m.config["steps"] == 6
    assert "langgraph" in m.package_versions
    assert m.prompt_strategy == "simple"
    assert len(m.prompt_template_hash) == 64
    assert (tmp_path / "r" / "checkpoints.sqlite").is_file()
    from value_spectrum.scoring.rundir import read_run

    read = read_run(tmp_path / "r")  # what scoring sees: sessions, labels, personas
    assert len(read.sessions) == 4
    assert len(read.labels) == 40
    assert read.problems == ()
    assert {"carer", "climber"} <= set(read.targets)  # plus the built-in library
    names = sorted(session_bytes(tmp_path / "r"))
    assert names == ["carer--reference--000.json", "carer--reference--001.json",
                     "climber--reference--000.json", "climber--reference--001.json"]
    t = Trajectory.model_validate_json((tmp_path / "r" / "sessions" / names[0]).read_text())
    assert t.persona_id == "carer"
    assert len(t.steps) == 6
    assert t.extra["session_index"] == 0


def test_same_seed_same_bytes_other_seed_other_feed(tmp_path: Path) -> None:
    run(cfg(tmp_path / "a"))
    run(cfg(tmp_path / "b", concurrency=1))
    run(cfg(tmp_path / "c", seed=4))
    a, b, c = (session_bytes(tmp_path / x) for x in "abc")
    assert a == b
    assert a != c


def test_rerun_continues_and_redoes_nothing(tmp_path: Path) -> None:
    first = run(cfg(tmp_path / "r"))
    before = session_bytes(tmp_path / "r")
    again = run(cfg(tmp_path / "r", concurrency=1))  # runtime fields may change
    assert again.sessions_run == 0
    assert again.sessions_skipped == 4
    assert again.decisions == first.decisions
    assert session_bytes(tmp_path / "r") == before


def test_changed_config_is_refused(tmp_path: Path) -> None:
    run(cfg(tmp_path / "r"))
    with pytest.raises(RunDirError, match=r"steps: 6 in the manifest, 7 now.*--force-new"):
        run(cfg(tmp_path / "r", steps=7))
    s = run(cfg(tmp_path / "r", steps=7), force_new=True)
    assert s.sessions_run == 4
    assert (tmp_path / "r.old-1" / "manifest.json").is_file()


def test_max_cost_stops_cleanly_and_the_rerun_finishes(tmp_path: Path) -> None:
    factory = lambda spec: CostlyViewer(0.01)  # noqa: E731
    config = cfg(tmp_path / "r", concurrency=1, max_cost=0.10)
    s = run(config, factory)
    assert s.stopped == "budget"
    assert 0.10 <= s.cost_usd_this_run < 0.10 + 0.01 * 2
    assert s.sessions_pending > 0
    assert s.sessions_finished >= 1
    assert all(t.status == "finished" and len(t.steps) == 6 for t in RunLog(tmp_path / "r").iter_sessions())
    rest = run(cfg(tmp_path / "r", concurrency=1), factory)  # no budget now: finish the rest
    assert rest.stopped is None
    assert rest.sessions_finished == 4
    assert rest.sessions_resumed >= 1
    assert rest.decisions == 24
    assert s.decisions_this_run + rest.decisions_this_run == 24  # nothing redone, nothing lost
    turns = [[st.turn for st in t.steps] for t in RunLog(tmp_path / "r").iter_sessions()]
    assert turns == [list(range(6))] * 4


def test_zero_budget_starts_nothing(tmp_path: Path) -> None:
    s = run(cfg(tmp_path / "r", max_cost=0.0), lambda spec: CostlyViewer())
    assert s.stopped == "budget"
    assert s.sessions_finished == 0
    assert s.decisions_this_run == 0


def test_a_failing_viewer_ends_its_session_in_error_and_the_batch_goes_on(tmp_path: Path) -> None:
    corpus = tiny_corpus()
    good = reference_factory(corpus)

    def factory(spec):
        return BrokenViewer() if spec.session_id == "carer--reference--001" else good(spec)

    s = run(cfg(tmp_path / "r", max_consecutive_errors=2), factory)
    assert s.sessions_finished == 4
    assert s.status_counts == {"finished": 3, "error": 1}
    bad = Trajectory.model_validate_json((tmp_path / "r/sessions/carer--reference--001.json").read_text())
    assert bad.status == "error"
    assert [x.outcome.value for x in bad.steps] == ["error", "error"]
    assert s.outcomes["error"] == 2
    assert s.decisions == 18 + 2


def test_corrupt_record_is_reported_and_redone(tmp_path: Path) -> None:
    run(cfg(tmp_path / "r"))
    before = session_bytes(tmp_path / "r")
    victim = tmp_path / "r/sessions/climber--reference--001.json"
    victim.write_text(victim.read_text()[:100])
    s = run(cfg(tmp_path / "r"))
    assert s.sessions_run == 1
    assert s.sessions_skipped == 3
    assert len(s.corrupt) == 1
    assert "climber--reference--001.json" in s.corrupt[0]
    assert session_bytes(tmp_path / "r") == before
    assert (tmp_path / "r/sessions/climber--reference--001.json.corrupt").is_file()


def test_export_has_one_row_per_decision(tmp_path: Path) -> None:
    s = run(cfg(tmp_path / "r"))
    rows = list(export_rows(tmp_path / "r"))
    assert len(rows) == s.decisions == 24
    assert set(rows[0]) == set(COLUMNS)
    assert {r["outcome"] for r in rows} <= {"like", "skip"}
    assert {(r["session_id"], r["turn"]) for r in rows} == {
        (t.session_id, st.turn) for t in RunLog(tmp_path / "r").iter_sessions() for st in t.steps}
    lines = export_text(tmp_path / "r", "jsonl").splitlines()
    assert len(lines) == 24
    assert json.loads(lines[0])["model"] == "reference"
    assert len(export_text(tmp_path / "r", "csv").splitlines()) == 25


def test_plain_strategy_runs_one_pseudo_persona(tmp_path: Path) -> None:
    s = run(cfg(tmp_path / "r", strategy="plain"))
    assert s.sessions_planned == 2
    assert sorted(session_bytes(tmp_path / "r")) == ["plain--reference--000.json", "plain--reference--001.json"]


def test_replay_feed_is_shared_across_personas(tmp_path: Path) -> None:
    run(cfg(tmp_path / "r", feed="replay", models=("reference",)))
    by_id = {t.session_id: [s.video_id for s in t.steps] for t in RunLog(tmp_path / "r").iter_sessions()}
    assert by_id["carer--reference--000"] == by_id["climber--reference--000"]
    assert by_id["carer--reference--000"] != by_id["carer--reference--001"]


def test_a_newer_record_format_is_refused_not_redone(tmp_path: Path) -> None:
    run(cfg(tmp_path / "r"))
    path = tmp_path / "r/sessions/carer--reference--000.json"
    data = json.loads(path.read_text())
    data["schema_version"] = 99
    data["new_field"] = "from the future"
    path.write_text(json.dumps(data))
    with pytest.raises(RunDirError, match=r"schema_version.*99.*newer"):
        run(cfg(tmp_path / "r"))
    assert path.is_file()  # never moved aside
    with pytest.raises(RunDirError, match="newer"):
        list(export_rows(tmp_path / "r"))


def test_questionnaire_probes_are_recorded(tmp_path: Path) -> None:
    s = run(cfg(tmp_path / "r", probe_every=3, sessions=1))
    assert s.sessions_finished == 2
    answers = list(export_rows(tmp_path / "r", "probes"))
    assert {a["after_turn"] for a in answers} == {3, 6}
    assert {a["session_id"] for a in answers} == {t.session_id for t in RunLog(tmp_path / "r").iter_sessions()}
    assert all(a["rating"] is not None and a["value"] for a in answers)
    for t in RunLog(tmp_path / "r").iter_sessions():
        assert [p.after_turn for p in t.probes] == [3, 6]
        assert all(a.rating is not None for p in t.probes for a in p.answers)
        assert len(t.probes[0].answers) >= 10


def test_injected_faults_keep_every_decision_with_its_outcome(tmp_path: Path) -> None:
    from value_spectrum.agents.testing.retries import fast_retries
    from value_spectrum.agents.testing.server import TestServer

    with TestServer(reply=lambda body: '{"action": "skip", "reason": "meh"}') as server, fast_retries():
        server.inject("500", times=2)
        server.inject("malformed", times=1)
        server.inject("429", times=1)
        config = RunConfig(personas=("family_oriented",), models=("openai/test-vlm",), api_base=server.base_url,
                           steps=5, modality="title", cache=False, out=tmp_path / "r", record_latency=False)
        s = asyncio.run(run_batch(config, services=None))
        statuses = server.statuses
    assert s.sessions_finished == 1
    assert s.decisions == 5
    assert sum(s.outcomes.values()) == 5
    assert 500 in statuses
    assert 429 in statuses
    (t,) = RunLog(tmp_path / "r").iter_sessions()
    assert [st.turn for st in t.steps] == list(range(5))
    for st in t.steps:
        assert st.outcome.value in {"skip", "error", "unparseable"}
        assert (st.decision is not None) == (st.outcome.value == "skip")
