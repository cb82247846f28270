"""A missing provider key is one clear line at once, not minutes of retried 'server errors'."""

from __future__ import annotations

import asyncio

import pytest

from value_spectrum.agents.chat import ChatRequest, ModelError
from value_spectrum.agents.gateway import Gateway, credentials_problem


def test_missing_key_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    line = credentials_problem("openai/gpt-4o")
    assert line is not None
    assert "OPENAI_API_KEY" in line
    assert "--api-base" in line


def test_local_servers_and_ollama_need_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert credentials_problem("openai/any", "http://127.0.0.1:8000/v1") is None
    assert credentials_problem("ollama/llava") is None


def test_key_present_is_fine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert credentials_problem("openai/gpt-4o") is None


def test_gateway_fails_fast_without_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    gw = Gateway("openai/gpt-4o", cache=False)
    request = ChatRequest(messages=({"role": "user", "content": "hi"},))
    with pytest.raises(ModelError, match="no credentials for openai/gpt-4o"):
        asyncio.run(gw.complete(request))
    assert gw._direct is None, "no client was built, no request was retried"
    assert gw._litellm is None


def test_simulate_refuses_a_model_without_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    from pathlib import Path

    from typer.testing import CliRunner

    from value_spectrum.cli.app import build_app

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    out = Path(str(tmp_path)) / "run"
    result = CliRunner().invoke(build_app(), ["simulate", "-p", "family_oriented", "--model", "openai/gpt-4o",
                                              "--steps", "2", "--out", str(out)])
    assert result.exit_code == 2
    assert "no credentials for openai/gpt-4o" in result.output
    assert not out.exists(), "nothing written before the check"
