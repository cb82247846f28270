"""Honest exits and reruns, against the shipped OpenAI-compatible test server: failing model calls
exit 1 with the reason, the same command after recovery finishes those sessions from their last
good turn and exits 0; an unknown model is refused before anything is written; a second process
on a run directory in use is refused in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from value_spectrum.agents.testing import TestServer, fast_retries
from value_spectrum.cli.app import build_app
from value_spectrum.records import Trajectory
from value_spectrum.runlog import RunLog

LIKE = '{"decision": "like", "reason": "nice", "trait_number": 1}'
SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.fixture(autouse=True)
def _fast_backoff() -> Iterator[None]:
    with fast_retries():
        yield


def _simulate(server: TestServer, out: Path, *extra: str) -> Any:
    args = ["simulate", "--personas", "family_oriented", "--model", "openai/test-vlm", "--api-base",
            server.base_url, "--retries", "0", "--response-format", "text", "--modality", "caption",
            "--out", str(out), "--json", *extra]
    return CliRunner().invoke(build_app(), args)


def test_all_calls_failing_exits_1_and_the_rerun_finishes_from_the_last_good_turn(tmp_path: Path) -> None:
    calls = 0

    with TestServer(reply=lambda body: LIKE) as server:

        def reply(body: dict[str, Any]) -> str:
            nonlocal calls
            calls += 1
            if calls == 2:  # after the second good answer the server goes down for 5 requests
                server.inject("500", times=5)
            return LIKE

        server.set_reply(reply)
        res = _simulate(server, tmp_path / "r", "--steps", "8")
        assert res.exit_code == 1, res.output
        summary = json.loads(res.stdout)
        assert summary["failed"] is True
        assert summary["sessions_error"] == 1
        assert summary["error_decisions"] == 5
        assert "500" in summary["first_error"] or "error" in summary["first_error"].lower()
        (path,) = RunLog(tmp_path / "r").session_files()
        before = Trajectory.model_validate_json(path.read_text())
        assert before.status == "error"
        assert [s.outcome.value for s in before.steps] == ["like", "like"] + ["error"] * 5

        server.reset()  # the server is back
        res = _simulate(server, tmp_path / "r", "--steps", "8")
        assert res.exit_code == 0, res.output
        summary = json.loads(res.stdout)
        assert summary["failed"] is False
        assert summary["sessions_retried"] == 1
        assert len(server.requests) == 6  # turns 2..7 asked; the two good turns never redone
        after = Trajectory.model_validate_json(path.read_text())
        assert after.status == "finished"
        assert [s.outcome.value for s in after.steps] == ["like"] * 8
        assert after.steps[:2] == before.steps[:2]


def test_an_unknown_model_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    res = CliRunner().invoke(build_app(), ["simulate", "--personas", "family_oriented", "--model",
                                           "gpt-nonexistent-9", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2
    assert res.stderr.strip().splitlines() == [res.stderr.strip()]  # one line
    assert "unknown model or provider 'gpt-nonexistent-9'" in res.stderr
    assert not (tmp_path / "r").exists()


def test_more_steps_than_the_corpus_has_videos_is_refused(tmp_path: Path) -> None:
    res = CliRunner().invoke(build_app(), ["simulate", "--personas", "family_oriented", "--steps", "100000",
                                           "--out", str(tmp_path / "r")])
    assert res.exit_code == 2
    assert "--steps: 100000 is more than the" in res.stderr
    assert not (tmp_path / "r").exists()


def _cli(server: TestServer, out: Path) -> list[str]:
    return [sys.executable, "-m", "value_spectrum", "simulate", "--personas", "family_oriented", "--model",
            "openai/test-vlm", "--api-base", server.base_url, "--modality", "caption", "--steps", "12",
            "--out", str(out), "--json", "--quiet"]


def test_a_second_process_on_a_run_directory_in_use_is_refused_in_one_line(tmp_path: Path) -> None:
    out = tmp_path / "x"
    env = {**os.environ, "PYTHONPATH": SRC}
    released = threading.Event()

    def held_reply(body: dict[str, Any]) -> str:
        released.wait(timeout=300)  # the first run's model calls wait until the second was refused
        return LIKE

    with TestServer(reply=held_reply) as server:
        first = subprocess.Popen(_cli(server, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=env)
        try:
            lock = out / ".lock"
            deadline = time.monotonic() + 120
            while not (lock.is_file() and lock.read_text().strip() == str(first.pid)):
                assert first.poll() is None, first.communicate()
                assert time.monotonic() < deadline, "the first process never took the lock"
                time.sleep(0.02)
            second = subprocess.run(_cli(server, out), capture_output=True, text=True, env=env, timeout=120,
                                    check=False)
            assert first.poll() is None  # still running: its model calls are held
            released.set()
            assert second.returncode == 2
            assert second.stderr.strip() == (
                f"error: {out}: in use by process {first.pid}; wait for it to finish or pass another --out")
            stdout, stderr = first.communicate(timeout=300)
        finally:
            released.set()
            if first.poll() is None:
                first.kill()
        assert first.returncode == 0, stderr
        assert json.loads(stdout)["decisions"] == 12
        decisions = [b for b in server.requests if '"rating"' not in json.dumps(b)]
        assert len(decisions) == 12  # nothing asked twice
