"""The gateway's per-call savings keep behaviour: free pricing only for unpriced self-hosted
models, memoized data URLs follow file changes, memoized image digests give the same cache key."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest

from value_spectrum.agents import cache as cache_mod
from value_spectrum.agents.cache import request_key
from value_spectrum.agents.chat import ChatRequest
from value_spectrum.agents.gateway import FREE_PRICING, Gateway
from value_spectrum.agents.observe import data_url


def _pricing(gw: Gateway, name: str) -> dict[str, object]:
    params = gw.litellm_transport.deployment(name)["litellm_params"]
    return {k: v for k, v in params.items() if k in FREE_PRICING}


def test_unpriced_self_hosted_model_is_declared_free() -> None:
    gw = Gateway("openai/local-vlm-xyz", api_base="http://127.0.0.1:9/v1", cache=False)
    assert _pricing(gw, gw.name) == FREE_PRICING


def test_priced_or_hosted_models_keep_litellm_prices() -> None:
    priced = Gateway("openai/gpt-4o-mini", api_base="http://127.0.0.1:9/v1", cache=False)
    assert _pricing(priced, priced.name) == {}
    hosted = Gateway("openai/some-new-model", cache=False)  # no api_base: the provider's own prices
    assert _pricing(hosted, hosted.name) == {}


def test_data_url_is_reused_until_the_file_changes(tmp_path: Path) -> None:
    frame = tmp_path / "f.png"
    frame.write_bytes(b"\x89PNG first")
    first = data_url(frame)
    assert data_url(frame) is first
    frame.write_bytes(b"\x89PNG second, longer")
    st = frame.stat()
    os.utime(frame, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    second = data_url(frame)
    assert second != first
    assert base64.b64decode(second.partition(",")[2]) == b"\x89PNG second, longer"


def test_image_digest_memo_keeps_the_key() -> None:
    raw = b"not really a png" * 100
    url = "data:image/png;base64," + base64.b64encode(raw).decode()
    req = ChatRequest(messages=({"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]},))
    cache_mod._digests.clear()
    cold = request_key("m", None, req)
    warm = request_key("m", None, req)
    assert cold == warm
    assert cache_mod._hash_image_url(url) == f"data:image/png;base64,sha256:{hashlib.sha256(raw).hexdigest()}"


def test_cache_connections_are_per_thread_and_shared_by_the_file(tmp_path: Path) -> None:
    import threading

    from value_spectrum.agents.cache import ResponseCache
    from value_spectrum.agents.chat import ChatResponse

    req = ChatRequest(messages=({"role": "user", "content": "hi"},))
    ResponseCache(tmp_path).put("m", None, req, ChatResponse(text="Yes."))
    seen: list[str | None] = []

    def read() -> None:
        hit = ResponseCache(tmp_path).get("m", None, req)
        seen.append(hit.text if hit else None)

    worker = threading.Thread(target=read)
    worker.start()
    worker.join()
    assert seen == ["Yes."]
    assert len(ResponseCache(tmp_path)) == 1


@pytest.mark.parametrize("direct", [False, True], ids=["router", "direct"])
def test_a_priced_model_answering_behind_a_free_deployment_is_still_priced(monkeypatch, direct) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from value_spectrum.agents.testing import server as srv

    plain = srv._Handler._completion

    def as_gpt_4o_mini(self, n, model, reply, body):  # type: ignore[no-untyped-def]
        out = plain(self, n, model, reply, body)
        out["model"] = "gpt-4o-mini"  # a proxy serving a priced model under another name
        return out

    monkeypatch.setattr(srv._Handler, "_completion", as_gpt_4o_mini)
    with srv.TestServer() as server:
        gw = Gateway("openai/proxy-alias-xyz", api_base=server.base_url, cache=False, direct=direct)
        proxied = asyncio.run(gw.complete(ChatRequest(messages=({"role": "user", "content": "hi"},))))
    assert gw.litellm_transport.free == (set() if direct else {"openai/proxy-alias-xyz"})
    assert proxied.model == "gpt-4o-mini"
    assert proxied.usage.cost_usd > 0


@pytest.mark.parametrize("direct", [False, True], ids=["router", "direct"])
def test_the_self_hosted_model_itself_costs_nothing(direct: bool) -> None:
    import asyncio

    from value_spectrum.agents.testing.server import TestServer

    with TestServer() as server:
        gw = Gateway("openai/local-vlm-abc", api_base=server.base_url, cache=False, direct=direct)
        reply = asyncio.run(gw.complete(ChatRequest(messages=({"role": "user", "content": "hi"},))))
    assert reply.usage.prompt_tokens > 0
    assert reply.usage.cost_usd == 0.0
