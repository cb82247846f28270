"""A session killed with SIGKILL in the middle of a turn (the viewer is deciding) resumes at its
last finished turn under the DeltaChannel checkpoint layout: the finished turns are not asked
again, the interrupted one is, and the trajectory is byte-identical to an uninterrupted run."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from _sim_fakes import tiny_corpus, two_personas
from value_spectrum.agents.reference import ReferenceViewer
from value_spectrum.graphs.checkpoints import sqlite_checkpointer
from value_spectrum.graphs.driver import SessionMeta, load_checkpoint, run_session
from value_spectrum.graphs.feeds import make_feed
from value_spectrum.graphs.session import SessionContext, build_session_graph

TESTS = Path(__file__).resolve().parent
KILL_AT = 7
STEPS = 15
META = SessionMeta(session_id="s-kill", persona_id="carer", model="reference", seed=11)

SCRIPT = """
import asyncio, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_graphs_kill import META, Recording, context
from value_spectrum.graphs.checkpoints import sqlite_checkpointer
from value_spectrum.graphs.driver import run_session
from value_spectrum.graphs.session import build_session_graph

db, marker = Path(sys.argv[1]), Path(sys.argv[2])

async def main():
    async with sqlite_checkpointer(db) as saver:  # the runner's saver: group commit, WAL
        await run_session(build_session_graph(saver), META, context(Recording(hang_at={kill_at}, marker=marker)))

asyncio.run(main())
"""


class Recording:
    """The reference viewer, recording the turns it is asked; at ``hang_at`` it writes
    ``marker`` and waits (the test kills the process there)."""

    name = "reference"

    def __init__(self, hang_at: int | None = None, marker: Path | None = None) -> None:
        corpus = tiny_corpus()
        self.inner = ReferenceViewer({v.id: v.values for v in corpus}, seed=META.seed)
        self.hang_at, self.marker, self.turns = hang_at, marker, []

    async def decide(self, persona, observation, *, history=(), search=None):
        self.turns.append(observation.turn)
        if observation.turn == self.hang_at and self.marker is not None:
            self.marker.write_text(str(observation.turn))
            await asyncio.sleep(3600)
        return await self.inner.decide(persona, observation, history=history, search=search)


def context(viewer: Recording) -> SessionContext:
    corpus = tiny_corpus()
    return SessionContext(viewer=viewer, corpus=corpus, persona=two_personas()[0],
                          feed=make_feed("random", corpus.videos), seed=META.seed, max_steps=STEPS,
                          render_keyframes=False, record_latency=False)


def committed_steps(db: Path) -> int:
    """Turns whose step is committed in the checkpoint database (read by another process): the
    ``steps`` writes of the turn node (the graph input writes one too, from ``__start__``)."""
    if not db.exists():
        return 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as con:
        try:
            return int(con.execute("SELECT count(*) FROM writes WHERE channel = 'steps' AND task_path LIKE '%turn'").fetchone()[0])
        except sqlite3.OperationalError:  # tables not created yet
            return 0


def test_sigkill_mid_turn_resumes_at_the_last_finished_turn(tmp_path: Path) -> None:
    clean = asyncio.run(run_session(build_session_graph(), META, context(Recording())))

    db, marker = tmp_path / "c.sqlite", tmp_path / "hung"
    script = tmp_path / "session.py"
    script.write_text(SCRIPT.format(tests=str(TESTS), kill_at=KILL_AT))
    proc = subprocess.Popen([sys.executable, str(script), str(db), str(marker)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        # the viewer is inside turn KILL_AT, and turns 0..KILL_AT-1 are committed (group commit)
        while not (marker.exists() and committed_steps(db) == KILL_AT):
            assert proc.poll() is None, f"the session ended before the kill: {proc.communicate()}"
            assert time.monotonic() < deadline, "the session never reached the turn to kill in"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    async def resume() -> tuple[int, object, list[int]]:
        async with sqlite_checkpointer(db) as saver:
            graph = build_session_graph(saver)
            state, finished = await load_checkpoint(graph, META.session_id)
            assert state is not None
            assert not finished
            viewer = Recording()
            trajectory = await run_session(graph, META, context(viewer))
            return state["turn"], trajectory, viewer.turns

    turn_at_kill, resumed, asked = asyncio.run(resume())
    assert turn_at_kill == KILL_AT
    assert asked == list(range(KILL_AT, STEPS))  # finished turns not redone; the killed one redone once
    assert resumed.model_dump_json() == clean.model_dump_json()
