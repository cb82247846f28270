"""LangGraph tooling: ``langgraph.json`` names graphs that load and run with a default context,
in process and through ``langgraph dev`` (langgraph-cli's in-memory server) on loopback."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from value_spectrum.studio import StudioChat, StudioSession, chat_graph, session_graph

ROOT = Path(__file__).resolve().parents[1]


def test_langgraph_json_names_the_entry_points() -> None:
    config = json.loads((ROOT / "langgraph.json").read_text())
    assert config["graphs"] == {
        "feed_session": "value_spectrum.studio:session_graph",
        "persona_chat": "value_spectrum.studio:chat_graph",
    }
    for spec in config["graphs"].values():
        module, name = spec.split(":")
        assert callable(getattr(importlib.import_module(module), name))


def test_session_graph_runs_with_the_default_context() -> None:
    state = asyncio.run(session_graph().ainvoke({}, context=StudioSession(steps=3)))
    assert state["turn"] == 3
    assert state["status"] == "finished"
    assert [s["turn"] for s in state["steps"]] == [0, 1, 2]
    assert {s["outcome"] for s in state["steps"]} <= {"like", "skip"}


def test_chat_graph_answers_without_a_model() -> None:
    state = asyncio.run(
        chat_graph().ainvoke(
            {"messages": [{"role": "user", "content": "hi"}]}, context=StudioChat()
        )
    )
    assert [m["role"] for m in state["messages"]] == ["user", "assistant"]
    assert "model" in state["messages"][-1]["content"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _call(base: str, path: str, body: dict[str, Any] | None = None) -> Any:
    req = urllib.request.Request(
        base + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        method="GET" if body is None else "POST",
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


@pytest.fixture
def dev_server(tmp_path: Path) -> Iterator[str]:
    exe = shutil.which("langgraph")
    if exe is None or importlib.util.find_spec("langgraph_api") is None:
        pytest.skip('langgraph-cli[inmem] is not installed (pip install "langgraph-cli[inmem]")')
    port = _free_port()
    env = {
        **os.environ,
        "LANGSMITH_TRACING": "false",
        "LANGCHAIN_TRACING_V2": "false",
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "PYTHONPATH": str(ROOT / "src"),
    }
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [exe, "dev", "--config", str(ROOT / "langgraph.json"), "--no-browser", "--no-reload",
         "--allow-blocking", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if _call(base, "/ok").get("ok"):
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("langgraph dev did not start:\n" + (tmp_path / "server.log").read_text()[-3000:])
            time.sleep(0.5)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.mark.slow
def test_langgraph_dev_serves_and_runs_both_graphs(dev_server: str) -> None:
    graphs = {a["graph_id"] for a in _call(dev_server, "/assistants/search", {})}
    assert graphs == {"feed_session", "persona_chat"}
    thread = _call(dev_server, "/threads", {})["thread_id"]
    out = _call(
        dev_server,
        f"/threads/{thread}/runs/wait",
        {"assistant_id": "feed_session", "input": {}, "context": {"steps": 4}},
    )
    assert [s["turn"] for s in out["steps"]] == [0, 1, 2, 3]
    state = _call(dev_server, f"/threads/{thread}/state")["values"]
    assert state["turn"] == 4
    assert state["status"] == "finished"
    assert len(state["steps"]) == 4
    chat = _call(dev_server, "/threads", {})["thread_id"]
    reply = _call(
        dev_server,
        f"/threads/{chat}/runs/wait",
        {"assistant_id": "persona_chat",
         "input": {"messages": [{"role": "user", "content": "hello"}]}},
    )  # fmt: skip
    assert reply["messages"][-1]["role"] == "assistant"
