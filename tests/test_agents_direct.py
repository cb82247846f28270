"""The direct openai path and litellm's Router give the same request, cache key, usage and
outcome; structured output degrades on a rejection; a text-only server's image rejection is one
clear error, once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from value_spectrum.agents import LLMViewer
from value_spectrum.agents.cache import request_key
from value_spectrum.agents.chat import ChatRequest, ModalityMismatch, ModelError
from value_spectrum.agents.gateway import Gateway
from value_spectrum.agents.testing import TestServer, count_images, fast_retries
from value_spectrum.personas.model import Persona
from value_spectrum.records import Observation, Outcome
from value_spectrum.values import ValueProfile

PERSONA = Persona(
    id="carer", name="Carer",
    traits=("I look after my family.", "I volunteer at the food bank.", "I cook for my neighbours."),
    target=ValueProfile.from_mapping({"benevolence": 0.95}, default=0.2),
)
LIKE = '{"decision": "like", "reason": "kind people", "trait_number": 2}'


@pytest.fixture(autouse=True)
def _fast_backoff() -> Iterator[None]:
    with fast_retries():
        yield


@pytest.fixture
def frame(tmp_path: Path) -> str:
    p = tmp_path / "frame.png"
    Image.new("RGB", (8, 8), "red").save(p)
    return str(p)


def _obs(frame: str | None = None, modality: str = "frames") -> Observation:
    return Observation(turn=0, video_id="v1", title="Soup kitchen", caption="Serving 200 meals",
                       keyframes=(frame,) if frame else (), modality=modality)  # type: ignore[arg-type]


def _decide(viewer: LLMViewer, obs: Observation) -> Any:
    return asyncio.run(viewer.decide(PERSONA, obs))


def test_model_strings_pick_the_transport() -> None:
    assert Gateway("openai/x", api_base="http://h/v1", cache=False).direct
    assert Gateway("openai/gpt-4o-mini", cache=False).direct
    assert Gateway("hosted_vllm/x", api_base="http://h/v1", cache=False).direct
    assert Gateway("local-alias", api_base="http://h/v1", cache=False).direct
    assert not Gateway("anthropic/claude-3-5-sonnet-20241022", cache=False).direct
    assert not Gateway("ollama/llava", api_base="http://h:11434", cache=False).direct
    assert not Gateway("openai/x", api_base="http://h/v1", cache=False, direct=False).direct
    assert not Gateway("openai/x", api_base="http://h/v1", fallbacks=["anthropic/claude-3-haiku-20240307"], cache=False).direct
    assert Gateway("openai/x", api_base="http://h/v1", cache=False).describe()["transport"] == "openai"


def test_both_transports_send_the_same_request_and_record_the_same_outcome(tmp_path: Path, frame: str) -> None:
    seen: dict[bool, tuple[dict[str, Any], Any, str]] = {}
    with TestServer(lambda body: LIKE) as s:
        for direct in (True, False):
            s.reset()
            viewer = LLMViewer("openai/test-vlm", api_base=s.base_url, cache_dir=tmp_path / f"c{direct}", direct=direct)
            reply = _decide(viewer, _obs(frame))
            body = s.requests[0]
            gw = viewer.model
            assert isinstance(gw, Gateway)
            req = viewer._request(viewer.messages_for(viewer.strategy(PERSONA), _obs(frame), (), search=False),
                                  schema=viewer.strategy(PERSONA).schema, tools=False, purpose="decide")
            seen[direct] = (body, reply, request_key(gw.name, gw.api_base, gw._shape(req)))
            again = _decide(viewer, _obs(frame))
            assert again.usage.cached
            assert len(s.requests) == 1
    (b1, r1, k1), (b2, r2, k2) = seen[True], seen[False]
    keep = ("model", "messages", "temperature", "max_tokens", "response_format", "seed", "tools")
    assert {k: b1.get(k) for k in keep} == {k: b2.get(k) for k in keep}
    assert count_images(b1) == 1
    assert k1 == k2
    assert (r1.outcome, r1.decision, r1.usage) == (r2.outcome, r2.decision, r2.usage)


def test_a_rejected_schema_degrades_to_json_object_and_is_remembered(tmp_path: Path) -> None:
    with TestServer(lambda body: LIKE, reject_formats=("json_schema",)) as s:
        viewer = LLMViewer("openai/local-alias", api_base=s.base_url, cache=False)
        assert _decide(viewer, _obs()).outcome == Outcome.LIKE
        assert _decide(viewer, _obs().model_copy(update={"turn": 1})).outcome == Outcome.LIKE
        kinds = [(r.get("response_format") or {}).get("type") for r in s.requests]
    assert kinds[0] == "json_schema"
    assert kinds[-2:] == ["json_object", "json_object"]
    assert kinds.count("json_schema") == 1 + 3  # the first request and the client's 3 retries, once
    assert viewer.describe()["gateway"]["response_format"] == "json_object"


def test_then_to_plain_text_parsed_by_the_contract(tmp_path: Path) -> None:
    with TestServer(lambda body: "I'd watch it. " + LIKE, reject_formats=("json_schema", "json_object")) as s:
        viewer = LLMViewer("openai/local-alias", api_base=s.base_url, cache=False, num_retries=0)
        assert _decide(viewer, _obs()).outcome == Outcome.LIKE
        assert "response_format" not in s.requests[-1]
    assert viewer.model.format_mode() == "text"  # type: ignore[attr-defined]


@pytest.mark.parametrize("mode", ["json_object", "text"])
def test_the_response_format_option_overrides(mode: str) -> None:
    with TestServer(lambda body: LIKE) as s:
        viewer = LLMViewer("openai/gpt-4o-mini", api_base=s.base_url, cache=False, response_format=mode)
        assert _decide(viewer, _obs()).outcome == Outcome.LIKE
        assert (s.requests[0].get("response_format") or {}).get("type") == (None if mode == "text" else mode)


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "router"])
def test_a_text_only_server_rejecting_images_is_one_modality_error(frame: str, direct: bool) -> None:
    with TestServer(lambda body: LIKE, text_only=True) as s:
        viewer = LLMViewer("openai/smol", api_base=s.base_url, cache=False, num_retries=1, direct=direct)
        first = _decide(viewer, _obs(frame))
        assert first.outcome == Outcome.ERROR
        assert "--modality caption" in first.error
        assert "openai/smol" in first.error
        sent = len(s.requests)
        second = _decide(viewer, _obs(frame).model_copy(update={"turn": 1}))
        assert "--modality caption" in second.error
        assert len(s.requests) == sent  # no request: known at once
        caption = _decide(viewer, _obs(frame, "caption").model_copy(update={"turn": 2}))
        assert caption.outcome == Outcome.LIKE
        assert count_images(s.requests[-1]) == 0


def test_a_server_down_is_not_called_a_modality_problem(frame: str) -> None:
    with TestServer(lambda body: LIKE) as s:
        s.fail_model("smol")
        gw = Gateway("openai/smol", api_base=s.base_url, cache=False, num_retries=0)
        parts = [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]
        with pytest.raises(ModelError, match="is down") as info:
            asyncio.run(gw.complete(ChatRequest(messages=({"role": "user", "content": parts},))))
        assert not isinstance(info.value, ModalityMismatch)
        assert gw.modality_problem is None
