"""The terminal chat, driven as a user would: the real command in a pseudo-terminal, talking to
the package's OpenAI-compatible test server over HTTP.

Nothing here depends on how fast the machine is: every wait is for an event (a line on the
terminal, a request arriving at the in-process server, the child's exit) with no deadline of
its own, and a child that dies ends the wait at once (EOF, with its output). Only a hang is
caught, by pytest-timeout's guard on the whole test."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

pexpect = pytest.importorskip("pexpect")

from value_spectrum.agents.testing.server import ServerReply, TestServer, default_reply  # noqa: E402

HANG_GUARD_S = 900
"""pytest-timeout's guard against a hang (not a speed assumption: every wait is for an event)."""

RELEASE = threading.Event()
"""Set to let the scripted 'slow' reply finish."""


def _last_user(body: dict[str, Any]) -> str:
    for m in reversed(body.get("messages", [])):
        if m.get("role") == "user":
            c = m.get("content")
            return c if isinstance(c, str) else " ".join(str(p.get("text", "")) for p in c or [])
        if m.get("role") == "tool":
            return "<tool result>"
    return ""


def persona_reply(body: dict[str, Any]) -> str | ServerReply:
    """A scripted persona: greets, searches when asked for videos, stalls on 'slow'."""
    if not body.get("stream"):
        return default_reply(body)  # feed decisions and questionnaire ratings
    last = _last_user(body)
    if last == "<tool result>":
        return "I found some lovely family videos for us."
    if "show me" in last:
        return ServerReply(tool_calls=(("search_videos", {"query": "family dinner together"}),))
    if "slow" in last:
        RELEASE.wait()
        return "too late"
    return "Hello! I love Sunday dinners with my whole family."


@pytest.fixture
def server() -> Any:
    RELEASE.clear()
    with TestServer(reply=persona_reply) as srv:
        yield srv
        RELEASE.set()


