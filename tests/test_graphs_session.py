"""The session graph: shape, a full session, failures as outcomes, probes, drain and resume."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from _sim_fakes import BrokenViewer, CostlyViewer, tiny_corpus, two_personas
from value_spectrum.agents.reference import ReferenceViewer
from value_spectrum.graphs.driver import SessionMeta, run_session
from value_spectrum.graphs.feeds import make_feed
from value_spectrum.graphs.session import SessionContext, build_session_graph
from value_spectrum.records import Probe, ProbeAnswer

GOLDEN_MERMAID = """\
---
config:
  flowchart:
    curve: linear
---
graph TD;
\t__start__([<p>__start__</p>]):::first
\tturn(turn)
\tprobe(probe)
\t__end__([<p>__end__</p>]):::last
\t__start__ --> turn;
\tprobe -.-> __end__;
\tprobe -.-> turn;
\tturn -.-> __end__;
\tturn -.-> probe;
\tturn -.-> turn;
\tclassDef default fill:#f2f0ff,line-height:1.2
\tclassDef first fill-opacity:0
\tclassDef last fill:#bfb6fc
"""

META = SessionMeta(session_id="s1", persona_id="carer", model="reference", feed="random", seed=7)


def context(viewer=None, *, steps: int = 12, feed: str = "random", **kw) -> SessionContext:
    corpus = tiny_corpus()
    viewer = viewer or ReferenceViewer({v.id: v.values for v in corpus}, seed=7)
    return SessionContext(viewer=viewer, corpus=corpus, persona=two_personas()[0],
                          feed=make_feed(feed, corpus.videos), seed=7, max_steps=steps,
                          render_keyframes=False, record_latency=False, **kw)


def test_graph_shape_snapshot() -> None:
    assert build_session_graph().get_graph().draw_mermaid() == GOLDEN_MERMAID


def test_full_session_is_deterministic() -> None:
    graph = build_session_graph()
    a = asyncio.run(run_session(graph, META, context()))
    b = asyncio.run(run_session(graph, META, context()))
    assert len(a.steps) == 12
    assert a.status == "finished"
    assert [s.turn for s in a.steps] == list(range(12))
    assert len({s.video_id for s in a.steps}) == 12
    assert a.model_dump_json() == b.model_dump_json()
    assert sum(a.outcome_counts().values()) == 12


def test_usage_is_summed() -> None:
    t = asyncio.run(run_session(build_session_graph(), META, context(CostlyViewer(0.5), steps=4)))
    assert t.usage.cost_usd == pytest.approx(2.0)
    assert t.usage.prompt_tokens == 40
    assert [s.outcome.value for s in t.steps] == ["like", "skip", "like", "skip"]


def test_one_bad_turn_does_not_poison_the_rest() -> None:
    t = asyncio.run(run_session(build_session_graph(), META, context(BrokenViewer({2}), steps=6)))
    outcomes = [s.outcome.value for s in t.steps]
    assert outcomes == ["skip", "skip", "error", "skip", "skip", "skip"]
    assert "provider exploded at turn 2" in t.steps[2].error
    assert t.steps[2].decision is None
    assert t.status == "finished"


def test_consecutive_errors_end_the_session_with_status_error() -> None:
    ctx = context(BrokenViewer(), steps=20, max_consecutive_errors=3)
    t = asyncio.run(run_session(build_session_graph(), META, ctx))
    assert t.status == "error"
    assert len(t.steps) == 3
    assert all(s.outcome.value == "error" for s in t.steps)
    assert "3 errors in a row" in t.error


def test_feed_exhaustion_ends_the_session() -> None:
    t = asyncio.run(run_session(build_session_graph(), META, context(steps=100)))
    assert len(t.steps) == 40
    assert t.status == "finished"


def test_probe_every_k_turns() -> None:
    calls: list[int] = []

    async def probe(persona, viewer, after_turn):
        calls.append(after_turn)
        return Probe(after_turn=after_turn, instrument="t",
                     answers=(ProbeAnswer(item_id="i", value="benevolence", rating=5),))

    t = asyncio.run(run_session(build_session_graph(), META, context(steps=7, probe=probe, probe_every=3)))
    assert calls == [3, 6]
    assert [p.after_turn for p in t.probes] == [3, 6]


def test_a_failing_probe_is_noted_not_fatal() -> None:
    def probe(persona, viewer, after_turn):
        raise ValueError("bad instrument")

    t = asyncio.run(run_session(build_session_graph(), META, context(steps=4, probe=probe, probe_every=2)))
    assert len(t.steps) == 4
    assert t.probes == ()
    assert any("bad instrument" in n for n in t.extra["notes"])


def test_search_hits_steer_the_search_feed() -> None:
    class Searcher(CostlyViewer):
        async def decide(self, persona, observation, *, history=(), search=None):
            if observation.turn == 0:
                search("benevolence")
            return await super().decide(persona, observation, history=history, search=search)

    def search(query: str, k: int = 5, platform=None):
        return [{"id": "v018"}, {"id": "v028"}]

    ctx = context(Searcher(0.0), steps=4, feed="search", search=search)
    t = asyncio.run(run_session(build_session_graph(), META, ctx))
    assert [s.video_id for s in t.steps][1:3] == ["v018", "v028"]


def test_drained_session_resumes_to_the_same_trajectory(tmp_path: Path) -> None:
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
    from langgraph.errors import GraphDrained
    from langgraph.runtime import RunControl

    async def main():
        full = await run_session(build_session_graph(), META, context(steps=10))
        async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "c.sqlite")) as saver:
            graph = build_session_graph(saver)
            control = RunControl()
            seen: list[int] = []

            def on_step(step):
                seen.append(step.turn)
                if step.turn == 3:
                    control.request_drain("test")

            with pytest.raises(GraphDrained):
                await run_session(graph, META, context(steps=10, on_step=on_step), control=control)
            assert seen == [0, 1, 2, 3]
            resumed = await run_session(graph, META, context(steps=10, on_step=on_step))
            assert seen == list(range(10))  # turns 0-3 were not redone
            return full, resumed

    full, resumed = asyncio.run(main())
    assert resumed.model_dump_json() == full.model_dump_json()


def test_viewer_sees_recent_history() -> None:
    class Historian(CostlyViewer):
        def __init__(self):
            super().__init__(0.0)
            self.lengths: list[int] = []
            self.last_turns: list[int] = []

        async def decide(self, persona, observation, *, history=(), search=None):
            self.lengths.append(len(history))
            if len(history):
                self.last_turns.append(history[-1].turn)
                assert [s.turn for s in history] == [s.turn for s in history[:]]
            return await super().decide(persona, observation, history=history, search=search)

    viewer = Historian()
    asyncio.run(run_session(build_session_graph(), META, context(viewer, steps=25)))
    assert viewer.lengths == list(range(21)) + [20] * 4  # the window is 20
    assert viewer.last_turns == list(range(24))


def test_checkpoint_data_does_not_grow_with_the_session(tmp_path: Path) -> None:
    import sqlite3

    from value_spectrum.graphs.checkpoints import sqlite_checkpointer

    corpus = tiny_corpus(120)
    ctx = SessionContext(viewer=ReferenceViewer({v.id: v.values for v in corpus}, seed=3), corpus=corpus,
                         persona=two_personas()[0], feed=make_feed("random", corpus.videos), seed=3,
                         max_steps=100, render_keyframes=False, record_latency=False)

    async def main() -> None:
        async with sqlite_checkpointer(tmp_path / "c.sqlite") as saver:
            t = await run_session(build_session_graph(saver), META, ctx)
            assert len(t.steps) == 100

    asyncio.run(main())
    with sqlite3.connect(tmp_path / "c.sqlite") as con:
        blobs = [n for (n,) in con.execute(
            "SELECT length(checkpoint) + length(metadata) FROM checkpoints ORDER BY checkpoint_id")]
        writes = [n for (n,) in con.execute(
            "SELECT sum(length(value)) FROM writes GROUP BY checkpoint_id ORDER BY checkpoint_id")]
    assert len(blobs) == 102  # the input, 100 turns, the end
    # turn 90's checkpoint is no bigger than turn 10's: the steps are not in it, only the turn's
    # own step is written (as the turn's write), never the whole list
    assert max(blobs[85:95]) <= max(blobs[5:15]) + 8
    assert max(writes[85:95]) <= max(writes[5:15]) + 8


def test_a_checkpoint_file_opened_in_a_thread_keeps_every_turn(tmp_path: Path) -> None:
    """The Ray actors' per-session files: made and closed off the event loop, the compiled graph
    reused with the saver put in; the turns are in the file and a reopened saver resumes them."""
    import sqlite3
    from contextlib import closing

    from value_spectrum.graphs.checkpoints import sqlite_checkpointer
    from value_spectrum.graphs.driver import load_checkpoint

    corpus = tiny_corpus(60)
    ctx = SessionContext(viewer=ReferenceViewer({v.id: v.values for v in corpus}, seed=3), corpus=corpus,
                         persona=two_personas()[0], feed=make_feed("random", corpus.videos), seed=3,
                         max_steps=6, render_keyframes=False, record_latency=False)
    template = build_session_graph(None)
    db = tmp_path / "s1.sqlite"

    async def main() -> tuple[int, object]:
        async with sqlite_checkpointer(db, open_in_thread=True) as saver:
            assert saver.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert saver.conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL again
            t = await run_session(template.copy(update={"checkpointer": saver}), META, ctx)
        async with sqlite_checkpointer(db) as again:
            state, done = await load_checkpoint(build_session_graph(again), META.session_id)
        assert done
        assert state is not None
        return len(t.steps), state["turn"]

    steps, turn = asyncio.run(main())
    assert (steps, turn) == (6, 6)
    assert not Path(f"{db}-wal").exists()  # closed cleanly (checkpointed into the file)
    with closing(sqlite3.connect(db)) as con:
        assert con.execute("SELECT count(*) FROM checkpoints").fetchone()[0] == 8  # input, 6 turns, end


class Flaky:
    """The reference viewer, failing every turn from ``fail_from`` on while ``broken``."""

    name = "reference"

    def __init__(self, corpus, fail_from: int) -> None:
        self.inner = ReferenceViewer({v.id: v.values for v in corpus}, seed=7)
        self.fail_from, self.broken, self.turns = fail_from, True, []

    async def decide(self, persona, observation, *, history=(), search=None):
        self.turns.append(observation.turn)
        if self.broken and observation.turn >= self.fail_from:
            raise ConnectionError("server gone")
        return await self.inner.decide(persona, observation, history=history, search=search)


def test_a_session_that_ended_in_error_continues_from_its_last_good_turn(tmp_path: Path) -> None:
    from value_spectrum.graphs.checkpoints import sqlite_checkpointer
    from value_spectrum.graphs.driver import load_checkpoint

    probe_calls: list[int] = []

    async def probe(persona, viewer, after_turn):
        probe_calls.append(after_turn)
        return Probe(after_turn=after_turn, instrument="t",
                     answers=(ProbeAnswer(item_id="i", value="benevolence", rating=4),))

    def ctx(viewer):
        return context(viewer, steps=12, max_consecutive_errors=3, probe=probe, probe_every=4)

    async def main():
        clean = await run_session(build_session_graph(), META, ctx(None))
        viewer = Flaky(tiny_corpus(), fail_from=8)
        async with sqlite_checkpointer(tmp_path / "c.sqlite") as saver:
            graph = build_session_graph(saver)
            failed = await run_session(graph, META, ctx(viewer))
            assert failed.status == "error"
            assert [s.outcome.value for s in failed.steps[8:]] == ["error"] * 3
            state, finished = await load_checkpoint(graph, META.session_id)
            assert finished
            assert state is not None
            assert state["status"] == "error"
            # without retry_error an ended thread is returned as it is
            again = await run_session(graph, META, ctx(viewer))
            assert again.model_dump_json() == failed.model_dump_json()
            viewer.broken, viewer.turns = False, []
            probes_before = list(probe_calls)
            fixed = await run_session(graph, META, ctx(viewer), retry_error=True)
            assert viewer.turns == list(range(8, 12))  # the good turns 0-7 were not redone
            assert probe_calls[len(probes_before):] == [12]  # the probe after turn 8 was not redone
        return clean, fixed

    clean, fixed = asyncio.run(main())
    assert fixed.status == "finished"
    assert fixed.model_dump_json() == clean.model_dump_json()


def test_retry_error_without_a_thread_starts_again(tmp_path: Path) -> None:
    from value_spectrum.graphs.checkpoints import sqlite_checkpointer

    async def main():
        async with sqlite_checkpointer(tmp_path / "c.sqlite") as saver:
            viewer = Flaky(tiny_corpus(), fail_from=99)
            t = await run_session(build_session_graph(saver), META, context(viewer, steps=5), retry_error=True)
            assert viewer.turns == [0, 1, 2, 3, 4]
            return t

    assert asyncio.run(main()).status == "finished"


def test_a_thread_of_the_old_graph_layout_is_dropped_and_restarted(tmp_path: Path) -> None:
    from langgraph.checkpoint.memory import InMemorySaver

    from value_spectrum.graphs.driver import load_checkpoint

    saver = InMemorySaver()
    config = {"configurable": {"thread_id": META.session_id, "checkpoint_ns": ""}}
    old = {"v": 4, "id": "1f0c0c2e-0000-6000-8000-000000000001", "ts": "2026-01-01T00:00:00+00:00",
           "channel_values": {"turn": 3}, "channel_versions": {"turn": 1, "branch:to:decide": 1},
           "versions_seen": {}, "updated_channels": None}
    saver.put(config, old, {"source": "loop", "step": 3}, {"turn": 1, "branch:to:decide": 1})

    async def main():
        graph = build_session_graph(saver)
        assert await load_checkpoint(graph, META.session_id) == (None, False)
        assert saver.get_tuple(config) is None  # deleted
        return await run_session(graph, META, context(steps=4))

    assert [s.turn for s in asyncio.run(main()).steps] == [0, 1, 2, 3]


def test_a_session_that_failed_from_its_first_turn_retries_from_turn_0(tmp_path: Path) -> None:
    from value_spectrum.graphs.checkpoints import sqlite_checkpointer

    async def main():
        clean = await run_session(build_session_graph(), META, context(steps=6))
        viewer = Flaky(tiny_corpus(), fail_from=0)
        async with sqlite_checkpointer(tmp_path / "c.sqlite") as saver:
            graph = build_session_graph(saver)
            failed = await run_session(graph, META, context(viewer, steps=6, max_consecutive_errors=2))
            assert [s.outcome.value for s in failed.steps] == ["error", "error"]
            viewer.broken, viewer.turns = False, []
            fixed = await run_session(graph, META, context(viewer, steps=6), retry_error=True)
            assert viewer.turns == list(range(6))
        return clean, fixed

    clean, fixed = asyncio.run(main())
    assert fixed.model_dump_json() == clean.model_dump_json()
