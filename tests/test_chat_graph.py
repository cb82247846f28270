"""The chat graph and ChatSession with the scripted fake model: streaming, tool calls, failures,
feed reactions and resume from the SQLite checkpointer."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from value_spectrum.agents.chat import ModelError
from value_spectrum.agents.fake import ScriptedModel, tool_call
from value_spectrum.agents.reference import ReferenceViewer
from value_spectrum.graphs.chat import FAILED_MARK, build_chat_graph, conversation
from value_spectrum.graphs.chat_session import ChatSession
from value_spectrum.personas import get_persona
from value_spectrum.records import Video
from value_spectrum.retrieval.corpus import Corpus
from value_spectrum.values import ValueProfile

GOLDEN_MERMAID = """graph TD;
	__start__([<p>__start__</p>]):::first
	agent(agent)
	tools(tools)
	__end__([<p>__end__</p>]):::last
	__start__ --> agent;
	agent -.-> __end__;
	agent -.-> tools;
	tools --> agent;"""


def _corpus() -> Corpus:
    values = ["tradition", "power", "benevolence", "stimulation", "security", "universalism"]
    videos = [
        Video(id=f"v{i}", title=f"video {i}", platform="tiktok",
              values=ValueProfile.from_mapping({v: 0.9}, default=0.05))
        for i, v in enumerate(values)
    ]
    return Corpus("tiny", videos)


def _search(query: str, k: int = 5, platform: str | None = None) -> list[dict[str, Any]]:
    return [{"id": "v0", "title": f"about {query}", "platform": "tiktok", "score": 0.9}]




def test_graph_shape_snapshot() -> None:
    mermaid = build_chat_graph().get_graph().draw_mermaid()
    body = mermaid[mermaid.index("graph TD;"):].split("\tclassDef")[0].strip()
    assert body == GOLDEN_MERMAID


def test_failed_turn_markers_are_not_sent_again() -> None:
    msgs = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": f"{FAILED_MARK}boom]"},
        {"role": "user", "content": "again"},
    ]
    assert [m["content"] for m in conversation(msgs)] == ["hi", "again"]


def test_session_streams_searches_fails_and_resumes(tmp_path: Path) -> None:
    persona = get_persona("family_oriented")
    corpus = _corpus()
    labels = {v.id: v.values for v in corpus if v.values is not None}
    model = ScriptedModel([
        "Hello there, friend.",
        tool_call(query="family dinner"),
        "Here are some dinners.",
        ModelError("provider down"),
        "Back again.",
    ])

    async def scenario() -> dict[str, Any]:
        async with ChatSession(persona, model, db_path=tmp_path / "c.sqlite", thread="t",
                               search=_search, corpus=corpus,
                               viewer_factory=lambda: ReferenceViewer(labels, seed=1)) as chat:
            first = [e async for e in chat.send("hi")]
            second = [e async for e in chat.send("show me videos")]
            third = [e async for e in chat.send("still there?")]
            fourth = [e async for e in chat.send("and now?")]
            reactions = [r async for r in chat.feed(3)]
            return {"events": (first, second, third, fourth), "reactions": reactions,
                    "state": await chat.state()}

    out = asyncio.run(scenario())
    first, second, third, fourth = out["events"]
    assert "".join(e["delta"] for e in first if "delta" in e) == "Hello there, friend."
    assert [e["search"] for e in second if "search" in e] == ["family dinner"]
    assert "".join(e["delta"] for e in second if "delta" in e) == "Here are some dinners."
    assert any("provider down" in e.get("error", "") for e in third)
    assert "".join(e["delta"] for e in fourth if "delta" in e) == "Back again."
    # the failed turn is recorded but not shown to the model again
    last_request = model.requests[-1]
    assert not any(FAILED_MARK in str(m.get("content")) for m in last_request.messages)
    assert len(out["reactions"]) == 3
    assert len({r.video.id for r in out["reactions"]}) == 3

    async def resumed() -> dict[str, Any]:
        async with ChatSession(persona, ScriptedModel([]), db_path=tmp_path / "c.sqlite", thread="t",
                               corpus=corpus,
                               viewer_factory=lambda: ReferenceViewer(labels, seed=1)) as chat:
            more = [r async for r in chat.feed(2)]
            path = await chat.save(tmp_path / "t.json")
            return {"more": more, "saved": json.loads(path.read_text())}

    again = asyncio.run(resumed())
    seen_before = {r.video.id for r in out["reactions"]}
    assert not seen_before & {r.video.id for r in again["more"]}, "a resumed feed never repeats"
    saved = again["saved"]
    assert saved["viewer"] == "reference"
    assert [d["turn"] for d in saved["decisions"]] == [0, 1, 2, 3, 4]
    assert saved["messages"][0] == {"role": "user", "content": "hi"}
    assert sum(1 for m in saved["messages"] if m["role"] == "tool") == 1


def test_feed_is_deterministic_for_a_thread(tmp_path: Path) -> None:
    persona = get_persona("adventurous_spirit")
    corpus = _corpus()
    labels = {v.id: v.values for v in corpus if v.values is not None}

    async def run(db: str) -> list[tuple[str, str]]:
        async with ChatSession(persona, None, db_path=tmp_path / db, thread="same", corpus=corpus,
                               viewer_factory=lambda: ReferenceViewer(labels, seed=3)) as chat:
            return [(r.video.id, r.step.outcome.value) async for r in chat.feed(4)]

    assert asyncio.run(run("a.sqlite")) == asyncio.run(run("b.sqlite"))


def test_failed_or_empty_replies_are_one_error_and_never_stored(tmp_path: Path) -> None:
    persona = get_persona("family_oriented")
    model = ScriptedModel(["", ModelError("stream cut short"), "Here I am."])

    async def scenario() -> tuple[list[list[dict[str, Any]]], dict[str, Any]]:
        async with ChatSession(persona, model, db_path=tmp_path / "c.sqlite", thread="t", max_tokens=64) as chat:
            events = [[e async for e in chat.send(text)] for text in ("hi", "hello?", "anyone?")]
            return events, dict(await chat.state())

    events, state = asyncio.run(scenario())
    assert [sum(1 for e in ev if "error" in e) for ev in events] == [1, 1, 0]
    assert "empty reply" in next(e["error"] for e in events[0] if "error" in e)
    assistant = [m for m in state["messages"] if m["role"] == "assistant"]
    assert assistant == [{"role": "assistant", "content": "Here I am."}]  # nothing stored for the failures
    assert all(r.max_tokens == 64 for r in model.requests)


def test_older_turns_are_left_out_to_fit_the_context(tmp_path: Path) -> None:
    from value_spectrum.graphs.chat import estimate_tokens, fit_context

    persona = get_persona("family_oriented")
    long = "word " * 400  # about 670 estimated tokens a message
    model = ScriptedModel([long] * 6)

    async def scenario() -> None:
        async with ChatSession(persona, model, db_path=tmp_path / "c.sqlite", thread="t",
                               max_tokens=256, context_tokens=2048) as chat:
            for i in range(6):
                _ = [e async for e in chat.send(f"message {i}: {long}")]

    asyncio.run(scenario())
    last = model.requests[-1].messages
    assert last[0]["role"] == "system"
    assert last[1]["role"] == "user"  # a kept history starts at a user message
    assert last[-1]["content"].startswith("message 5")
    assert sum(estimate_tokens(m) for m in last) + 256 <= 2048
    assert len(model.requests[0].messages) == 2
    # the thread itself keeps everything
    system = {"role": "system", "content": "x"}
    msgs = [{"role": "user", "content": "a" * 30000}]
    assert fit_context(system, msgs, context_tokens=100, reply_tokens=10) == msgs  # the last user message stays
