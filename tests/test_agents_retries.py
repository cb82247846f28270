"""Issue 12 item 5: requests re-sent are counted in ``Usage.retries``, exactly, on both
transports (the direct openai client and litellm's Router), and through a run into the summary,
the manifest and the report. The shipped test server fails N times; the count must be N, and the
requests it received must be the calls plus the retries."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from value_spectrum.agents import LLMViewer
from value_spectrum.agents.chat import ChatRequest, ModelError
from value_spectrum.agents.gateway import Gateway
from value_spectrum.agents.testing import Fault, TestServer, fast_retries
from value_spectrum.personas import get_persona
from value_spectrum.records import Observation, Outcome, Usage

PERSONA = get_persona("family_oriented")

LIKE = '{"decision": "like", "reason": "kind people", "trait_number": 1}'
HI = ChatRequest(messages=({"role": "user", "content": "hi"},))
SCHEMA = {"type": "json_schema", "json_schema": {"name": "d", "schema": {"type": "object"}}}


@pytest.fixture(autouse=True)
def _fast_backoff() -> Iterator[None]:
    with fast_retries():
        yield


@pytest.fixture
def server() -> Iterator[TestServer]:
    with TestServer(lambda body: LIKE, hang_s=2.0) as s:
        yield s


def _gateway(server: TestServer, *, direct: bool, model: str = "openai/test", **kw: Any) -> Gateway:
    opts: dict[str, Any] = {"api_base": server.base_url, "cache": False, "direct": direct, "num_retries": 3, "timeout_s": 0.5}
    opts.update(kw)
    return Gateway(model, **opts)


async def _complete(gw: Gateway, request: ChatRequest = HI) -> Any:
    try:
        return await gw.complete(request)
    finally:
        await gw.aclose()


TRANSPORTS = pytest.mark.parametrize("direct", [True, False], ids=["openai", "router"])


@TRANSPORTS
@pytest.mark.parametrize(("fault", "times"), [("500", 0), ("500", 2), ("503", 3), ("429", 3), ("malformed", 1), ("timeout", 1)])
def test_retries_are_the_failures_the_server_injected(server: TestServer, direct: bool, fault: Fault, times: int) -> None:
    server.inject(fault, times)
    response = asyncio.run(_complete(_gateway(server, direct=direct)))
    assert response.text == LIKE
    assert response.usage.retries == times
    assert len(server.requests) == 1 + times


def test_direct_429_rounds_beyond_the_clients_own_retries_are_counted(server: TestServer) -> None:
    server.inject("429", 5)  # the client retries once per round; our rounds ask again
    response = asyncio.run(_complete(_gateway(server, direct=True, num_retries=1, rate_limit_retries=10)))
    assert response.usage.retries == 5
    assert len(server.requests) == 6


@TRANSPORTS
def test_a_call_that_fails_carries_its_retries(server: TestServer, direct: bool) -> None:
    server.fail_model("test")
    with pytest.raises(ModelError) as info:
        asyncio.run(_complete(_gateway(server, direct=direct, num_retries=2)))
    assert info.value.retries == 2
    assert len(server.requests) == 3


def test_direct_429s_past_every_round_carry_every_request(server: TestServer) -> None:
    server.inject("429", 50)
    with pytest.raises(ModelError) as info:
        asyncio.run(_complete(_gateway(server, direct=True, num_retries=1, rate_limit_retries=3)))
    assert info.value.retries == len(server.requests) - 1 == 3  # two rounds of two attempts


def test_direct_fallback_counts_the_failed_models_requests(server: TestServer) -> None:
    server.fail_model("bad")
    gw = Gateway("openai/bad", api_base=server.base_url, cache=False, num_retries=2, fallbacks=["openai/test"])
    response = asyncio.run(_complete(gw))
    assert [r["model"] for r in server.requests] == ["bad", "bad", "bad", "test"]
    assert response.usage.retries == 3


def test_router_fallback_counts_what_litellm_reports(server: TestServer) -> None:
    # litellm reports the fallback hop and the answering deployment's retries, not the failed
    # model's own retries before the hop (documented in gateway._router_retries)
    server.fail_model("bad")
    gw = Gateway("openai/bad", api_base=server.base_url, cache=False, num_retries=2, fallbacks=["openai/test"], direct=False)
    response = asyncio.run(_complete(gw))
    assert len(server.requests) == 4
    assert response.usage.retries == 1


@TRANSPORTS
def test_response_format_walk_down_counts_the_rejected_request(direct: bool) -> None:
    with TestServer(lambda body: LIKE, reject_formats=("json_schema",)) as server:
        # a model name of its own: a Router registers its deployment in litellm's map
        gw = _gateway(server, direct=direct, num_retries=0, model=f"openai/walk-{direct}")
        response = asyncio.run(_complete(gw, ChatRequest(messages=HI.messages, response_format=SCHEMA)))
        assert [r.get("response_format", {}).get("type") for r in server.requests] == ["json_schema", "json_object"]
    assert response.usage.retries == 1


@TRANSPORTS
def test_streamed_reply_counts_retries(server: TestServer, direct: bool) -> None:
    server.inject("500", 2)
    gw = _gateway(server, direct=direct)

    async def run() -> list[Any]:
        try:
            return [x async for x in gw.stream(ChatRequest(messages=HI.messages, purpose="chat"))]
        finally:
            await gw.aclose()

    items = asyncio.run(run())
    usage = items[-1]
    assert isinstance(usage, Usage)
    assert usage.retries == 2
    assert len(server.requests) == 3


def test_cache_hit_has_no_retries(server: TestServer, tmp_path: Path) -> None:
    server.inject("500", 2)
    gw = _gateway(server, direct=True, cache=True, cache_dir=tmp_path / "cache")
    request = ChatRequest(messages=HI.messages, temperature=0.0)
    first = asyncio.run(_complete(gw, request))
    again = asyncio.run(_complete(gw, request))
    assert first.usage.retries == 2
    assert again.usage.cached
    assert again.usage.retries == 0
    assert len(server.requests) == 3


@TRANSPORTS
def test_viewer_sums_retries_over_its_calls_and_counts_a_failed_call(server: TestServer, tmp_path: Path, direct: bool) -> None:
    obs = Observation(turn=0, video_id="v1", title="Sunday dinner", modality="title")
    name = f"viewer-{direct}"  # its own: an earlier Router registered openai/test in litellm's map
    viewer = LLMViewer(f"openai/{name}", api_base=server.base_url, cache=False, num_retries=3, timeout_s=5.0, direct=direct,
                       strategy="simple")
    server.set_reply(lambda body: "I think I like it" if "could not be read" not in json.dumps(body) else LIKE)
    server.inject("500", 1)  # the decision's first call
    reply = asyncio.run(viewer.decide(PERSONA, obs))
    assert reply.outcome == Outcome.LIKE
    assert reply.repaired
    assert reply.usage.repairs == 1
    assert reply.usage.retries == 1
    assert len(server.requests) == 2 + 1  # two calls, one retry
    server.reset()
    server.fail_model(name)
    failed = asyncio.run(viewer.decide(PERSONA, obs))
    assert failed.outcome == Outcome.ERROR
    # three client retries, then the json_object and text trials a 500 on a structured request earns
    assert failed.usage.retries == 5 == len(server.requests) - 1
