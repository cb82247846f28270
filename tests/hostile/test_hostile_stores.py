"""Issue 12 items 4 and 7: broken stores and store permissions.

The response cache is optional: a damaged one is moved aside with one warning naming it and the
run goes on; one that cannot be used at all is switched off with one warning. Every store (the
response cache, chat threads, a saved transcript) and its folder is owner-only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
from pathlib import Path

import pytest
from _hostile import cli, others_can_read

from value_spectrum._private import private_dir, private_file
from value_spectrum.agents.cache import ResponseCache
from value_spectrum.agents.chat import ChatRequest, ChatResponse
from value_spectrum.agents.fake import ScriptedModel
from value_spectrum.agents.testing import TestServer
from value_spectrum.graphs.chat_session import ChatSession
from value_spectrum.personas import get_persona

REQ = ChatRequest(messages=({"role": "user", "content": "hi"},))
LIKE = '{"action": "like", "reason": "nice"}'


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_garbage_cache_is_moved_aside_with_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "responses"
    folder.mkdir()
    (folder / "responses.sqlite").write_bytes(b"not a database " * 500)
    with caplog.at_level(logging.WARNING):
        cache = ResponseCache(folder)
        cache.put("m", None, REQ, ChatResponse(text="Yes."))
        hit = cache.get("m", None, REQ)
    assert hit is not None
    assert hit.text == "Yes."
    (warning,) = _warnings(caplog)
    assert str(folder / "responses.sqlite") in warning
    assert "\n" not in warning
    (aside,) = folder.glob("responses.sqlite.damaged-*")
    assert aside.read_bytes().startswith(b"not a database")  # kept, not deleted


def test_unusable_cache_is_switched_off_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "responses"
    (folder / "responses.sqlite").mkdir(parents=True)  # cannot be a database file at all
    with caplog.at_level(logging.WARNING):
        cache = ResponseCache(folder)
        for _ in range(3):
            cache.put("m", None, REQ, ChatResponse(text="Yes."))
            assert cache.get("m", None, REQ) is None
    assert not cache.enabled
    (warning,) = _warnings(caplog)
    assert "responses.sqlite" in warning
    assert "--no-cache" in warning


def test_cache_damaged_while_open_warns_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cache = ResponseCache(tmp_path)
    cache.put("m", None, REQ, ChatResponse(text="Yes."))
    cache.close()  # this thread's connection (the next lookup opens a new one)
    for suffix in ("-wal", "-shm"):
        Path(f"{cache.path}{suffix}").unlink(missing_ok=True)
    cache.path.write_bytes(b"\0garbage" * 4096)
    with caplog.at_level(logging.WARNING):
        for _ in range(5):
            assert cache.get("m", None, REQ) is None
    assert len(_warnings(caplog)) == 1


def test_simulate_with_a_corrupt_cache_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cache_root = tmp_path / "cache"
    monkeypatch.setenv("VALUE_SPECTRUM_CACHE", str(cache_root))
    (cache_root / "responses").mkdir(parents=True)
    bad = cache_root / "responses" / "responses.sqlite"
    bad.write_bytes(b"garbage" * 1000)
    out = tmp_path / "run"
    with TestServer(reply=lambda body: LIKE) as server, caplog.at_level(logging.WARNING):
        result = cli("simulate", "--steps", "2", "--personas", "family_oriented", "--model", "openai/test-vlm",
                     "--api-base", server.base_url, "--out", str(out), "--json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["outcomes"]["like"] == 2
    about_cache = [w for w in _warnings(caplog) if "response cache" in w]
    assert len(about_cache) == 1, about_cache
    assert str(bad) in about_cache[0]
    assert list((cache_root / "responses").glob("responses.sqlite.damaged-*"))
    # the new cache and its folders are owner-only
    for path in (cache_root, cache_root / "responses", *(cache_root / "responses").glob("responses.sqlite*")):
        assert not others_can_read(path), (path, oct(path.stat().st_mode))


def test_private_helpers_tighten_existing_files(tmp_path: Path) -> None:
    db = tmp_path / "x.sqlite"
    for p in (db, tmp_path / "x.sqlite-wal", tmp_path / "x.sqlite-shm"):
        p.write_bytes(b"")
        os.chmod(p, 0o644)
    private_file(db)
    for p in tmp_path.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    folder = private_dir(tmp_path / "a" / "b")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o700


def test_chat_threads_and_transcripts_are_owner_only(tmp_path: Path) -> None:
    db = tmp_path / "chat" / "threads.sqlite"
    saved = tmp_path / "saved" / "t.json"

    async def scenario() -> None:
        async with ChatSession(get_persona("family_oriented"), ScriptedModel(["Hello.", "Again."]),
                               db_path=db, thread="t") as chat:
            _ = [e async for e in chat.send("hi")]
            _ = [e async for e in chat.send("more")]
            for p in db.parent.iterdir():  # -wal and -shm exist while the thread is open
                assert not others_can_read(p), (p, oct(p.stat().st_mode))
            await chat.save(saved)

    asyncio.run(scenario())
    assert not others_can_read(db.parent)
    for p in db.parent.iterdir():
        assert not others_can_read(p), (p, oct(p.stat().st_mode))
    assert not others_can_read(saved)
    assert "Hello." in saved.read_text()
