"""The decision contract over messy replies: property tests and the paper's bare answers."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from value_spectrum.agents.parsing import (
    ISQ_LIKE_THRESHOLD,
    ParseFailure,
    parse_decision,
    parse_rating,
)
from value_spectrum.records import Decision, Outcome

prose = st.text(alphabet=st.characters(blacklist_characters="{}`", blacklist_categories=("Cs",)), max_size=200)
reasons = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300)
actions = st.sampled_from(["like", "skip"])
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _ok(got: Decision | ParseFailure) -> Decision:
    assert isinstance(got, Decision), got
    return got


@FAST
@given(before=prose, after=prose, action=actions, reason=reasons)
def test_json_inside_prose(before: str, after: str, action: str, reason: str) -> None:
    body = json.dumps({"decision": action, "reason": reason, "trait_number": 3}, ensure_ascii=False)
    d = _ok(parse_decision(f"{before}\n{body}\n{after}"))
    assert d.action == action
    assert d.reason == reason
    assert d.scores["trait_number"] == 3


@FAST
@given(before=prose, action=actions, reason=reasons)
def test_fenced_json(before: str, action: str, reason: str) -> None:
    body = json.dumps({"action": action, "reason": reason})
    d = _ok(parse_decision(f"{before}\n```json\n{body}\n```\nHope that helps!"))
    assert d.action == action
    assert d.reason == reason


@FAST
@given(action=actions, reason=st.text(alphabet="abc xyz,.!é漢", max_size=50))
def test_single_quotes_python_literals(action: str, reason: str) -> None:
    d = _ok(parse_decision(repr({"decision": action, "reason": reason, "confident": True})))
    assert d.action == action
    assert d.reason == reason


@FAST
@given(text=st.text(max_size=2000))
def test_anything_gives_a_decision_or_a_failure_never_an_exception(text: str) -> None:
    got = parse_decision(text)
    assert isinstance(got, Decision | ParseFailure)
    if isinstance(got, ParseFailure):
        assert got.outcome in (Outcome.UNPARSEABLE, Outcome.REFUSED)
        assert got.error


@pytest.mark.parametrize(
    ("value", "action"),
    [("like", "like"), ("Skip", "skip"), ("YES", "like"), ("no", "skip"), (True, "like"), (False, "skip"),
     (1, "like"), (0, "skip"), ("true", "like"), ("false", "skip"), ("liked", "like"), ("Dislike", "skip")],
)
def test_decision_values(value: object, action: str) -> None:
    assert _ok(parse_decision(json.dumps({"decision": value}))).action == action
    assert _ok(parse_decision(json.dumps({"like": value}))).action == action


@pytest.mark.parametrize(
    ("reply", "action"),
    [("Yes.", "like"), ("No", "skip"), ("yes", "like"), ("No.", "skip"),
     ("Yes, I like it because the colours are warm.", "like"), ("**No**, it is not for me.", "skip"),
     ("Answer: Yes", "like"), ("Decision: skip - boring", "skip"), ("Like.", "like"), ("\n  No, thanks", "skip")],
)
def test_the_papers_bare_answers(reply: str, action: str) -> None:
    assert _ok(parse_decision(reply)).action == action


def test_bare_answer_keeps_the_rest_as_reason() -> None:
    d = _ok(parse_decision("Yes, I like it because it is calm. The image shows a lake."))
    assert d.reason.startswith("I like it because it is calm")


@pytest.mark.parametrize(
    "reply",
    ["I can't help with that.", "As an AI, I don't have personal preferences.",
     "As an AI language model I cannot view images.", "I'm sorry, but I cannot assist with this request.",
     "I do not have personal opinions about images.", "That is subjective; it depends on the viewer."],
)
def test_refusals(reply: str) -> None:
    got = parse_decision(reply)
    assert isinstance(got, ParseFailure)
    assert got.outcome == Outcome.REFUSED


@pytest.mark.parametrize("reply", ["", "   ", "\n\n", "Hmm.", "Like many people, I enjoy soup.", "{}", "```json\n```", "{'oops': 1}", "Nothing to add"])
def test_unparseable(reply: str) -> None:
    got = parse_decision(reply)
    assert isinstance(got, ParseFailure)
    assert got.outcome == Outcome.UNPARSEABLE


def test_unknown_decision_value_is_named() -> None:
    got = parse_decision('{"decision": "maybe"}')
    assert isinstance(got, ParseFailure)
    assert "'maybe'" in got.error


def test_stray_braces_do_not_hide_the_object() -> None:
    assert _ok(parse_decision('I think { this is hard } {maybe... {"decision": "skip", "reason": "x"} ok')).action == "skip"


def test_nested_object() -> None:
    assert _ok(parse_decision('{"response": {"action": "like", "reason": "ok"}}')).action == "like"


def test_very_long_reply() -> None:
    filler = "This video is about cooking and family. " * 5000
    assert _ok(parse_decision(filler + '{"decision": "like"}')).action == "like"
    assert _ok(parse_decision("No. " + filler)).action == "skip"
    got = parse_decision(filler)
    assert isinstance(got, ParseFailure)
    assert len(got.error) < 300


def test_unicode_reply() -> None:
    d = _ok(parse_decision('Réponse : {"decision": "like", "reason": "très beau 🌸 美しい"}'))
    assert d.reason == "très beau 🌸 美しい"


@pytest.mark.parametrize(("raw", "expected"), [(0.8, 0.8), (85, 0.85), ("70%", 0.7), (-3, None), ("high", None)])
def test_confidence(raw: object, expected: float | None) -> None:
    d = _ok(parse_decision(json.dumps({"decision": "like", "confidence": raw})))
    assert d.confidence == (pytest.approx(expected) if expected is not None else None)


@FAST
@given(r=st.lists(st.integers(0, 10), min_size=5, max_size=5), stated=actions)
def test_isq_percentage_and_threshold(r: list[int], stated: str) -> None:
    keys = ["visual_appeal", "curiosity", "emotional_engagement", "value_expectation", "preference_alignment"]
    body = dict(zip(keys, r, strict=True)) | {"action": stated, "reason": "r"}
    d = _ok(parse_decision(f"Here are my ratings: {json.dumps(body)}"))
    percent = 10 * sum(r) / 5
    assert d.scores["isq_percent"] == pytest.approx(percent)
    assert d.action == ("like" if percent >= ISQ_LIKE_THRESHOLD else "skip")
    assert d.scores["stated_like"] == (1.0 if stated == "like" else 0.0)


def test_isq_rating_out_of_range_is_unparseable() -> None:
    got = parse_decision('{"visual_appeal": 11, "curiosity": 5, "emotional_engagement": 5, "value_expectation": 5}')
    assert isinstance(got, ParseFailure)
    assert "visual_appeal" in got.error


@pytest.mark.parametrize(
    ("reply", "rating"),
    [('{"rating": 5}', 5), ("I'd say 4.", 4), ("Rating: 6 (very much like me)", 6), ('{"rating": 9}', None),
     ("As an AI I don't have values.", None), ("", None), ("seven", None), ("0 or maybe 3", 3)],
)
def test_parse_rating(reply: str, rating: int | None) -> None:
    assert parse_rating(reply, 1, 6) == rating
