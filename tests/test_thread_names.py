"""Checkpoint threads are named by the run's namespace (the manifest's ``thread_ns``) and the
session id; a run directory made before namespaces existed keeps its threads' bare names, so its
unfinished sessions still resume."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from _sim_fakes import reference_factory, services, tiny_corpus
from value_spectrum.graphs.checkpoints import sqlite_checkpointer
from value_spectrum.graphs.driver import run_session, thread_name
from value_spectrum.graphs.session import build_session_graph
from value_spectrum.runner.config import RunConfig
from value_spectrum.runner.local import plan_of, run_batch
from value_spectrum.runner.runner import Runner, session_meta


def config(out: Path) -> RunConfig:
    return RunConfig(out=out, steps=8, sessions=2, seed=5, concurrency=2, record_latency=False)


def run(out: Path):
    c = config(out)
    return asyncio.run(run_batch(c, services=services(c, reference_factory(tiny_corpus()))))


def records(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "sessions").glob("*.json"))}


def test_new_runs_get_a_namespace_of_their_own(tmp_path: Path) -> None:
    run(tmp_path / "a")
    run(tmp_path / "b")
    ns = [json.loads((tmp_path / r / "manifest.json").read_text())["thread_ns"] for r in "ab"]
    assert all(re.fullmatch(r"[0-9a-f]{16}", n) for n in ns)
    assert ns[0] != ns[1]
    assert thread_name(ns[0], "carer--reference--000") == f"{ns[0]}/carer--reference--000"
    assert thread_name("", "carer--reference--000") == "carer--reference--000"


def test_a_run_made_before_namespaces_resumes_its_bare_named_thread(tmp_path: Path) -> None:
    run(tmp_path / "clean")
    expected = records(tmp_path / "clean")
    old = tmp_path / "old"
    run(old)
    manifest = json.loads((old / "manifest.json").read_text())
    del manifest["thread_ns"]  # as an older version wrote it
    (old / "manifest.json").write_text(json.dumps(manifest))
    sid = sorted(expected)[0].removesuffix(".json")
    (old / "sessions" / f"{sid}.json").unlink()

    # the unfinished session an older version left: 3 turns in a thread named by its id alone
    c = config(old)
    svc = services(c, reference_factory(tiny_corpus()))
    plan = plan_of(c, svc)
    spec = next(s for s in plan.sessions(svc.persona_ids) if s.session_id == sid)

    async def partly() -> None:
        from langgraph.errors import GraphDrained
        from langgraph.runtime import RunControl

        control = RunControl()
        taken: list[object] = []

        def on_step(step: object) -> None:
            taken.append(step)
            if len(taken) == 3:
                control.request_drain("test")

        async with sqlite_checkpointer(old / "checkpoints.sqlite") as saver:
            context = svc.context(spec, max_steps=plan.steps_of(spec), on_step=on_step)
            meta = session_meta(plan, spec, svc.viewer_extra(context.viewer, context.persona))
            assert meta.thread == sid
            with pytest.raises(GraphDrained):
                await run_session(build_session_graph(saver), meta, context, control=control)

    asyncio.run(partly())
    runner = Runner(plan, services=services(c, reference_factory(tiny_corpus())))
    summary = asyncio.run(runner.run())
    assert runner.thread_ns == ""
    assert summary.sessions_resumed == 1
    assert summary.sessions_skipped == len(expected) - 1
    assert records(old) == expected
