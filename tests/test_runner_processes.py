"""The process executor: sessions over worker processes, the same records as one event loop."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from value_spectrum.agents.base import Viewer
from value_spectrum.records import Step, Trajectory
from value_spectrum.runlog import RunLog
from value_spectrum.runner.config import RunConfig
from value_spectrum.runner.local import run_batch
from value_spectrum.runner.plan import SessionSpec
from value_spectrum.runner.process_executor import WorkerStartError
from value_spectrum.runner.runner import Runner
from value_spectrum.runner.services import Services
from value_spectrum.runner.summary import RunSummary

PERSONAS = ("archetype_benevolence", "archetype_power", "family_oriented")


def _records(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (run / "sessions").glob("*.json")}


def test_processes_write_the_same_records_as_the_local_executor(tmp_path: Path) -> None:
    local = RunConfig(personas=PERSONAS, steps=4, sessions=2, out=tmp_path / "local", record_latency=False)
    asyncio.run(run_batch(local))
    cfg = RunConfig(**{**local.model_dump(), "out": tmp_path / "proc", "executor": "processes", "workers": 2})
    summary = asyncio.run(run_batch(cfg))
    assert summary.sessions_finished == 6
    assert summary.decisions == 24
    assert not summary.failed
    assert _records(tmp_path / "local") == _records(tmp_path / "proc")
    assert len(_records(tmp_path / "proc")) == 6
    assert not list(RunLog(tmp_path / "proc").checkpoint_dir.glob("*.sqlite*"))  # dropped once recorded
    assert not multiprocessing.active_children()  # every worker ended


class _StopAfter:
    """An observer that asks the run to stop after ``n`` decisions."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.seen = 0
        self.runner: Runner | None = None

    def on_plan(self, sessions: int, already_done: int, steps_per_session: int) -> None:
        pass

    def on_step(self, step: Step) -> None:
        self.seen += 1
        if self.seen == self.n and self.runner is not None:
            self.runner.request_stop("budget")

    def on_session_end(self, trajectory: Trajectory) -> None:
        pass


def test_a_stopped_run_resumes_from_the_workers_checkpoints(tmp_path: Path) -> None:
    from value_spectrum.agents.testing.server import TestServer
    from value_spectrum.runner.local import plan_of

    with TestServer(reply=lambda body: '{"action": "like", "reason": "ok"}', latency_ms=30) as server:
        base = dict(personas=PERSONAS[:2], models=("openai/test-vlm",), api_base=server.base_url, steps=6,
                    sessions=2, modality="title", cache=False, record_latency=False, seed=5)
        local = RunConfig(**base, out=tmp_path / "local")  # type: ignore[arg-type]
        asyncio.run(run_batch(local))
        cfg = RunConfig(**base, out=tmp_path / "proc", executor="processes", workers=2,  # type: ignore[arg-type]
                        gateway={"rpm": 60_000})  # the run-wide bucket in the driver, asked over the pipes
        observer = _StopAfter(5)
        runner = Runner(plan_of(cfg), services=Services(cfg), observer=observer)
        observer.runner = runner
        first = asyncio.run(runner.run())
        assert first.stopped == "budget"
        assert first.sessions_finished < 4  # drained at a node boundary, not run to the end
        kept = list(RunLog(tmp_path / "proc").checkpoint_dir.glob("*.sqlite"))
        assert kept  # the unfinished sessions' checkpoints, one database each
        second = asyncio.run(run_batch(cfg))
        assert second.sessions_resumed >= 1
        assert second.sessions_finished == 4
        assert not second.failed
    mine, theirs = _records(tmp_path / "proc"), _records(tmp_path / "local")
    assert mine.keys() == theirs.keys()
    assert len(mine) == 4
    for name in mine:  # the same decisions, each turn once, whichever run made it
        a = Trajectory.model_validate_json(mine[name])
        b = Trajectory.model_validate_json(theirs[name])
        assert [(s.turn, s.video_id, s.outcome) for s in a.steps] == [(s.turn, s.video_id, s.outcome) for s in b.steps]


class _KillOne(_StopAfter):
    """Kills one worker process after ``n`` decisions."""

    def on_step(self, step: Step) -> None:
        self.seen += 1
        if self.seen == self.n:
            victim = next(p for p in multiprocessing.active_children() if p.name == "value-spectrum-worker-0")
            assert victim.pid is not None
            os.kill(victim.pid, signal.SIGKILL)


def test_a_killed_worker_loses_and_doubles_nothing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from value_spectrum.agents.testing.server import TestServer
    from value_spectrum.runner.local import plan_of

    with TestServer(reply=lambda body: '{"action": "skip", "reason": "no"}', latency_ms=40) as server:
        cfg = RunConfig(personas=PERSONAS, models=("openai/test-vlm",), api_base=server.base_url, steps=5,
                        sessions=2, modality="title", cache=False, record_latency=False, out=tmp_path / "r",
                        executor="processes", workers=2)
        observer = _KillOne(4)
        runner = Runner(plan_of(cfg), services=Services(cfg), observer=observer)
        summary = asyncio.run(runner.run())
    assert "ended (exit code -9); its sessions continue on the others" in caplog.text  # the kill landed mid-run
    assert not summary.failed, summary.sessions_failed
    assert summary.sessions_finished == 6
    records = _records(tmp_path / "r")
    assert len(records) == 6
    for body in records.values():
        t = Trajectory.model_validate_json(body)
        assert [s.turn for s in t.steps] == [0, 1, 2, 3, 4]  # every turn once, none lost


