"""The shared response cache in PostgreSQL (``--cache-store postgresql://...``), against a real
server on loopback (the ``postgres_url`` fixture; skipped with the reason where none starts):
entries keyed as in the SQLite file, hits shared by two runs and by the Ray actors of a run, a
server that cannot be reached switches the cache off with one warning and the run goes on."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import json
import logging
import threading
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from value_spectrum.agents.cache import ResponseCache, cached_keys, request_key
from value_spectrum.agents.cache_sqlite import SqliteStore
from value_spectrum.agents.chat import ChatRequest, ChatResponse
from value_spectrum.agents.testing import TestServer
from value_spectrum.agents.testing.server import default_reply
from value_spectrum.cli.app import build_app
from value_spectrum.records import Usage
from value_spectrum.runlog import RunLog
from value_spectrum.runner.config import GatewayConfig, RunConfig
from value_spectrum.runner.local import run_batch

pytest.importorskip("psycopg_pool", reason="the postgres extra is not installed")

HAS_RAY = importlib.util.find_spec("ray") is not None
PERSONAS = ("archetype_benevolence", "archetype_power")
REQ = ChatRequest(messages=({"role": "user", "content": "hi"},))
REPLY = ChatResponse(text="Yes.", usage=Usage(prompt_tokens=3, completion_tokens=1, cost_usd=0.01), model="m")


class Counting:
    """The test server's default decisions, counting the requests that reach it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0

    def __call__(self, body: dict[str, Any]) -> str:
        with self.lock:
            self.requests += 1
        return default_reply(body)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def _config(server: TestServer, store: str, out: Path, **extra: Any) -> RunConfig:
    return RunConfig(models=("openai/test-vlm",), api_base=server.base_url, modality="caption", personas=PERSONAS,
                     sessions=2, steps=3, concurrency=4, record_latency=False, out=out,
                     gateway=GatewayConfig(cache_store=store), **extra)


def test_entries_are_shared_by_every_cache_on_the_database(postgres_url: str) -> None:
    one, two = ResponseCache(postgres_url), ResponseCache(postgres_url)  # two processes, two machines
    try:
        assert one.enabled
        assert one.where.startswith("PostgreSQL postgres@127.0.0.1:")
        assert one.path is None
        assert one.get("m", None, REQ) is None
        one.put("m", None, REQ, REPLY)
        hit = two.get("m", None, REQ)
        assert hit is not None
        assert (hit.text, hit.model, hit.usage.cached, hit.usage.cost_usd) == ("Yes.", "m", True, 0.0)
        assert hit.usage.prompt_tokens == 3
        one.put("m", None, REQ, dataclasses.replace(REPLY, text="No."))  # replaced, not doubled
        assert len(two) == 1
        assert two.get("m", None, REQ).text == "No."  # type: ignore[union-attr]

        async def from_a_loop() -> ChatResponse | None:
            other = ChatRequest(messages=({"role": "user", "content": "again"},))
            await one.aput("m", "http://x/v1", other, REPLY)
            return await two.aget("m", "http://x/v1", other)

        assert asyncio.run(from_a_loop()) is not None
        assert len(one) == 2
    finally:
        one.close()
        two.close()


def test_the_key_is_the_sqlite_cache_key(postgres_url: str, tmp_path: Path) -> None:
    """The same request is stored under the same key in either store."""
    key = request_key("m", None, REQ)
    pg = ResponseCache(postgres_url)
    local = ResponseCache(tmp_path)
    try:
        pg.put("m", None, REQ, REPLY)
        local.put("m", None, REQ, REPLY)
        assert cached_keys(postgres_url, {key, "0" * 64}) == {key}
        assert cached_keys(tmp_path, {key, "0" * 64}) == {key}
        assert isinstance(local.store, SqliteStore)
    finally:
        pg.close()
        local.close()


def test_the_dry_run_lookup_creates_nothing(postgres_url: str) -> None:
    import psycopg

    assert cached_keys(postgres_url, {"a" * 64}) == set()
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute("SELECT to_regclass('value_spectrum_responses')").fetchone()
    assert row == (None,)


def test_an_unreachable_server_is_one_warning_and_no_cache(caplog: pytest.LogCaptureFixture) -> None:
    from _postgres import free_port

    url = f"postgresql://vs:secret-pw@127.0.0.1:{free_port()}/runs"
    with caplog.at_level(logging.WARNING):
        cache = ResponseCache(url)
        for _ in range(3):
            cache.put("m", None, REQ, REPLY)
            assert cache.get("m", None, REQ) is None
    assert not cache.enabled
    (warning,) = _warnings(caplog)
    assert "response cache PostgreSQL vs@127.0.0.1:" in warning
    assert "continuing without a cache" in warning
    assert "secret-pw" not in warning
    assert "\n" not in warning
    assert cached_keys(url, {"a" * 64}) is None  # the dry run says it could not look