def _spawn(args: list[str], tmp_path: Path, extra_env: dict[str, str] | None = None) -> Any:
    env = {
        **{k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")},
        "VALUE_SPECTRUM_CACHE": str(tmp_path / "cache"),
        "HF_HUB_OFFLINE": "1",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "COLUMNS": "120",
        "TERM": "dumb",
        "NO_COLOR": "1",
        **(extra_env or {}),
    }
    return pexpect.spawn(
        sys.executable, ["-m", "value_spectrum", "chat", *args], env=env, encoding="utf-8",
        timeout=None, dimensions=(50, 120),
    )


def _expect(child: Any, pattern: str) -> None:
    """Wait for ``pattern``; the child's exit instead fails at once with what it printed."""
    if child.expect([pattern, pexpect.EOF]) == 1:
        pytest.fail(f"chat exited before {pattern!r}; it printed:\n{child.before}")


def _wait_for_request(server: Any, child: Any, text: str) -> None:
    """Until the server has received a request whose last user message contains ``text`` (a
    child that exits first fails the test at once)."""
    while not any(text in _last_user(b) for b in server.requests):
        if not child.isalive():
            pytest.fail(f"chat exited before sending {text!r}")
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.timeout(HANG_GUARD_S)
def test_conversation_tool_call_feed_values_save_and_resume(server: Any, tmp_path: Path) -> None:
    db = tmp_path / "threads.sqlite"
    common = ["--persona", "family_oriented", "--model", "openai/test-persona",
              "--api-base", server.base_url, "--db", str(db), "--thread", "sunday",
              "--embedder", "fake"]
    child = _spawn(common, tmp_path)
    _expect(child, "you> ")
    child.sendline("hi there")
    _expect(child, "Sunday dinners")
    _expect(child, "you> ")
    child.sendline("show me some videos")
    _expect(child, "search: family dinner together")
    _expect(child, "lovely family videos")
    _expect(child, "you> ")
    child.sendline("/feed 3")
    _expect(child, "#3 ")
    _expect(child, "you> ")
    child.sendline("/values")
    _expect(child, "after 3 feed reactions")
    _expect(child, "you> ")
    out = tmp_path / "transcript.json"
    child.sendline(f"/save {out}")
    _expect(child, "saved")
    _expect(child, "you> ")
    child.sendline("/quit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0

    saved = json.loads(out.read_text())
    assert len(saved["decisions"]) == 3
    assert {d["outcome"] for d in saved["decisions"]} <= {"like", "skip", "unparseable", "refused", "error"}
    assert any(m.get("tool_calls") for m in saved["messages"])
    assert saved["messages"][0] == {"role": "user", "content": "hi there"}
    # the feed's decisions went to the server with the keyframes
    assert any(n > 0 for n in server.images_received())

    again = _spawn(common, tmp_path)
    _expect(again, "earlier in this thread")
    _expect(again, "Sunday dinners")
    _expect(again, "feed #3")
    _expect(again, "you> ")
    again.sendeof()
    again.expect(pexpect.EOF)
    again.close()
    assert again.exitstatus == 0


@pytest.mark.slow
@pytest.mark.timeout(HANG_GUARD_S)
def test_ctrl_c_cancels_the_reply_not_the_program(server: Any, tmp_path: Path) -> None:
    child = _spawn(["--persona", "family_oriented", "--model", "openai/test-persona",
                    "--api-base", server.base_url, "--db", str(tmp_path / "t.sqlite"),
                    "--no-search"], tmp_path)
    _expect(child, "you> ")
    child.sendline("be slow please")
    _wait_for_request(server, child, "be slow please")  # the reply is in flight (however long start-up took)
    child.sendintr()
    _expect(child, "cancelled")
    _expect(child, "you> ")
    child.sendline("hello again")
    _expect(child, "Sunday dinners")
    _expect(child, "you> ")
    child.sendline("/quit")
    child.expect(pexpect.EOF)
    saved = [b for b in server.requests if "hello again" in _last_user(b)]
    assert saved
    assert saved[-1]["max_tokens"] == 512  # chat replies are capped


@pytest.mark.timeout(HANG_GUARD_S)
def test_missing_credentials_is_one_line_and_feed_still_works(tmp_path: Path) -> None:
    child = _spawn(["--persona", "adventurous_spirit", "--model", "openai/gpt-4o",
                    "--db", str(tmp_path / "t.sqlite")], tmp_path)
    _expect(child, "no credentials for openai/gpt-4o")
    _expect(child, "you> ")
    child.sendline("/feed 2")
    _expect(child, "#2 ")
    _expect(child, "you> ")
    child.sendline("/probe")  # the reference viewer answers the questionnaire: a stated profile
    _expect(child, r"stated \(centred\)")
    _expect(child, r"universalism[^\n]*[+-]\d\.\d\d")
    _expect(child, "you> ")
    child.sendline("hello?")
    _expect(child, "does not talk")
    _expect(child, "you> ")
    child.sendline("/nonsense")
    _expect(child, "unknown command")
    child.sendline("/quit")
    child.expect(pexpect.EOF)
    assert "Traceback" not in (child.before or "")


@pytest.mark.timeout(HANG_GUARD_S)
def test_a_bad_thread_database_is_one_line(tmp_path: Path) -> None:
    not_a_db = tmp_path / "notes.txt"
    not_a_db.write_text("not a database, just notes\n" * 100, encoding="utf-8")
    child = _spawn(["--db", str(not_a_db)], tmp_path)
    child.expect(pexpect.EOF)
    child.close()
    text = child.before or ""
    assert "cannot open the thread database" in text
    assert "Traceback" not in text
    assert child.exitstatus == 2


def test_ollama_needs_no_key_and_openai_does(monkeypatch: pytest.MonkeyPatch) -> None:
    from value_spectrum.cli._chat_front import credentials_problem as _credentials_problem

    monkeypatch.delenv("OLLAMA_API_BASE", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert _credentials_problem("ollama/llava", None) is None  # litellm's default localhost:11434
    assert "OPENAI_API_KEY" in (_credentials_problem("openai/gpt-4o", None) or "")
    assert _credentials_problem("openai/gpt-4o", "http://127.0.0.1:8000/v1") is None
