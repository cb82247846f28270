"""The driver's dispatch loop (shared by the process and Ray executors) with a scripted pool:
what a lost worker does to the sessions it held."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from value_spectrum.records import Step, Trajectory
from value_spectrum.runner.config import RunConfig
from value_spectrum.runner.local import run_batch
from value_spectrum.runner.plan import SessionSpec
from value_spectrum.runner.process_executor import WorkerLost
from value_spectrum.runner.session_pool import PoolWorker, Sink, dispatch


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real finished session's record (the reference viewer, one turn)."""
    out: Path = tmp_path_factory.mktemp("pool") / "r"
    asyncio.run(run_batch(RunConfig(personas=("archetype_power",), steps=1, out=out, record_latency=False)))
    return next((out / "sessions").glob("*.json")).read_text()


class _Pool:
    """Two workers; ``a`` dies right after it sent a session's record, before the session's end."""

    lost_errors = (WorkerLost,)

    def __init__(self, body: str) -> None:
        self.workers = [PoolWorker(handle="a", where="a"), PoolWorker(handle="b", where="b")]
        self.body = body
        self.runs: list[str] = []

    async def pick(self) -> PoolWorker:
        return next(w for w in self.workers if w.alive)

    async def stream(self, worker: PoolWorker, spec: SessionSpec, retry_error: bool) -> AsyncIterator[tuple[str, str]]:
        self.runs.append(worker.where)
        yield "done", self.body
        if worker.where == "a":
            raise WorkerLost("exit code -9")

    def lost(self, worker: PoolWorker, exc: BaseException) -> None:
        worker.alive = False

    def forget(self, worker: PoolWorker, session_id: str) -> None:
        pass

    async def drain(self, reason: str) -> None:
        pass


def test_a_worker_lost_after_a_sessions_record_does_not_run_it_again(finished: str) -> None:
    pool = _Pool(finished)
    spec = SessionSpec(session_id=Trajectory.model_validate_json(finished).session_id, persona_id="archetype_power",
                       model="reference", index=0, seed=0, feed_seed=0)
    written: list[str] = []
    failed: list[str] = []

    async def on_trajectory(t: Trajectory) -> None:
        written.append(t.session_id)

    def on_step(step: Step) -> None:
        pass

    sink = Sink(on_step=on_step, on_trajectory=on_trajectory, on_failed=lambda s, text: failed.append(text),
                stop_reason=lambda: None)
    asyncio.run(dispatch(pool, [spec], sink, concurrency=1))
    assert written == [spec.session_id]  # recorded once (counted once in the summary) ...
    assert pool.runs == ["a"]  # ... and not handed to worker b again
    assert not failed
    assert not pool.workers[0].alive  # the loss itself is still noticed
