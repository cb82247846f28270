"""A real two-node Ray cluster on loopback (``ray start --head`` + ``ray start --address``):
``simulate --executor ray --ray-address ADDR`` against the OpenAI-compatible test server, one
worker node killed with kill -9 mid-run; the run completes with every decision recorded exactly
once, byte-identical to the same run on the local executor."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from value_spectrum.agents.testing import TestServer

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed (extra 'ray')"),
    pytest.mark.timeout(600),
]

PERSONAS = ("archetype_benevolence", "archetype_power")
SESSIONS, STEPS = 4, 8


@pytest.fixture(scope="module")
def cluster() -> Iterator[object]:
    from _ray_cluster import loopback_cluster

    with loopback_cluster(head_cpus=1, workers=(1,)) as c:
        yield c


def simulate(out: Path, base_url: str, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    args = [sys.executable, "-m", "value_spectrum", "simulate", "--model", "openai/test-vlm",
            "--api-base", base_url, "--modality", "caption", "--sessions", str(SESSIONS),
            "--steps", str(STEPS), "--concurrency", "4", "--no-latency", "--no-cache", "--json",
            "--out", str(out)]
    for p in PERSONAS:
        args += ["--personas", p]
    return subprocess.Popen([*args, *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)


def records(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "sessions").glob("*.json"))}


def test_killed_worker_node_loses_and_doubles_nothing(cluster, tmp_path: Path) -> None:
    from _ray_cluster import LoopbackCluster, ray_env

    assert isinstance(cluster, LoopbackCluster)
    with TestServer(latency_ms=250) as server:
        local = simulate(tmp_path / "local", server.base_url)
        assert local.wait(timeout=300) == 0, local.communicate()
        expected = records(tmp_path / "local")
        assert len(expected) == len(PERSONAS) * SESSIONS
        server.reset()

        run = simulate(tmp_path / "ray", server.base_url, "--executor", "ray", "--ray-address",
                       cluster.address, env=ray_env())
        worker = cluster.nodes[1]
        deadline = time.monotonic() + 240
        # kill the worker node once both actors are deciding (a few turns in, nothing finished)
        while len(server.requests) < 8:
            assert run.poll() is None, run.communicate()
            assert time.monotonic() < deadline, "the Ray run never started deciding"
            time.sleep(0.05)
        LoopbackCluster.kill_node(worker)
        out, err = run.communicate(timeout=300)
    assert run.returncode == 0, err[-3000:]
    summary = json.loads(out)
    assert summary["sessions_failed"] == []
    assert summary["sessions_finished"] == len(PERSONAS) * SESSIONS
    assert "was lost" in err  # the killed node did hold sessions
    got = records(tmp_path / "ray")
    for body in got.values():
        turns = [s["turn"] for s in json.loads(body)["steps"]]
        assert turns == list(range(STEPS))  # every decision once, none doubled
    assert got == expected
    assert summary["decisions_this_run"] == len(PERSONAS) * SESSIONS * STEPS
