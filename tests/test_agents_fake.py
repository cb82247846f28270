"""The scripted fake model drives the real parsing, repair and outcome path."""

from __future__ import annotations

import asyncio

from value_spectrum.agents import ModelError, ModelRefusal, ScriptedViewer, tool_call
from value_spectrum.agents.chat import ChatResponse
from value_spectrum.personas.model import Persona
from value_spectrum.records import Observation, Outcome
from value_spectrum.values import ValueProfile

PERSONA = Persona(
    id="p",
    name="P",
    traits=("I love hiking.", "I read a lot.", "I travel alone."),
    target=ValueProfile.from_mapping({"self_direction": 0.9}, default=0.3),
)
OBS = Observation(turn=0, video_id="v1", title="Solo trip to the Alps", modality="caption", description="A hiker.")


def _decide(viewer: ScriptedViewer, **kw: object):  # type: ignore[no-untyped-def]
    return asyncio.run(viewer.decide(PERSONA, OBS, **kw))  # type: ignore[arg-type]


def test_json_like() -> None:
    v = ScriptedViewer(['{"decision": "like", "reason": "I love the mountains", "trait_number": 1}'])
    r = _decide(v)
    assert r.outcome == Outcome.LIKE
    assert r.decision is not None
    assert r.decision.scores["trait_number"] == 1
    system = v.model.requests[0].messages[0]
    assert system["role"] == "system"
    assert "I love hiking." in system["content"]


def test_repair_once_then_decision() -> None:
    v = ScriptedViewer(["hmm, let me think", '```json\n{"decision": "skip", "reason": "meh"}\n```'])
    r = _decide(v)
    assert r.outcome == Outcome.SKIP
    assert len(v.model.requests) == 2
    assert v.model.requests[1].purpose == "repair"
    # the bad reply goes back to the model once, followed by the correction request
    assert v.model.requests[1].messages[-2] == {"role": "assistant", "content": "hmm, let me think"}


def test_still_unreadable_after_repair_is_recorded() -> None:
    v = ScriptedViewer(["", "???"])
    r = _decide(v)
    assert r.outcome == Outcome.UNPARSEABLE
    assert r.raw == "???"
    assert r.decision is None
    assert "after repair" in r.error


def test_refusal_is_recorded_without_repair() -> None:
    v = ScriptedViewer(["As an AI, I don't have personal preferences."])
    r = _decide(v)
    assert r.outcome == Outcome.REFUSED
    assert len(v.model.requests) == 1


def test_errors_become_outcomes_and_do_not_poison_later_turns() -> None:
    v = ScriptedViewer([ModelError("503 upstream"), RuntimeError("boom"), "Yes."])
    first = _decide(v)
    second = _decide(v)
    third = _decide(v)
    assert first.outcome == Outcome.ERROR
    assert "503" in first.error
    assert second.outcome == Outcome.ERROR
    assert "boom" in second.error
    assert third.outcome == Outcome.LIKE


def test_exhausted_script_is_an_error() -> None:
    r = _decide(ScriptedViewer([]))
    assert r.outcome == Outcome.ERROR
    assert "exhausted" in r.error


def test_callable_reply_sees_the_request() -> None:
    v = ScriptedViewer([lambda req: '{"decision": "like"}' if "Alps" in str(req.messages) else "No"])
    assert _decide(v).outcome == Outcome.LIKE


def test_tool_rounds_record_queries() -> None:
    seen: list[str] = []

    def search(query: str, k: int = 5, platform: str | None = None) -> list[dict[str, object]]:
        seen.append(query)
        return [{"id": "v9", "title": "Mountain hut"}]

    v = ScriptedViewer([tool_call(query="alps hiking"), '{"decision": "like", "reason": "x"}'], max_tool_rounds=2)
    r = _decide(v, search=search)
    assert r.outcome == Outcome.LIKE
    assert r.searches == ("alps hiking",)
    assert seen == ["alps hiking"]
    assert v.model.requests[0].tools
    assert v.model.requests[1].messages[-1]["role"] == "tool"


def test_tools_not_offered_after_the_last_round() -> None:
    v = ScriptedViewer([tool_call(query="a"), tool_call(query="b"), "No."], max_tool_rounds=1)
    r = _decide(v, search=lambda q, k=5, platform=None: [])
    # round 0 may call tools; round 1 is offered none, so the second tool call is not run
    assert r.searches == ("a",)
    assert v.model.requests[1].tools == ()


def test_provider_content_filter_is_a_refusal() -> None:
    v = ScriptedViewer([ModelRefusal("ContentPolicyViolationError: blocked"), ChatResponse(text="", finish_reason="content_filter")])
    assert _decide(v).outcome == Outcome.REFUSED
    assert _decide(v).outcome == Outcome.REFUSED


def test_isq_reply_liked_at_sixty_percent() -> None:
    ratings = '{"visual_appeal": 7, "curiosity": 6, "emotional_engagement": 5, "value_expectation": 6, "preference_alignment": 6, "action": "skip", "reason": "fine"}'
    v = ScriptedViewer([ratings], strategy="isq")
    r = _decide(v)
    assert r.outcome == Outcome.LIKE  # 60 % reaches the paper's threshold whatever the stated action
    assert r.decision is not None
    assert r.decision.scores["isq_percent"] == 60.0
    assert r.decision.scores["stated_like"] == 0.0


def test_unreadable_keyframe_is_an_error_outcome(tmp_path: object) -> None:
    obs = OBS.model_copy(update={"modality": "frames", "keyframes": ("/nonexistent/frame.jpg",)})
    v = ScriptedViewer(["Yes."])
    r = asyncio.run(v.decide(PERSONA, obs))
    assert r.outcome == Outcome.ERROR
    assert "frame.jpg" in r.error
    assert v.model.requests == []  # nothing was sent


def test_every_viewer_meets_the_protocol() -> None:
    from value_spectrum.agents import LLMViewer, ReferenceViewer, Viewer

    assert isinstance(ScriptedViewer([]), Viewer)
    assert isinstance(ReferenceViewer({}), Viewer)
    assert isinstance(LLMViewer("openai/x", api_base="http://127.0.0.1:9/v1", cache=False), Viewer)


def test_schema_is_requested_only_where_supported_and_defined() -> None:
    v = ScriptedViewer(['{"decision": "like", "reason": "x", "trait_number": 1}'], schema=True)
    _decide(v)
    rf = v.model.requests[0].response_format
    assert rf is not None
    assert rf["json_schema"]["schema"]["properties"]["decision"]["enum"] == ["like", "skip"]
    plain = ScriptedViewer(["Yes."], schema=True, strategy="plain")
    _decide(plain)
    assert plain.model.requests[0].response_format is None
    unsupported = ScriptedViewer(['{"decision": "like"}'], schema=False)
    _decide(unsupported)
    assert unsupported.model.requests[0].response_format is None


def test_rate_repairs_once_then_keeps_none_with_raw() -> None:
    from value_spectrum.personas.questionnaire import Instrument, Item

    inst = Instrument(id="t", licence="test", items=(Item(id="s1", value="self_direction", text="I like to decide for myself."),))
    v = ScriptedViewer(["I'd rather not say.", '{"rating": 3}', "no idea", "still no idea"])
    first = asyncio.run(v.rate(PERSONA, inst, inst.items[0]))
    assert first.rating == 3
    assert [r.purpose for r in v.model.requests] == ["rate", "repair"]
    second = asyncio.run(v.rate(PERSONA, inst, inst.items[0]))
    assert second.rating is None
    assert second.raw == "still no idea"
