"""LLMViewer through litellm over HTTP against the local test server: images, faults, repair,
cache, modalities, ratings, tools, streaming, cost."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from value_spectrum.agents import LLMViewer
from value_spectrum.agents.chat import ChatRequest, ToolCall
from value_spectrum.agents.gateway import Gateway
from value_spectrum.agents.testing import ServerReply, TestServer, count_images, fast_retries
from value_spectrum.personas.model import Persona
from value_spectrum.personas.questionnaire import Instrument, Item
from value_spectrum.records import Observation, Outcome, Usage
from value_spectrum.values import ValueProfile

PERSONA = Persona(
    id="carer",
    name="Carer",
    traits=("I look after my family.", "I volunteer at the food bank.", "I cook for my neighbours."),
    target=ValueProfile.from_mapping({"benevolence": 0.95}, default=0.2),
)
LIKE = '{"decision": "like", "reason": "kind people", "trait_number": 2}'


@pytest.fixture(autouse=True)
def _fast_backoff() -> Iterator[None]:
    with fast_retries():
        yield


@pytest.fixture
def server() -> Iterator[TestServer]:
    with TestServer(lambda body: LIKE) as s:
        yield s


@pytest.fixture
def frames(tmp_path: Path) -> tuple[str, ...]:
    paths = []
    for i, colour in enumerate(["red", "blue"]):
        p = tmp_path / f"frame{i}.png"
        Image.new("RGB", (8, 8), colour).save(p)
        paths.append(str(p))
    return tuple(paths)


def _viewer(server: TestServer, tmp_path: Path, **kw: Any) -> LLMViewer:
    opts: dict[str, Any] = {"api_base": server.base_url, "cache_dir": tmp_path / "cache", "timeout_s": 5.0, "num_retries": 3}
    opts.update(kw)
    return LLMViewer("openai/test-vlm", **opts)


def _obs(frames: tuple[str, ...] = (), modality: str = "frames") -> Observation:
    return Observation(
        turn=0, video_id="v1", title="Soup kitchen", caption="Serving 200 meals", hashtags=("volunteer",),
        description="People ladle soup for a queue.", keyframes=frames, modality=modality,  # type: ignore[arg-type]
    )


def _decide(viewer: LLMViewer, obs: Observation, **kw: Any) -> Any:
    return asyncio.run(viewer.decide(PERSONA, obs, **kw))


def test_keyframes_arrive_as_images(server: TestServer, tmp_path: Path, frames: tuple[str, ...]) -> None:
    reply = _decide(_viewer(server, tmp_path, cache=False), _obs(frames))
    assert reply.outcome == Outcome.LIKE
    assert reply.decision.reason == "kind people"
    body = server.requests[0]
    assert count_images(body) == 2
    url = body["messages"][-1]["content"][1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == Path(frames[0]).read_bytes()
    assert body["messages"][0]["role"] == "system"
    assert "food bank" in body["messages"][0]["content"]
    assert body["temperature"] == 0
    assert reply.usage.prompt_tokens > 0
    assert reply.usage.cached is False


def test_caption_and_title_send_no_image(server: TestServer, tmp_path: Path, frames: tuple[str, ...]) -> None:
    viewer = _viewer(server, tmp_path, cache=False, modality="caption")
    assert _decide(viewer, _obs(frames)).outcome == Outcome.LIKE
    body = server.requests[-1]
    assert count_images(body) == 0
    assert "People ladle soup" in json.dumps(body)
    _decide(_viewer(server, tmp_path, cache=False, modality="title"), _obs(frames))
    text = json.dumps(server.requests[-1]["messages"][-1])
    assert "Soup kitchen" in text
    assert "Serving 200 meals" not in text
    assert count_images(server.requests[-1]) == 0


def test_429s_and_500s_are_retried(server: TestServer, tmp_path: Path) -> None:
    server.inject("429", times=2)
    server.inject("500")
    server.inject("malformed")
    reply = _decide(_viewer(server, tmp_path, cache=False), _obs())
    assert reply.outcome == Outcome.LIKE
    assert server.statuses == [429, 429, 500, 200, 200]


def test_timeout_is_retried(tmp_path: Path) -> None:
    with TestServer(lambda body: LIKE, hang_s=2.0) as s:
        s.inject("timeout")
        reply = _decide(_viewer(s, tmp_path, cache=False, timeout_s=0.3), _obs())
        assert reply.outcome == Outcome.LIKE
        assert len(s.requests) == 2


def test_persistent_failure_is_a_recorded_error(server: TestServer, tmp_path: Path) -> None:
    server.inject("500", times=50)
    viewer = _viewer(server, tmp_path, cache=False, num_retries=1)
    reply = _decide(viewer, _obs())
    assert reply.outcome == Outcome.ERROR
    assert reply.decision is None
    assert "InternalServerError" in reply.error
    # first try + one retry, then json_object and plain text once each (a 500 may be llama.cpp
    # rejecting the schema); none answered, so nothing is remembered
    assert len(server.requests) == 4
    assert [r.get("response_format", {}).get("type") for r in server.requests] == ["json_schema", "json_schema", "json_object", None]
    assert viewer.model.format_mode() == "json_schema"  # type: ignore[attr-defined]
    server.reset()
    assert _decide(viewer, _obs()).outcome == Outcome.LIKE  # the next turn is not poisoned


def test_unreadable_reply_is_repaired_once(tmp_path: Path) -> None:
    replies = iter(["Hmm, hard to say.", LIKE])
    with TestServer(lambda body: next(replies)) as s:
        reply = _decide(_viewer(s, tmp_path, cache=False), _obs())
        assert reply.outcome == Outcome.LIKE
        assert len(s.requests) == 2
        last = s.requests[1]["messages"]
        assert last[-2] == {"role": "assistant", "content": "Hmm, hard to say."}
        assert "could not be read" in last[-1]["content"]


def test_empty_then_garbage_is_unparseable_with_raw_kept(server: TestServer, tmp_path: Path) -> None:
    server.inject("empty")
    server.set_reply(lambda body: "¯\\_(ツ)_/¯")
    reply = _decide(_viewer(server, tmp_path, cache=False), _obs())
    assert reply.outcome == Outcome.UNPARSEABLE
    assert reply.raw == "¯\\_(ツ)_/¯"


def test_refusal_is_recorded(server: TestServer, tmp_path: Path) -> None:
    server.set_reply(lambda body: "I'm sorry, but I can't help with that.")
    reply = _decide(_viewer(server, tmp_path, cache=False), _obs())
    assert reply.outcome == Outcome.REFUSED
    assert len(server.requests) == 1


def test_cache_hit_on_identical_request(server: TestServer, tmp_path: Path, frames: tuple[str, ...]) -> None:
    first = _decide(_viewer(server, tmp_path), _obs(frames))
    second = _decide(_viewer(server, tmp_path), _obs(frames))  # a new gateway, same cache dir
    assert len(server.requests) == 1
    assert first.usage.cached is False
    assert second.usage.cached is True
    assert second.decision == first.decision
    # a changed image is a different request
    Image.new("RGB", (8, 8), "green").save(frames[1])
    _decide(_viewer(server, tmp_path), _obs(frames))
    assert len(server.requests) == 2
    # non-deterministic requests are never cached
    _decide(_viewer(server, tmp_path, temperature=0.7), _obs(frames))
    _decide(_viewer(server, tmp_path, temperature=0.7), _obs(frames))
    assert len(server.requests) == 4


def test_rate_parses_a_rating(tmp_path: Path) -> None:
    with TestServer(lambda body: 'I would say {"rating": 5}') as s:
        inst = Instrument(id="t", licence="test", scale_min=1, scale_max=6, anchors={1: "not like me", 6: "very much like me"},
                          items=(Item(id="b1", value="benevolence", text="Helping others matters to me."),))
        answer = asyncio.run(_viewer(s, tmp_path, cache=False).rate(PERSONA, inst, inst.items[0]))
        assert answer.rating == 5
        assert answer.item_id == "b1"
        assert "Helping others" in json.dumps(s.requests[0])


def test_search_tool_round_over_http(tmp_path: Path) -> None:
    def reply(body: dict[str, Any]) -> str | ServerReply:
        if body.get("tools") and not any(m.get("role") == "tool" for m in body["messages"]):
            return ServerReply(tool_calls=(("search_videos", {"query": "volunteering", "k": 2}),))
        return LIKE

    queries: list[str] = []

    def search(query: str, k: int = 5, platform: str | None = None) -> list[dict[str, Any]]:
        queries.append(query)
        return [{"id": "v7", "title": "Food bank"}][:k]

    with TestServer(reply) as s:
        out = _decide(_viewer(s, tmp_path, cache=False), _obs(), search=search)
        assert out.outcome == Outcome.LIKE
        assert out.searches == ("volunteering",) == tuple(queries)
        assert s.requests[1]["messages"][-1]["role"] == "tool"
        assert "Food bank" in s.requests[1]["messages"][-1]["content"]


def test_fallback_model_answers_when_primary_is_down(server: TestServer, tmp_path: Path) -> None:
    server.fail_model("primary")
    viewer = LLMViewer("openai/primary", api_base=server.base_url, cache=False, num_retries=0, fallbacks=["openai/backup"])
    assert _decide(viewer, _obs()).outcome == Outcome.LIKE
    assert [r["model"] for r in server.requests][-1] == "backup"


def test_structured_output_and_cost_for_a_priced_model(server: TestServer, tmp_path: Path) -> None:
    # litellm knows gpt-4o-mini's schema support and price; the request goes to our server
    viewer = LLMViewer("openai/gpt-4o-mini", api_base=server.base_url, cache=False)
    reply = _decide(viewer, _obs())
    assert server.requests[0]["response_format"]["type"] == "json_schema"
    assert reply.usage.cost_usd > 0
    local = _viewer(server, tmp_path, cache=False)  # a local alias litellm does not know
    _decide(local, _obs())
    assert server.requests[-1]["response_format"]["type"] == "json_schema"  # the same attempt
    assert reply.outcome == Outcome.LIKE


def test_key_never_in_describe(monkeypatch: pytest.MonkeyPatch, server: TestServer) -> None:
    monkeypatch.setenv("MY_VLM_KEY", "sk-secretsecretsecret")
    gw = Gateway("openai/test", api_base=server.base_url, api_key_env="MY_VLM_KEY", cache=False)
    assert "secret" not in json.dumps(gw.describe())
    assert "secret" not in json.dumps(LLMViewer(gw).describe())
    with pytest.raises(ValueError, match="NOPE_KEY"):
        Gateway("openai/test", api_key_env="NOPE_KEY")


def test_stream_yields_deltas_then_usage(tmp_path: Path) -> None:
    with TestServer(lambda body: "Hello there, friend.") as s:
        gw = Gateway("openai/test", api_base=s.base_url, cache=False)

        async def collect() -> list[Any]:
            return [x async for x in gw.stream(ChatRequest(messages=({"role": "user", "content": "hi"},), purpose="chat"))]

        items = asyncio.run(collect())
        assert "".join(i for i in items if isinstance(i, str)) == "Hello there, friend."
        assert isinstance(items[-1], Usage)
        assert items[-1].completion_tokens > 0
        assert s.requests[0]["stream"] is True


def test_stream_tool_calls(tmp_path: Path) -> None:
    with TestServer(lambda body: ServerReply(tool_calls=(("search_videos", {"query": "cats"}),))) as s:
        gw = Gateway("openai/test", api_base=s.base_url, cache=False)

        async def collect() -> list[Any]:
            return [x async for x in gw.stream(ChatRequest(messages=({"role": "user", "content": "hi"},)))]

        calls = [i for i in asyncio.run(collect()) if isinstance(i, ToolCall)]
        assert [(c.name, json.loads(c.arguments)) for c in calls] == [("search_videos", {"query": "cats"})]


def test_rpm_limit_is_enforced_by_the_router(server: TestServer, tmp_path: Path) -> None:
    # 2 requests per minute: the third waits for the next window (here, backoff is cut short,
    # so it runs out of rate-limit retries and becomes a recorded error; the server never sees it)
    viewer = _viewer(server, tmp_path, cache=False, rpm=2, rate_limit_retries=1)

    async def three() -> list[Any]:
        return await asyncio.gather(*(viewer.decide(PERSONA, _obs().model_copy(update={"turn": t})) for t in range(3)))

    outcomes = sorted(r.outcome.value for r in asyncio.run(three()))
    assert outcomes == ["error", "like", "like"]
    assert len(server.requests) == 2
