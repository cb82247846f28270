"""A real Ray cluster on loopback for tests: ``ray start --head`` plus worker nodes started with
``ray start --address``, each ``--block`` in a process group of its own so that one node can be
killed (kill -9 of its whole group: raylet, workers, agents) while the others keep running.

Token authentication is off (``RAY_AUTH_MODE=disabled``; loopback only) and node health checks
are fast, so a killed node is noticed within seconds. Each cluster has its own ``--temp-dir``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

RAY_ENV = {
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
    "RAY_DEDUP_LOGS": "0",
}
"""Environment of every node and of the drivers that connect to them."""


def ray_env() -> dict[str, str]:
    """``os.environ`` plus :data:`RAY_ENV`."""
    return {**os.environ, **RAY_ENV}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ray_cli() -> list[str]:
    exe = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray")
    if exe is None:
        raise RuntimeError("the ray command is not installed (pip install 'value-spectrum[ray]')")
    return [exe]


@dataclass
class LoopbackCluster:
    """A running cluster: its address and its node processes (head first)."""

    address: str
    temp_dir: Path
    nodes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def alive_nodes(self) -> int:
        """Nodes the cluster counts as alive (asked from a fresh driver process)."""
        code = (f"import ray; ray.init(address={self.address!r}, log_to_driver=False); "
                "print(sum(1 for n in ray.nodes() if n['Alive']))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ray_env(),
                             timeout=120)
        return int(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 and out.stdout.strip() else 0

    def add_node(self, num_cpus: int) -> subprocess.Popen[bytes]:
        """Start a worker node and return its process (the leader of its group)."""
        proc = subprocess.Popen(
            [*_ray_cli(), "start", f"--address={self.address}", "--node-ip-address=127.0.0.1",
             f"--num-cpus={num_cpus}", "--block", "--disable-usage-stats"],
            env=ray_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        self.nodes.append(proc)
        return proc

    def wait_for_nodes(self, n: int, timeout: float = 180.0) -> None:
        """Wait until ``n`` nodes are alive."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.alive_nodes() >= n:
                return
            time.sleep(1.0)
        raise RuntimeError(f"the loopback Ray cluster did not reach {n} nodes in {timeout:.0f}s")

    @staticmethod
    def kill_node(proc: subprocess.Popen[bytes]) -> None:
        """kill -9 a node's whole process group."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def stop(self) -> None:
        """Kill every node, then any process left that still names this cluster's temp dir."""
        for proc in reversed(self.nodes):
            self.kill_node(proc)
        found = subprocess.run(["pgrep", "-f", str(self.temp_dir)], capture_output=True, text=True)
        for pid in found.stdout.split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


@contextlib.contextmanager
def loopback_cluster(head_cpus: int = 1, workers: tuple[int, ...] = (1,)) -> Iterator[LoopbackCluster]:
    """A head node with ``head_cpus`` CPUs and one worker node per entry of ``workers``."""
    temp = Path(tempfile.mkdtemp(prefix="vsray-", dir="/tmp"))  # short: unix socket paths
    port = _free_port()
    cluster = LoopbackCluster(address=f"127.0.0.1:{port}", temp_dir=temp)
    try:
        head = subprocess.Popen(
            [*_ray_cli(), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
             f"--num-cpus={head_cpus}", "--include-dashboard=false", "--disable-usage-stats",
             f"--temp-dir={temp}", "--block"],
            env=ray_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        cluster.nodes.append(head)
        cluster.wait_for_nodes(1)
        for cpus in workers:
            cluster.add_node(cpus)
        cluster.wait_for_nodes(1 + len(workers))
        yield cluster
    finally:
        cluster.stop()