def test_parts_that_do_not_pickle_are_one_clear_error(tmp_path: Path) -> None:
    from value_spectrum.agents.reference import ReferenceViewer

    cfg = RunConfig(personas=PERSONAS[:1], steps=2, out=tmp_path / "r", executor="processes", workers=1)
    services = Services(cfg, viewer_factory=lambda spec: ReferenceViewer({}))
    with pytest.raises(WorkerStartError, match=r"do not pickle .*--executor local"):
        asyncio.run(run_batch(cfg, services=services))


def test_workers_need_the_process_executor(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from value_spectrum.cli.app import build_app

    result = CliRunner().invoke(build_app(), ["simulate", "--workers", "2", "--steps", "1", "--out", str(tmp_path / "r")])
    assert result.exit_code != 0
    assert "--workers: only used with --executor processes" in result.output


@pytest.mark.parametrize(("first", "then"), [("local", "processes"), ("processes", "local")])
def test_a_run_continued_on_the_other_kind_of_executor_says_what_starts_over(
        tmp_path: Path, first: str, then: str) -> None:
    from value_spectrum.runner.local import plan_of

    base = dict(personas=PERSONAS[:2], steps=6, sessions=2, record_latency=False, seed=3)
    whole = RunConfig(**base, out=tmp_path / "whole")  # type: ignore[arg-type]
    asyncio.run(run_batch(whole))
    cfg = RunConfig(**base, out=tmp_path / "r", executor=first, workers=2 if first == "processes" else None)  # type: ignore[arg-type]
    observer = _StopAfter(5)
    runner = Runner(plan_of(cfg), services=Services(cfg), observer=observer)
    observer.runner = runner
    stopped = asyncio.run(runner.run())
    assert stopped.stopped == "budget"
    unfinished = 4 - stopped.sessions_finished
    assert unfinished >= 1
    again = cfg.model_copy(update={"executor": then, "workers": 2 if then == "processes" else None})
    second = asyncio.run(run_batch(again))
    assert not second.failed
    assert second.sessions_resumed == 0  # the other executor's checkpoints are not read ...
    said = [w for w in second.warnings if "start over from turn 0" in w]
    assert len(said) == 1, second.warnings  # ... and the run says so, with how many and where
    assert said[0].startswith(f"{unfinished} unfinished session(s) have checkpoints in ")
    assert f"which --executor {then} does not read" in said[0]
    assert _records(tmp_path / "r") == _records(tmp_path / "whole")  # the same records all the same
    third = asyncio.run(run_batch(again))  # nothing left to say once they are done
    assert not [w for w in third.warnings if "start over" in w]


def test_a_format_degraded_in_the_workers_is_in_the_manifest(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from value_spectrum.agents.testing.server import TestServer

    with TestServer(text_only=True) as server:  # HTTP 500 on json_schema, as llama.cpp
        cfg = RunConfig(personas=PERSONAS[:2], models=("openai/smol",), api_base=server.base_url, steps=2,
                        modality="caption", cache=False, out=tmp_path / "r", executor="processes", workers=2,
                        gateway={"num_retries": 0})
        summary = asyncio.run(run_batch(cfg))
    assert not summary.failed
    assert summary.decisions == 4
    manifest = RunLog(tmp_path / "r").read_manifest()
    assert manifest.response_formats == {"openai/smol": "json_object"}  # learned in the workers, kept by the driver
    said = [r for r in caplog.records if "rejected response_format json_schema" in r.getMessage()]
    assert len(said) == 1  # both workers learned it; the driver shows it once, as its own record
    assert said[0].name == "value_spectrum.agents.gateway"


class _KillAll(_StopAfter):
    """Kills every worker process after ``n`` decisions."""

    def on_step(self, step: Step) -> None:
        self.seen += 1
        if self.seen == self.n:
            for p in multiprocessing.active_children():
                if p.name.startswith("value-spectrum-worker-") and p.pid is not None:
                    os.kill(p.pid, signal.SIGKILL)


def test_losing_every_worker_is_one_error_and_the_next_run_finishes(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from value_spectrum.agents.testing.server import TestServer
    from value_spectrum.runner.local import plan_of

    with TestServer(reply=lambda body: '{"action": "like", "reason": "ok"}', latency_ms=40) as server:
        cfg = RunConfig(personas=PERSONAS, models=("openai/test-vlm",), api_base=server.base_url, steps=4,
                        sessions=2, modality="title", cache=False, record_latency=False, out=tmp_path / "r",
                        executor="processes", workers=2, concurrency=2)
        runner = Runner(plan_of(cfg), services=Services(cfg), observer=_KillAll(3))
        first = asyncio.run(runner.run())
        assert first.failed  # never a clean exit
        # the sessions in flight fail with the reason (at most --concurrency); the rest are not handed out
        assert 1 <= len(first.sessions_failed) <= 2
        assert all(f.endswith(": every worker process was lost") for f in first.sessions_failed)
        errors = [r for r in caplog.records if "every worker process was lost" in r.getMessage()]
        assert len(errors) == 1  # one line, not one per session ...
        assert errors[0].exc_info is None  # ... and no traceback
        assert first.sessions_finished < 6  # the rest were not run: they wait for the next run
        second = asyncio.run(run_batch(cfg))
    assert not second.failed
    assert second.sessions_finished == 6
    for body in _records(tmp_path / "r").values():
        assert [s.turn for s in Trajectory.model_validate_json(body).steps] == [0, 1, 2, 3]


def stuck_at_start(spec: SessionSpec) -> Viewer:
    """A viewer factory whose workers never finish starting (a local model loading for ever)."""
    from value_spectrum.agents.reference import ReferenceViewer

    if multiprocessing.parent_process() is not None and spec.session_id == "":  # SessionWorker.ready()
        time.sleep(600)
    return ReferenceViewer({})


@pytest.mark.timeout(120)  # the failure this guards against is a hang of 600 s
def test_a_stop_while_the_workers_start_ends_the_run(tmp_path: Path) -> None:
    from value_spectrum.runner.local import plan_of

    cfg = RunConfig(personas=PERSONAS[:1], steps=2, out=tmp_path / "r", executor="processes", workers=2)
    runner = Runner(plan_of(cfg), services=Services(cfg, viewer_factory=stuck_at_start))

    async def main() -> RunSummary:
        started = asyncio.get_running_loop().create_future()

        def up() -> None:  # a worker is running (and stuck in its start-up)
            if any(p.name.startswith("value-spectrum-worker-") for p in multiprocessing.active_children()):
                started.set_result(None)
            else:
                asyncio.get_running_loop().call_later(0.05, up)

        up()
        run = asyncio.ensure_future(runner.run())
        await started
        runner.request_stop("interrupt")  # what the first Ctrl-C does
        return await run

    summary = asyncio.run(main())
    assert summary.stopped == "interrupt"
    assert summary.sessions_finished == 0
    assert not summary.failed
    assert not multiprocessing.active_children()  # the stuck workers were ended


def test_a_failed_spawn_leaves_no_worker_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from multiprocessing.context import SpawnProcess

    from value_spectrum.runner.local import plan_of

    real, calls = SpawnProcess.start, []

    def start(self: SpawnProcess) -> None:
        calls.append(self.name)
        if len(calls) == 2:
            raise OSError(24, "Too many open files")
        real(self)

    monkeypatch.setattr(SpawnProcess, "start", start)
    cfg = RunConfig(personas=PERSONAS[:2], steps=1, out=tmp_path / "r", executor="processes", workers=2)
    with pytest.raises(OSError, match="Too many open files"):
        asyncio.run(Runner(plan_of(cfg), services=Services(cfg)).run())
    assert len(calls) == 2
    assert not multiprocessing.active_children()  # the first worker was ended, not left running
    assert not [t for t in threading.enumerate() if t.name.endswith("-reader")]


def test_a_log_record_inside_a_send_does_not_hang_the_worker(capsys: pytest.CaptureFixture[str]) -> None:
    """A finaliser that logs (aiohttp's "Unclosed client session"), run by the garbage collector
    while the worker's thread is inside its pipe's send, must not wait for the lock it holds."""
    import gc
    import logging

    from value_spectrum.runner import process_worker

    seen: list[object] = []

    class Conn:
        def send(self, message: object) -> None:
            seen.append(message)
            gc.collect()  # an automatic collection, as an allocation in send() may start

        def recv(self) -> object:
            raise EOFError

    class Leaky:
        def __init__(self) -> None:
            self.me = self

        def __del__(self) -> None:
            logging.getLogger("asyncio").error("Unclosed client session")

    send = process_worker._sender(Conn())  # type: ignore[arg-type]
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    root.handlers[:] = [process_worker._PipeLog(send, logging.WARNING)]
    gc.disable()
    try:
        Leaky()
        done = threading.Event()

        def worker() -> None:
            logging.getLogger("value_spectrum.x").warning("a warning")
            done.set()

        threading.Thread(target=worker, daemon=True).start()
        assert done.wait(60), "the worker's thread hangs on its own send lock"
    finally:
        gc.enable()
        root.handlers[:] = handlers
        root.setLevel(level)
    assert [m[3] for m in seen if isinstance(m, tuple)] == ["a warning"]  # the record sent ...
    assert "Unclosed client session" in capsys.readouterr().err  # ... the nested one on stderr, not lost
