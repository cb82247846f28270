"""The local executor frees a session's slot before writing its record: with concurrency 1 the
next session takes its turns while the previous record is still being written, and every record
is written once."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from _sim_fakes import reference_factory, services, tiny_corpus
from value_spectrum.runlog import RunLog
from value_spectrum.runner.config import RunConfig
from value_spectrum.runner.local import run_batch


class Watch:
    """Observer: set once a step beyond the first session's ``steps`` arrives (with concurrency 1
    it can only be the second session's)."""

    def __init__(self, steps: int) -> None:
        self.steps = steps
        self.taken = 0
        self.second_started = threading.Event()

    def on_plan(self, *args: Any) -> None:
        pass

    def on_step(self, step: Any) -> None:
        self.taken += 1
        if self.taken > self.steps:
            self.second_started.set()

    def on_session_end(self, trajectory: Any) -> None:
        pass


def test_the_next_session_runs_while_a_record_is_written(tmp_path: Path, monkeypatch: Any) -> None:
    watch = Watch(steps=4)
    writes: list[str] = []
    overlapped: list[bool] = []
    original = RunLog.write_session

    def slow_write(self: RunLog, trajectory: Any, **kw: Any) -> Path:
        if not writes:  # the first record waits (in its worker thread) for the next session's turn
            overlapped.append(watch.second_started.wait(timeout=60))
        writes.append(trajectory.session_id)
        return original(self, trajectory, **kw)

    monkeypatch.setattr(RunLog, "write_session", slow_write)
    c = RunConfig(out=tmp_path / "run", steps=4, sessions=1, seed=3, concurrency=1, record_latency=False)
    summary = asyncio.run(run_batch(c, services=services(c, reference_factory(tiny_corpus())), observer=watch))
    assert overlapped == [True]  # the second session took a turn while the first record was held
    assert len(writes) == len(set(writes)) == summary.sessions_planned == 2
    assert summary.sessions_failed == []
    assert len(list((tmp_path / "run" / "sessions").glob("*.json"))) == 2
