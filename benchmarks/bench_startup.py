"""Start-up cost of the command line, as CPU seconds of the child process, against
``python -c "import typer"`` (and ``import sentence_transformers`` for a warm search).

* ``--help``: ``value-spectrum --help``;
* ``personas list``;
* ``chat`` to its first prompt: the child's CPU when ``you> `` appears (read from
  ``/proc/PID/stat``), model ``openai/NAME`` against the test server, a new thread;
* warm ``search``: ``value-spectrum search QUERY`` on the demo corpus after one untimed run has
  built the index, with ``--embedder auto`` (the default: OpenCLIP if its weights are here, else
  the text embedder) and with ``--embedder text``.

CPU, not wall time, so the figures hold on a loaded machine; each is the median of ``--repeat``
runs. Ratios are to the ``typer`` baseline measured in the same run.

    python benchmarks/bench_startup.py [--repeat 5] [--skip search,chat]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

CLI = [sys.executable, "-m", "value_spectrum"]


def _child_cpu(cmd: list[str], env: dict[str, str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime


def _chat_to_prompt(env: dict[str, str], base_url: str, tmp: str) -> float:
    import pexpect

    child = pexpect.spawn(CLI[0], [*CLI[1:], "chat", "--model", "openai/bench", "--api-base", base_url,
                                   "--db", str(Path(tmp) / f"t{os.getpid()}.sqlite"), "--no-search"],
                          env=env, encoding="utf-8", timeout=None)
    child.expect("you> ")
    cpu = _proc_cpu(child.pid)
    child.sendline("/quit")
    child.expect(pexpect.EOF)
    return cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--skip", default="")
    args = ap.parse_args()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    tmp = tempfile.mkdtemp()
    env = {**os.environ, "VALUE_SPECTRUM_CACHE": str(Path(tmp) / "cache"), "COLUMNS": "100", "NO_COLOR": "1"}

    def median(fn: object, *a: object) -> float:
        return statistics.median(fn(*a) for _ in range(args.repeat))  # type: ignore[operator]

    rows: list[tuple[str, float, str]] = []
    typer_cpu = median(_child_cpu, [sys.executable, "-c", "import typer"], env)
    rows.append(("python -c 'import typer'", typer_cpu, "typer"))
    rows.append(("value-spectrum --help", median(_child_cpu, [*CLI, "--help"], env), "typer"))
    rows.append(("value-spectrum personas list", median(_child_cpu, [*CLI, "personas", "list"], env), "typer"))
    if "chat" not in skip:
        from value_spectrum.agents.testing.server import TestServer

        with TestServer() as server:
            rows.append(("chat to first prompt", median(_chat_to_prompt, env, server.base_url, tmp), "typer"))
    st_cpu = None
    if "search" not in skip:
        st_cpu = median(_child_cpu, [sys.executable, "-c", "import sentence_transformers"], env)
        rows.append(("python -c 'import sentence_transformers'", st_cpu, "st"))
        for kind in ("auto", "text"):
            search = [*CLI, "search", "family dinner", "--embedder", kind]
            _child_cpu(search, env)  # builds the demo index once
            rows.append((f"warm search (--embedder {kind})", median(_child_cpu, search, env), "st"))
    load = os.getloadavg()[0]
    print(f"CPU seconds of the child, median of {args.repeat}; load average {load:.2f}, {os.cpu_count()} CPUs")
    print(f"| {'command':<42} | {'CPU s':>6} | {'ratio':>18} |")
    print(f"|{'-' * 44}|{'-' * 7}:|{'-' * 19}:|")
    for name, cpu, base in rows:
        ref = typer_cpu if base == "typer" else st_cpu
        label = "x import typer" if base == "typer" else "x import s-t"
        print(f"| {name:<42} | {cpu:6.2f} | {cpu / ref:6.2f} {label:<11} |" if ref else f"| {name:<42} | {cpu:6.2f} | - |")


if __name__ == "__main__":
    main()
