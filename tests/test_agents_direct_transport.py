"""The direct path's transport: the SDK's aiohttp client, closed with the event loop that opened
it however the caller's code ends, and a reply body read as plain JSON into the same response."""

from __future__ import annotations

import asyncio
import gc
import logging
import warnings

import pytest

from value_spectrum.agents.chat import ChatRequest
from value_spectrum.agents.direct import to_response
from value_spectrum.agents.gateway import Gateway
from value_spectrum.agents.testing import TestServer

HI = ChatRequest(messages=({"role": "user", "content": "hi"},))


def test_the_aiohttp_session_is_closed_when_the_loop_ends(caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("aiohttp")
    sessions = []
    with TestServer() as server:
        gw = Gateway("openai/local-x", api_base=server.base_url, cache=False)

        async def two_calls() -> None:
            await gw.complete(HI)
            await gw.complete(HI)
            transport = gw.direct_client.client()._client._transport
            sessions.append(transport.client)  # the aiohttp ClientSession behind the SDK

        caplog.set_level(logging.ERROR, logger="asyncio")
        with warnings.catch_warnings():
            warnings.simplefilter("error", ResourceWarning)
            asyncio.run(two_calls())  # no aclose(): the loop's end closes it
            asyncio.run(two_calls())  # a second loop gets its own client
            gc.collect()
    assert len(server.requests) == 4
    assert len(sessions) == 2
    assert sessions[0] is not sessions[1]
    assert all(s.closed for s in sessions)
    assert not [r for r in caplog.records if "Unclosed" in r.getMessage()]


def test_aclose_closes_the_session_at_once() -> None:
    pytest.importorskip("aiohttp")
    with TestServer() as server:
        gw = Gateway("openai/local-x", api_base=server.base_url, cache=False)

        async def call_then_close() -> bool:
            await gw.complete(HI)
            session = gw.direct_client.client()._client._transport.client
            await gw.aclose()
            return bool(session.closed)

        assert asyncio.run(call_then_close())


def test_a_reply_body_becomes_the_same_response_fields() -> None:
    body = {
        "model": "served-name",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "search_videos", "arguments": "{}"}},
                           {"type": "function", "function": {"name": "x"}}],
        }}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
    }
    r = to_response(body, "openai/asked")
    assert (r.text, r.finish_reason, r.model) == ("", "tool_calls", "served-name")
    assert [(c.id, c.name, c.arguments) for c in r.tool_calls] == [("c1", "search_videos", "{}"), ("call_1", "x", "")]
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (12, 3)


def test_a_body_without_choices_or_usage_is_an_empty_reply_not_a_crash() -> None:
    r = to_response({"id": "x"}, "openai/asked")
    assert (r.text, r.tool_calls, r.model) == ("", (), "openai/asked")
    assert r.usage.prompt_tokens == 0
