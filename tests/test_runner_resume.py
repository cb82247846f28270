"""A batch killed with kill -9 (or stopped with Ctrl-C) in a subprocess, then re-run, equals an
uninterrupted batch: same sessions, same decisions, nothing lost or doubled."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _sim_fakes import reference_factory, services, tiny_corpus
from value_spectrum.runner.config import RunConfig
from value_spectrum.runner.local import run_batch

TESTS = Path(__file__).resolve().parent

SCRIPT = """
import asyncio, json, sys
sys.path.insert(0, {tests!r})
from _sim_fakes import reference_factory, services, tiny_corpus
from value_spectrum.runner.config import RunConfig
from value_spectrum.runner.local import run_batch
out, delay = sys.argv[1], float(sys.argv[2])
config = RunConfig(out=out, steps=20, sessions=4, seed=5, concurrency=3, record_latency=False)
s = asyncio.run(run_batch(config, services=services(config, reference_factory(tiny_corpus(), delay)),
                          handle_signals=True))
print(json.dumps(s.to_dict()))
sys.exit(130 if s.stopped == "interrupt" else 0)
"""


def config(out: Path) -> RunConfig:
    return RunConfig(out=out, steps=20, sessions=4, seed=5, concurrency=3, record_latency=False)


def run_here(out: Path):
    c = config(out)
    return asyncio.run(run_batch(c, services=services(c, reference_factory(tiny_corpus()))))


def start(tmp_path: Path, out: Path, delay: float) -> subprocess.Popen[str]:
    script = tmp_path / "batch.py"
    script.write_text(SCRIPT.format(tests=str(TESTS)))
    return subprocess.Popen([sys.executable, str(script), str(out), str(delay)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_sessions(out: Path, n: int, proc: subprocess.Popen[str], timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = list((out / "sessions").glob("*.json")) if (out / "sessions").is_dir() else []
        if len(files) >= n:
            return len(files)
        assert proc.poll() is None, f"batch ended before the kill: {proc.communicate()}"
        time.sleep(0.01)
    raise AssertionError("no session finished in time")


def wait_for_inflight_checkpoint(out: Path, proc: subprocess.Popen[str], timeout: float = 60.0) -> str:
    """The id of a session that has committed checkpoints (a few turns in, far from its end) and
    no record yet: killing now leaves a session that must resume from its checkpoint. Waits on
    what is on disk, never on the clock, so a loaded machine only makes it slower."""
    db = out / "checkpoints.sqlite"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"batch ended before the kill: {proc.communicate()}"
        if db.exists():
            try:
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.1) as conn:
                    rows = conn.execute(
                        "SELECT thread_id, COUNT(*) FROM checkpoints GROUP BY thread_id"
                    ).fetchall()
            except sqlite3.OperationalError:  # tables not created yet, or busy
                rows = []
            for thread_id, n in rows:
                if 2 <= n <= 8 and not (out / "sessions" / f"{thread_id}.json").exists():
                    return str(thread_id)
        time.sleep(0.005)
    raise AssertionError("no session was caught mid-way with a committed checkpoint")


def records(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "sessions").glob("*.json"))}


def test_kill_9_mid_batch_then_rerun_equals_uninterrupted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clean = tmp_path / "clean"
    run_here(clean)
    reference = records(clean)
    assert len(reference) == 8

    out = tmp_path / "killed"
    proc = start(tmp_path, out, delay=0.02)
    done_at_kill = wait_for_sessions(out, 2, proc)
    wait_for_inflight_checkpoint(out, proc)  # a session a few turns in, with no record yet
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    survivors = records(out)
    assert 2 <= len(survivors) < 8
    assert done_at_kill <= len(survivors)
    assert all(reference[k] == v for k, v in survivors.items())  # no half-written record

    with caplog.at_level(logging.WARNING, logger="value_spectrum.graphs.driver"):
        s = run_here(out)
    assert "starts again from turn 0" not in caplog.text  # every stored turn is kept
    assert s.sessions_skipped == len(survivors)
    assert s.sessions_run == 8 - len(survivors)
    assert s.sessions_resumed >= 1  # in-flight sessions continued from their checkpoints
    assert records(out) == reference
    assert s.decisions == 8 * 20
    assert not list((out / "sessions").glob(".*.tmp"))


def test_sigint_stops_cleanly_with_exit_130_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "int"
    proc = start(tmp_path, out, delay=0.02)
    wait_for_sessions(out, 1, proc)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["stopped"] == "interrupt"
    assert summary["sessions_finished"] + summary["sessions_pending"] == 8
    assert summary["sessions_pending"] >= 1
    kept = records(out)
    assert len(kept) == summary["sessions_finished"]

    clean = tmp_path / "clean"
    run_here(clean)
    s = run_here(out)
    assert s.stopped is None
    assert s.sessions_finished == 8
    assert records(out) == records(clean)
