"""A session whose process dies at any point between two checkpoint-store calls resumes with
every finished turn kept and ends byte-identical to an uninterrupted run, on SQLite and on
PostgreSQL.

The process "dies" in-process: the store is wrapped so that its k-th ``aput`` (a checkpoint) or
k-th ``aput_writes`` (one node's writes) and every call after it never reach the database, as
after a kill -9 at that moment; then the session is resumed on a fresh graph over the same
database. Dying at an ``aput`` is the point after a turn's writes are stored and before the
checkpoint that schedules the next turn: there LangGraph's ``get_state`` shows no ``next`` node
although the session is not done (the thread that was once recorded as finished with 6 of 12
turns, then restarted from turn 0 instead; neither loses a turn now)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from _sim_fakes import tiny_corpus, two_personas
from value_spectrum.agents.reference import ReferenceViewer
from value_spectrum.graphs.driver import SessionMeta, load_checkpoint, run_session
from value_spectrum.graphs.feeds import make_feed
from value_spectrum.graphs.session import SessionContext, build_session_graph
from value_spectrum.records import Probe, ProbeAnswer

STEPS = 12
PROBE_EVERY = 4
SEED = 11


class Died(Exception):
    """The simulated kill: raised where the process would have died."""


class Asked:
    """The reference viewer, recording the turns it is asked; probes recorded likewise."""

    name = "reference"

    def __init__(self) -> None:
        corpus = tiny_corpus()
        self.inner = ReferenceViewer({v.id: v.values for v in corpus}, seed=SEED)
        self.turns: list[int] = []
        self.probes: list[int] = []

    async def decide(self, persona, observation, *, history=(), search=None):
        self.turns.append(observation.turn)
        return await self.inner.decide(persona, observation, history=history, search=search)

    async def probe(self, persona, viewer, after_turn: int) -> Probe:
        self.probes.append(after_turn)
        return Probe(after_turn=after_turn, instrument="t",
                     answers=(ProbeAnswer(item_id="i", value="benevolence", rating=after_turn % 6 + 1),))


def context(viewer: Asked) -> SessionContext:
    corpus = tiny_corpus()
    return SessionContext(viewer=viewer, corpus=corpus, persona=two_personas()[0],
                          feed=make_feed("random", corpus.videos), seed=SEED, max_steps=STEPS,
                          probe=viewer.probe, probe_every=PROBE_EVERY,
                          render_keyframes=False, record_latency=False)


def meta(session_id: str) -> SessionMeta:
    return SessionMeta(session_id=session_id, persona_id="carer", model="reference", seed=SEED)


def dying(saver: Any, method: str, at: int) -> tuple[dict[str, int], Callable[[], None]]:
    """Make the ``at``-th call (1-based) of ``saver.<method>`` raise :class:`Died`, and that call
    and every store call after it (either method) do nothing, as if the process had died there.
    Returns ``{"turns": turns whose writes were stored}`` and a function that undoes this."""
    state = {"calls": 0, "dead": False}
    stored = {"turns": 0}
    real = {"aput": saver.aput, "aput_writes": saver.aput_writes}

    async def aput(config, checkpoint, metadata, new_versions):
        if method == "aput":
            state["calls"] += 1
            state["dead"] = state["dead"] or state["calls"] >= at
        if state["dead"]:
            raise Died(f"died at aput #{at}")
        return await real["aput"](config, checkpoint, metadata, new_versions)

    async def aput_writes(config, writes, task_id, task_path=""):
        if method == "aput_writes":
            state["calls"] += 1
            state["dead"] = state["dead"] or state["calls"] >= at
        if state["dead"]:
            raise Died(f"died at aput_writes #{at}")
        await real["aput_writes"](config, writes, task_id, task_path)
        if task_path.endswith("turn") and any(channel == "steps" for channel, _ in writes):
            stored["turns"] += 1

    saver.aput, saver.aput_writes = aput, aput_writes

    def undo() -> None:
        del saver.aput, saver.aput_writes

    return stored, undo


def counting(saver: Any) -> tuple[dict[str, int], Callable[[], None]]:
    counts = {"aput": 0, "aput_writes": 0}
    real = {"aput": saver.aput, "aput_writes": saver.aput_writes}

    async def aput(config, checkpoint, metadata, new_versions):
        counts["aput"] += 1
        return await real["aput"](config, checkpoint, metadata, new_versions)

    async def aput_writes(config, writes, task_id, task_path=""):
        counts["aput_writes"] += 1
        return await real["aput_writes"](config, writes, task_id, task_path)

    saver.aput, saver.aput_writes = aput, aput_writes

    def undo() -> None:
        del saver.aput, saver.aput_writes

    return counts, undo


async def cut_and_resume(open_store: Callable[[], Any]) -> list[tuple[str, int, int, bool]]:
    """Every death point of one session, each resumed; returns (method, k, turn resumed at,
    whether get_state showed no next node) per point, after checking each resume."""
    clean = await run_session(build_session_graph(), meta("clean"), context(Asked()))
    assert len(clean.steps) == STEPS
    assert len(clean.probes) == STEPS // PROBE_EVERY
    expected = clean.model_dump_json().replace('"clean"', '"{sid}"')

    async with open_store() as saver:
        counts, undo = counting(saver)
        whole = await run_session(build_session_graph(saver), meta("whole"), context(Asked()))
        undo()
        assert whole.model_dump_json() == expected.replace("{sid}", "whole")
        state, finished = await load_checkpoint(build_session_graph(saver), "whole")
        assert finished
        assert state is not None
        assert len(state["steps"]) == STEPS

    seen: list[tuple[str, int, int, bool]] = []
    for method in ("aput", "aput_writes"):
        for k in range(1, counts[method] + 1):
            sid = f"{method}-{k}"
            async with open_store() as saver:
                stored, undo = dying(saver, method, k)
                with pytest.raises(Died):
                    await run_session(build_session_graph(saver), meta(sid), context(Asked()))
                undo()
            async with open_store() as saver:  # the next process, on the same database
                graph = build_session_graph(saver)
                snap = await graph.aget_state({"configurable": {"thread_id": sid}})
                stuck_looking = bool(snap.values) and not snap.next and not snap.values["done"]
                state, _ = await load_checkpoint(graph, sid)
                resumed_at = state["turn"] if state is not None else 0
                if state is not None:
                    assert len(state["steps"]) == resumed_at
                viewer = Asked()
                trajectory = await run_session(graph, meta(sid), context(viewer))
            assert trajectory.model_dump_json() == expected.replace("{sid}", sid), sid
            # every turn stored before the death is kept and never asked again; the rest once each
            assert resumed_at == stored["turns"], sid
            assert viewer.turns == list(range(resumed_at, STEPS)), sid
            seen.append((method, k, resumed_at, stuck_looking))
    return seen


def check_coverage(seen: list[tuple[str, int, int, bool]]) -> None:
    # the death points reach every turn, and the suspect point (a turn's writes stored, the
    # checkpoint after them not: no next node, not done) was met after every turn but the last
    # (whose writes say done; the probe after it is still to come)
    assert {turn for _, _, turn, _ in seen} == set(range(STEPS + 1))
    suspect = {turn for method, _, turn, stuck in seen if stuck and method == "aput"}
    assert set(range(1, STEPS)) <= suspect


def test_every_death_point_resumes_with_its_finished_turns_on_sqlite(tmp_path: Path) -> None:
    from value_spectrum.graphs.checkpoints import sqlite_checkpointer

    def store() -> Any:  # every statement committed: what was written is what a kill leaves
        return sqlite_checkpointer(tmp_path / "c.sqlite", commit_interval_s=0)

    check_coverage(asyncio.run(cut_and_resume(store)))


def test_every_death_point_resumes_with_its_finished_turns_on_postgres(postgres_url: str) -> None:
    from value_spectrum.graphs.checkpoint_store import open_postgres

    @asynccontextmanager
    async def store() -> AsyncIterator[Any]:
        async with open_postgres(postgres_url, max_connections=2) as saver:
            yield saver

    check_coverage(asyncio.run(cut_and_resume(store)))
