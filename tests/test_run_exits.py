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

LIKE = '{"decision": "like", "reason": "nice", "trait_number": 1}'
SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.fixture(autouse=True)
def _fast_backoff() -> Iterator[None]:
    with fast_retries():
        yield


def _simulate(server: TestServer, out: Path, *extra: str) -> Any:
    args = ["simulate", "--personas", "family_oriented", "--model", "openai/test-vlm", "--api-base",
            server.base_url, "--retries", "0", "--modality", "caption", "--out", str(out), "--json", *extra]
    return CliRunner().invoke(build_app(), args)


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