def test_a_table_gone_mid_run_switches_the_cache_off_once(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    import psycopg

    cache = ResponseCache(postgres_url)
    cache.put("m", None, REQ, REPLY)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("DROP TABLE value_spectrum_responses")
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            assert cache.get("m", None, REQ) is None
            cache.put("m", None, REQ, REPLY)
    assert not cache.enabled
    assert len(_warnings(caplog)) == 1


def test_a_second_run_is_answered_from_the_shared_cache(postgres_url: str, tmp_path: Path) -> None:
    counting = Counting()
    with TestServer(reply=counting) as server:
        first = asyncio.run(run_batch(_config(server, postgres_url, tmp_path / "first")))
        asked = counting.requests
        second = asyncio.run(run_batch(_config(server, postgres_url, tmp_path / "second")))
    assert first.decisions == second.decisions == 12
    assert asked >= 12
    assert counting.requests == asked  # not one request more: every reply came from PostgreSQL
    same = {p.name: p.read_text() for p in RunLog(tmp_path / "first").session_files()}
    again = {p.name: p.read_text() for p in RunLog(tmp_path / "second").session_files()}
    assert same.keys() == again.keys()
    for name, text in again.items():
        steps = json.loads(text)["steps"]
        assert all(s["usage"]["cached"] for s in steps)
        assert [s["decision"] for s in steps] == [s["decision"] for s in json.loads(same[name])["steps"]]
    manifest = json.loads((tmp_path / "second" / "manifest.json").read_text())
    assert manifest["config"]["gateway"]["cache_store"] == postgres_url


def test_a_password_in_the_store_url_is_not_written_to_the_manifest(tmp_path: Path) -> None:
    from value_spectrum.runner.plan import Plan

    cfg = RunConfig(gateway=GatewayConfig(cache_store="postgresql://vs:hunter2@db/runs"),
                    checkpoints="postgresql://vs:hunter2@db/ckpt")
    text = json.dumps(Plan(config=cfg).manifest_config())
    assert "hunter2" not in text
    assert "postgresql://vs:***@db/runs" in text


@pytest.mark.skipif(not HAS_RAY, reason="ray is not installed (optional extra 'ray')")
def test_ray_actors_share_the_hits_of_another_run(postgres_url: str, tmp_path: Path) -> None:  # pragma: no cover
    import ray

    counting = Counting()
    with TestServer(reply=counting) as server:
        asyncio.run(run_batch(_config(server, postgres_url, tmp_path / "local")))
        asked = counting.requests
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        try:
            summary = asyncio.run(run_batch(_config(server, postgres_url, tmp_path / "ray", executor="ray",
                                                    ray_actors=2)))
        finally:
            ray.shutdown()
    assert summary.decisions == 12
    assert counting.requests == asked  # both actors answered every request from PostgreSQL


def test_the_cli_refuses_an_unknown_store_and_no_cache(tmp_path: Path) -> None:
    runner = CliRunner()
    app = build_app()
    res = runner.invoke(app, ["simulate", "--model", "openai/x", "--api-base", "http://127.0.0.1:9/v1",
                              "--cache-store", "ftp://host/cache", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2
    assert "--cache-store" in res.stderr
    assert "ftp://" in res.stderr
    res = runner.invoke(app, ["simulate", "--model", "openai/x", "--api-base", "http://127.0.0.1:9/v1",
                              "--cache-store", str(tmp_path / "c"), "--no-cache", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2
    assert "--cache-store: not used with --no-cache" in res.stderr
    assert not (tmp_path / "r").exists()


def test_simulate_with_an_unreachable_cache_server_completes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from _postgres import free_port

    counting = Counting()
    store = f"postgresql://vs@127.0.0.1:{free_port()}/runs"
    with TestServer(reply=counting) as server, caplog.at_level(logging.WARNING):
        res = CliRunner().invoke(build_app(), [
            "simulate", "--steps", "2", "--personas", "family_oriented", "--model", "openai/test-vlm",
            "--api-base", server.base_url, "--modality", "caption", "--cache-store", store,
            "--out", str(tmp_path / "run"), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["decisions"] == 2
    assert counting.requests >= 2
    about_cache = [w for w in _warnings(caplog) if "response cache" in w]
    assert len(about_cache) == 1, about_cache
    assert "PostgreSQL vs@127.0.0.1:" in about_cache[0]
