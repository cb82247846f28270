"""`value-spectrum fork`: a recorded session continued from turn K under one changed condition.

The state a fork starts from is rebuilt from the parent's record; it must equal the checkpoint
LangGraph itself saved at turn K. The fork's first K steps are the parent's, byte for byte; a fork
forked back to the parent's condition reproduces the parent's whole session; the errors are one
line each with exit code 2.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from typer.testing import CliRunner

from _sim_fakes import tiny_corpus, two_personas
from value_spectrum.agents.reference import ReferenceViewer
from value_spectrum.agents.testing import TestServer, fast_retries
from value_spectrum.cli.app import build_app
from value_spectrum.graphs.driver import SessionMeta, run_session
from value_spectrum.graphs.feeds import make_feed
from value_spectrum.graphs.session import SessionContext, build_session_graph
from value_spectrum.records import Probe, ProbeAnswer
from value_spectrum.runner.fork import ForkError, fork_plan, state_at

SESSION = "family_oriented--reference--000"


def _probe(persona: Any, viewer: Any, after_turn: int) -> Probe:
    return Probe(instrument="t", after_turn=after_turn,
                 answers=(ProbeAnswer(item_id="a", value="benevolence", rating=3),))


@pytest.mark.parametrize(("at", "probe_every"), [(0, 0), (7, 0), (8, 4), (11, 4)])
def test_rebuilt_state_equals_langgraphs_checkpoint_at_turn_k(at: int, probe_every: int) -> None:
    corpus = tiny_corpus()
    ctx = SessionContext(viewer=ReferenceViewer({v.id: v.values for v in corpus}, seed=3), corpus=corpus,
                         persona=two_personas()[0], feed=make_feed("random", corpus.videos), seed=5,
                         max_steps=12, render_keyframes=False, record_latency=False,
                         probe=_probe if probe_every else None, probe_every=probe_every)
    graph = build_session_graph(InMemorySaver())  # the thread is kept: its whole history
    meta = SessionMeta(session_id="s", persona_id="carer", model="reference", seed=5)
    trajectory = asyncio.run(run_session(graph, meta, ctx))

    async def history() -> list[Any]:
        return [s async for s in graph.aget_state_history({"configurable": {"thread_id": "s"}})]

    # the checkpoint from which turn K's decision runs (after the probe, on probe turns)
    at_k = [s for s in asyncio.run(history()) if s.values.get("turn") == at and s.next == ("turn",)]
    assert len(at_k) == 1
    saved = {k: at_k[0].values.get(k) for k in state_at(trajectory, at)}
    assert json.dumps(saved, sort_keys=True) == json.dumps(state_at(trajectory, at), sort_keys=True)
    assert len(saved["steps"]) == at


def _cli(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(build_app(), list(args))
    return res.exit_code, res.stdout, res.stderr


@pytest.fixture(scope="module")
def parent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fork") / "parent"
    code, _, err = _cli("simulate", "-p", "family_oriented", "-p", "festival_hedonist", "--sessions", "2",
                        "--steps", "20", "--feed", "replay", "--no-latency", "--out", str(out), "-q")
    assert code == 0, err
    return out


def _steps(run: Path, session: str = SESSION) -> list[str]:
    record = json.loads((run / "sessions" / f"{session}.json").read_text())
    return [json.dumps(s, sort_keys=True) for s in record["steps"]]


def test_fork_shares_k_steps_and_records_its_parent(parent: Path, tmp_path: Path) -> None:
    child = tmp_path / "child"
    code, _, err = _cli("fork", str(parent), "--session", SESSION, "--at", "10", "--persona", "festival_hedonist",
                        "--out", str(child), "-q")
    assert code == 0, err
    mine, theirs = _steps(child), _steps(parent)
    assert len(mine) == 20
    assert mine[:10] == theirs[:10]  # byte-identical records of the shared turns
    assert mine[10:] != theirs[10:]  # another persona decides from turn 10 on
    # the replay feed shows the same videos after K: a turn-by-turn paired design
    assert [json.loads(s)["video_id"] for s in mine] == [json.loads(s)["video_id"] for s in theirs]
    manifest = json.loads((child / "manifest.json").read_text())
    fork = manifest["config"]["fork"]
    assert manifest["config"]["plan"] == "fork"
    assert (fork["parent_run_id"], fork["session_id"], fork["at"]) == ("parent", SESSION, 10)
    assert fork["changed"] == {"persona": ["family_oriented", "festival_hedonist"]}
    record = json.loads((child / "sessions" / f"{SESSION}.json").read_text())
    assert record["persona_id"] == "festival_hedonist"
    assert record["extra"]["fork"]["at"] == 10
    code, out, err = _cli("report", str(child), "--json")
    assert code == 0, err
    assert json.loads(out)["groups"][0]["persona_id"] == "festival_hedonist"
    # the same command again continues (nothing to do), it does not refuse or redo
    code, out, err = _cli("fork", str(parent), "--session", SESSION, "--at", "10", "--persona",
                          "festival_hedonist", "--out", str(child), "--json")
    assert code == 0, err
    assert json.loads(out)["sessions_skipped"] == 1
    assert _steps(child) == mine


def test_forking_back_to_the_parents_condition_reproduces_the_parent(parent: Path, tmp_path: Path) -> None:
    child, back = tmp_path / "child", tmp_path / "back"
    assert _cli("fork", str(parent), "--session", SESSION, "--at", "6", "--persona", "festival_hedonist",
                "--out", str(child), "-q")[0] == 0
    code, _, err = _cli("fork", str(child), "--session", SESSION, "--at", "6", "--persona", "family_oriented",
                        "--out", str(back), "-q")
    assert code == 0, err
    assert _steps(back) == _steps(parent)  # continuing from turn K is the uninterrupted session


@pytest.mark.parametrize(("args", "message"), [
    (["--session", "nope", "--at", "3", "--model", "openai/x"], "--session: no session 'nope'"),
    (["--session", SESSION, "--at", "20", "--model", "openai/x"], "--at 20: session"),
    (["--session", SESSION, "--at", "3"], "nothing changed: give one of --model, --persona or --strategy"),
    (["--session", SESSION, "--at", "3", "--model", "reference"], "nothing changed: session"),
    (["--session", SESSION, "--at", "3", "--model", "openai/x", "--strategy", "isq"], "a fork changes one condition"),
    (["--session", SESSION, "--at", "3", "--model", "nosuchprovider/zzz"], "unknown model or provider 'nosuchprovider/zzz'"),
    (["--session", SESSION, "--at", "3", "--persona", "nobody_at_all"], "nobody_at_all"),
])
def test_errors_are_one_line(parent: Path, tmp_path: Path, args: list[str], message: str) -> None:
    code, _, err = _cli("fork", str(parent), *args, "--out", str(tmp_path / "f"), "-q")
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    assert message in lines[0], err
    assert not (tmp_path / "f" / "sessions").exists()


def test_not_a_run_directory(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="run directory"):
        fork_plan(tmp_path, session="x", at=0, model="openai/x")


def test_state_at_refuses_k_out_of_range(parent: Path) -> None:
    from value_spectrum.runlog import RunLog

    trajectory = RunLog(parent).read_session(parent / "sessions" / f"{SESSION}.json")
    with pytest.raises(ForkError, match="give a turn from 0 to 19"):
        state_at(trajectory, -1)


@pytest.fixture
def server() -> Iterator[TestServer]:
    with fast_retries(), TestServer() as s:
        yield s


def test_fork_at_turn_10_with_another_model(parent: Path, tmp_path: Path, server: TestServer) -> None:
    child = tmp_path / "llm"
    code, _, err = _cli("fork", str(parent), "--session", SESSION, "--at", "10", "--model", "openai/fake",
                        "--api-base", server.base_url, "--out", str(child), "-q")
    assert code == 0, err
    assert _steps(child)[:10] == _steps(parent)[:10]
    assert len(server.requests) >= 10  # turns 10..19 asked the model, turns 0..9 did not
    record = json.loads((child / "sessions" / f"{SESSION}.json").read_text())
    assert record["model"] == "openai/fake"
    assert all(s["usage"]["prompt_tokens"] == 0 for s in record["steps"][:10])
    assert all(s["usage"]["prompt_tokens"] > 0 for s in record["steps"][10:])


def test_compare_shows_paired_differences_after_k(parent: Path, tmp_path: Path) -> None:
    child = tmp_path / "child"
    assert _cli("fork", str(parent), "--session", SESSION, "--at", "10", "--persona", "festival_hedonist",
                "--out", str(child), "-q")[0] == 0
    code, out, err = _cli("compare", str(parent), str(child), "--json")
    assert code == 0, err
    rows = json.loads(out)["paired"]
    overall = rows[0]
    assert (overall["value"], overall["design"], overall["from_turn"]) == ("all", "fork", 10)
    assert (overall["run_a"], overall["run_b"]) == ("parent", "child")  # the parent is side a
    assert overall["pairs"] == 10  # turns 10..19 only: the shared turns differ by nothing
    assert overall["changed"] == "persona: family_oriented -> festival_hedonist"
    parent_steps = [json.loads(s) for s in _steps(parent)[10:]]
    child_steps = [json.loads(s) for s in _steps(child)[10:]]
    only_b = sum(a["outcome"] == "skip" and b["outcome"] == "like" for a, b in zip(parent_steps, child_steps, strict=True))
    assert overall["only_b"] == only_b
    assert sum(r["pairs"] for r in rows[1:]) <= 10
    # the fork's own tables count only the decisions it made (turns 10..19)
    report = json.loads(_cli("report", str(child), "--json")[1])
    assert report["groups"][0]["n_decisions"] == 10
    code, text, _ = _cli("compare", str(parent), str(child))
    assert "Paired differences, child - parent" in text


def test_fork_with_postgres_checkpoints_equals_the_sqlite_fork(parent: Path, tmp_path: Path, postgres_url: str) -> None:
    lite, pg = tmp_path / "lite", tmp_path / "pg"
    for out, extra in ((lite, []), (pg, ["--checkpoints", postgres_url])):
        code, _, err = _cli("fork", str(parent), "--session", SESSION, "--at", "7", "--strategy", "isq",
                            "--out", str(out), "-q", *extra)
        assert code == 0, err
    assert _steps(pg) == _steps(lite)
    assert _steps(pg)[:7] == _steps(parent)[:7]
    import psycopg

    with psycopg.connect(postgres_url) as conn:  # the finished fork's thread was deleted
        assert conn.execute("SELECT count(*) FROM checkpoints").fetchone()[0] == 0
    # a fork into its parent's own store keeps the session id, under its own run's thread
    # namespace: the same fork as in a store of its own
    shared = tmp_path / "shared"
    code, _, err = _cli("simulate", "-p", "family_oriented", "--steps", "8", "--no-latency", "--out", str(shared),
                        "--checkpoints", postgres_url, "-q")
    assert code == 0, err
    for out, extra in ((tmp_path / "f-lite", []), (tmp_path / "f-pg", ["--checkpoints", postgres_url])):
        code, _, err = _cli("fork", str(shared), "--session", SESSION, "--at", "3", "--strategy", "isq",
                            "--out", str(out), "-q", *extra)
        assert code == 0, err
    assert _steps(tmp_path / "f-pg") == _steps(tmp_path / "f-lite")
