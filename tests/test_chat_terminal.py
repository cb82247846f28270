"""The terminal chat, driven as a user would: the real command in a pseudo-terminal, talking to
the package's OpenAI-compatible test server over HTTP through litellm."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pexpect = pytest.importorskip("pexpect")

from value_spectrum.agents.testing.server import ServerReply, TestServer, default_reply  # noqa: E402

TIMEOUT = 90


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
        time.sleep(20)
        return "too late"
    return "Hello! I love Sunday dinners with my whole family."


@pytest.fixture
def server() -> Any:
    with TestServer(reply=persona_reply) as srv:
        yield srv


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
        timeout=TIMEOUT, dimensions=(50, 120),
    )


@pytest.mark.slow
def test_conversation_tool_call_feed_values_save_and_resume(server: Any, tmp_path: Path) -> None:
    db = tmp_path / "threads.sqlite"
    common = ["--persona", "family_oriented", "--model", "openai/test-persona",
              "--api-base", server.base_url, "--db", str(db), "--thread", "sunday",
              "--embedder", "fake"]
    child = _spawn(common, tmp_path)
    child.expect("you> ")
    child.sendline("hi there")
    child.expect("Sunday dinners")
    child.expect("you> ")
    child.sendline("show me some videos")
    child.expect("search: family dinner together")
    child.expect("lovely family videos")
    child.expect("you> ")
    child.sendline("/feed 3")
    child.expect("#3 ")
    child.expect("you> ")
    child.sendline("/values")
    child.expect("after 3 feed reactions")
    child.expect("you> ")
    out = tmp_path / "transcript.json"
    child.sendline(f"/save {out}")
    child.expect("saved")
    child.expect("you> ")
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
    again.expect("earlier in this thread")
    again.expect("Sunday dinners")
    again.expect("feed #3")
    again.expect("you> ")
    again.sendeof()
    again.expect(pexpect.EOF)
    again.close()
    assert again.exitstatus == 0


@pytest.mark.slow
def test_ctrl_c_cancels_the_reply_not_the_program(server: Any, tmp_path: Path) -> None:
    child = _spawn(["--persona", "family_oriented", "--model", "openai/test-persona",
                    "--api-base", server.base_url, "--db", str(tmp_path / "t.sqlite"),
                    "--no-search"], tmp_path)
    child.expect("you> ")
    child.sendline("be slow please")
    time.sleep(2.0)
    child.sendintr()
    child.expect("cancelled")
    child.expect("you> ")
    child.sendline("hello again")
    child.expect("Sunday dinners")
    child.expect("you> ")
    child.sendline("/quit")
    child.expect(pexpect.EOF)


def test_missing_credentials_is_one_line_and_feed_still_works(tmp_path: Path) -> None:
    child = _spawn(["--persona", "adventurous_spirit", "--model", "openai/gpt-4o",
                    "--db", str(tmp_path / "t.sqlite")], tmp_path)
    child.expect("no credentials for openai/gpt-4o")
    child.expect("you> ")
    child.sendline("/feed 2")
    child.expect("#2 ")
    child.expect("you> ")
    child.sendline("/probe")  # the reference viewer answers the questionnaire: a stated profile
    child.expect(r"stated \(centred\)")
    child.expect(r"universalism[^\n]*[+-]\d\.\d\d")
    child.expect("you> ")
    child.sendline("hello?")
    child.expect("does not talk")
    child.expect("you> ")
    child.sendline("/nonsense")
    child.expect("unknown command")
    child.sendline("/quit")
    child.expect(pexpect.EOF)
    assert "Traceback" not in (child.before or "")


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
    from value_spectrum.cli.chat_cmd import _credentials_problem

    monkeypatch.delenv("OLLAMA_API_BASE", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert _credentials_problem("ollama/llava", None) is None  # litellm's default localhost:11434
    assert "OPENAI_API_KEY" in (_credentials_problem("openai/gpt-4o", None) or "")
    assert _credentials_problem("openai/gpt-4o", "http://127.0.0.1:8000/v1") is None
