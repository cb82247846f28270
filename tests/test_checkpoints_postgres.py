"""Checkpoints in PostgreSQL (``--checkpoints postgresql://...``): a batch killed with kill -9 on
one machine continues on another from the shared checkpointer, byte-identical to a batch that was
never interrupted; and the store URL's errors are one clear line."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _sim_fakes import reference_factory, services, tiny_corpus
from value_spectrum.graphs.checkpoint_store import CheckpointStoreError, describe_store, sqlite_path
from value_spectrum.runlog import RunDirError
from value_spectrum.runner._checkpoints import open_checkpoints
from value_spectrum.runner.config import RunConfig
from value_spectrum.runner.local import run_batch

TESTS = Path(__file__).resolve().parent

SCRIPT = """
import asyncio, sys
sys.path.insert(0, {tests!r})
from _sim_fakes import reference_factory, services, tiny_corpus
from value_spectrum.runner.config import RunConfig
from value_spectrum.runner.local import run_batch
out, url, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])
seed = int(sys.argv[4]) if len(sys.argv) > 4 else 11
config = RunConfig(out=out, steps=12, sessions=3, seed=seed, concurrency=3, record_latency=False,
                   checkpoints=url)
asyncio.run(run_batch(config, services=services(config, reference_factory(tiny_corpus(), delay))))
"""


def config(out: Path, checkpoints: str | None = None, seed: int = 11) -> RunConfig:
    return RunConfig(out=out, steps=12, sessions=3, seed=seed, concurrency=3, record_latency=False,
                     checkpoints=checkpoints)


def run_here(out: Path, checkpoints: str | None = None, seed: int = 11):
    c = config(out, checkpoints, seed)
    return asyncio.run(run_batch(c, services=services(c, reference_factory(tiny_corpus()))))


def sessions(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "sessions").glob("*.json"))}


def checkpointed_threads(url: str) -> set[str]:
    import psycopg

    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute("SELECT DISTINCT thread_id FROM checkpoints")}


def test_killed_on_one_machine_resumes_on_another_from_postgres(
    tmp_path: Path, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    run_here(tmp_path / "clean")
    expected = sessions(tmp_path / "clean")
    assert len(expected) == 6

    first = tmp_path / "machine1" / "run"
    script = tmp_path / "batch.py"
    script.write_text(SCRIPT.format(tests=str(TESTS)))
    proc = subprocess.Popen([sys.executable, str(script), str(first), postgres_url, "0.05"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        # kill once some turns are checkpointed in PostgreSQL and no session has finished
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"batch ended before the kill: {proc.communicate()}"
            with_turns = checkpointed_threads(postgres_url) if _has_tables(postgres_url) else set()
            if len(with_turns) >= 3:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("no checkpoint reached PostgreSQL in time")
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    done_before = sessions(first)
    assert len(done_before) < 6, "the kill came too late to interrupt anything"
    assert not (first / "checkpoints.sqlite").exists()  # nothing on machine 1's disk to resume from
    unfinished = checkpointed_threads(postgres_url)
    assert unfinished, "no session left to resume"

    # "machine 2": a copy of the run directory (shared storage), the same PostgreSQL database
    second = tmp_path / "machine2" / "run"
    second.parent.mkdir()
    shutil.copytree(first, second)
    shutil.rmtree(first)
    with caplog.at_level(logging.WARNING, logger="value_spectrum.graphs.driver"):
        summary = run_here(second, postgres_url)
    assert "starts again from turn 0" not in caplog.text  # every stored turn is kept
    assert summary.sessions_resumed >= 1
    assert summary.sessions_failed == []
    assert sessions(second) == expected
    # the threads of sessions finished in the rerun are deleted; a session killed after its record
    # was written but before its thread was deleted keeps a stale thread (harmless: its record
    # is final and the thread is never read again)
    stale = checkpointed_threads(postgres_url)
    assert {f"{t.split('/', 1)[1]}.json" for t in stale} <= set(done_before)


def _namespace(run: Path) -> str:
    return str(json.loads((run / "manifest.json").read_text())["thread_ns"])


def _kill_mid_run(script: Path, out: Path, url: str, seed: int) -> set[str]:
    """Start the batch into ``out``, kill it (-9) once its three sessions have turns checkpointed
    in ``url`` and none has finished; its threads left in the store."""
    proc = subprocess.Popen([sys.executable, str(script), str(out), url, "0.05", str(seed)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"batch ended before the kill: {proc.communicate()}"
            if (out / "manifest.json").is_file() and _has_tables(url):
                ns = _namespace(out)
                if len({t for t in checkpointed_threads(url) if t.startswith(ns + "/")}) >= 3:
                    break
            time.sleep(0.05)
        else:
            raise AssertionError("no checkpoint reached PostgreSQL in time")
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(sessions(out)) < 6, "the kill came too late to interrupt anything"
    ns = _namespace(out)
    return {t for t in checkpointed_threads(url) if t.startswith(ns + "/")}


@pytest.mark.parametrize("seed_b", [11, 12], ids=["same-plan", "same-sessions-other-seed"])
def test_two_runs_sharing_one_postgres_store_resume_only_their_own_sessions(
    tmp_path: Path, postgres_url: str, seed_b: int
) -> None:
    """Two runs (another --out; the same plan, or the same session ids under another seed) keep
    their checkpoints in one database; both are killed mid-way, then both resumed: each continues
    only its own threads and ends byte-identical to an uninterrupted run of its plan."""
    run_here(tmp_path / "clean-a", seed=11)
    run_here(tmp_path / "clean-b", seed=seed_b)
    expected_a, expected_b = sessions(tmp_path / "clean-a"), sessions(tmp_path / "clean-b")
    assert len(expected_a) == len(expected_b) == 6
    assert set(expected_a) == set(expected_b)  # the same session ids: the threads' old names
    script = tmp_path / "batch.py"
    script.write_text(SCRIPT.format(tests=str(TESTS)))
    a, b = tmp_path / "a", tmp_path / "b"
    left_a = _kill_mid_run(script, a, postgres_url, 11)
    left_b = _kill_mid_run(script, b, postgres_url, seed_b)
    assert _namespace(a) != _namespace(b)
    assert left_a
    assert left_b
    assert left_a <= checkpointed_threads(postgres_url)  # b's start neither took nor dropped a's threads
    summary_b = run_here(b, postgres_url, seed=seed_b)
    assert left_a <= checkpointed_threads(postgres_url)
    summary_a = run_here(a, postgres_url, seed=11)
    for summary, left in ((summary_a, left_a), (summary_b, left_b)):
        assert summary.sessions_failed == []
        assert summary.sessions_resumed >= 1
        assert summary.sessions_resumed <= len(left)
    assert sessions(a) == expected_a
    assert sessions(b) == expected_b
    if seed_b != 11:
        assert expected_a != expected_b  # the other seed's sessions differ: no mix went unseen


def _has_tables(url: str) -> bool:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute("SELECT to_regclass('checkpoints')").fetchone()[0] is not None


def test_postgres_and_sqlite_runs_are_identical(tmp_path: Path, postgres_url: str) -> None:
    run_here(tmp_path / "sqlite")
    run_here(tmp_path / "pg", postgres_url)
    assert sessions(tmp_path / "pg") == sessions(tmp_path / "sqlite")
    assert not (tmp_path / "pg" / "checkpoints.sqlite").exists()


def test_unreachable_server_is_one_line_without_the_password(tmp_path: Path) -> None:
    from _postgres import free_port

    url = f"postgresql://vs:hunter2@127.0.0.1:{free_port()}/runs?connect_timeout=2"

    async def go() -> None:
        async with open_checkpoints(tmp_path / "x.sqlite", url):
            pass

    with pytest.raises(RunDirError) as err:
        asyncio.run(go())
    text = str(err.value)
    assert text.startswith("--checkpoints: cannot connect to PostgreSQL vs@127.0.0.1:")
    assert "hunter2" not in text
    assert "\n" not in text


def test_store_urls(tmp_path: Path) -> None:
    assert sqlite_path("sqlite:////tmp/a.sqlite") == Path("/tmp/a.sqlite")
    assert sqlite_path("sqlite:///rel/a.sqlite") == Path("rel/a.sqlite")
    assert sqlite_path(tmp_path / "b.sqlite") == tmp_path / "b.sqlite"
    assert describe_store("postgres://u:pw@h/db") == "PostgreSQL u@h/db"
    with pytest.raises(CheckpointStoreError, match=r"unknown store 'redis://'.*postgresql://"):
        sqlite_path("redis://u:pw@host/0")
    with pytest.raises(RunDirError, match="does not exist"):
        asyncio.run(_open(str(tmp_path / "missing" / "c.sqlite")))


async def _open(url: str) -> None:
    async with open_checkpoints(Path("unused.sqlite"), url):
        pass
