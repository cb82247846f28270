"""Prompt strategies: stable prefixes, the paper's question, value priorities, template hashes,
history summaries."""

from __future__ import annotations

import asyncio

import pytest

from value_spectrum.agents import ScriptedViewer
from value_spectrum.agents.llm_viewer import history_text
from value_spectrum.personas.model import Persona
from value_spectrum.personas.prompts import PLAIN_QUESTION, STRATEGIES, get_strategy, template_hash
from value_spectrum.records import Decision, Observation, Outcome, Step
from value_spectrum.values import ValueProfile

PERSONA = Persona(
    id="elder",
    name="Elder",
    description="A retired teacher from a small town.",
    traits=("I go to church every Sunday.", "I keep the family recipes.", "I distrust big changes."),
    target=ValueProfile.from_mapping({"tradition": 0.95, "conformity": 0.8, "security": 0.7, "stimulation": 0.05, "hedonism": 0.1, "power": 0.15}, default=0.4),
)


def _obs(turn: int) -> Observation:
    return Observation(turn=turn, video_id=f"v{turn}", title=f"Video {turn}", modality="title")


def test_template_hashes_are_stable_and_distinct() -> None:
    hashes = {name: template_hash(name) for name in STRATEGIES}
    assert len(set(hashes.values())) == len(STRATEGIES)
    assert all(len(h) == 64 for h in hashes.values())
    assert hashes == {name: template_hash(name) for name in STRATEGIES}
    with pytest.raises(ValueError, match="'nope'"):
        template_hash("nope")


def test_plain_is_the_papers_question_without_persona() -> None:
    prompt = get_strategy("plain")(None)
    assert prompt.system is None
    assert prompt.question == PLAIN_QUESTION
    assert prompt.schema is None
    assert "Do you like the content of this image?" in prompt.question


def test_persona_strategies() -> None:
    simple = get_strategy("simple")(PERSONA)
    assert simple.system is not None
    assert "1. I go to church every Sunday." in simple.system
    assert "trait_number" in simple.question
    isq = get_strategy("isq")(PERSONA)
    for key in ("visual_appeal", "curiosity", "emotional_engagement", "value_expectation", "preference_alignment"):
        assert key in isq.question
        assert key in isq.schema["properties"]
    values = get_strategy("values")(PERSONA)
    assert values.system is not None
    most, least = values.system.split("What matters least to you:")
    assert "tradition" in most
    assert "conformity" in most
    assert "security" in most
    assert "stimulation" in least
    assert "hedonism" in least
    assert "power" in least
    assert "church" not in values.system  # values, not traits
    with pytest.raises(ValueError, match="plain"):
        get_strategy("simple")(None)


def test_system_prompt_is_identical_across_turns() -> None:
    viewer = ScriptedViewer(["Yes."] * 3 + ['{"decision": "skip"}'], strategy="simple", history_turns=2)

    async def run() -> None:
        history: list[Step] = []
        for t in range(3):
            reply = await viewer.decide(PERSONA, _obs(t), history=history)
            history.append(Step(turn=t, video_id=f"v{t}", outcome=reply.outcome, decision=reply.decision))

    asyncio.run(run())
    systems = [r.messages[0] for r in viewer.model.requests]
    assert systems[0]["role"] == "system"
    assert all(s == systems[0] for s in systems)
    last_user = viewer.model.requests[2].messages[1]["content"]
    assert "turn 0: liked video v0" in last_user
    assert "turn 1: liked video v1" in last_user


def test_history_marks_failed_turns() -> None:
    steps = [
        Step(turn=0, video_id="a", outcome=Outcome.SKIP, decision=Decision(action="skip", reason="dull")),
        Step(turn=1, video_id="b", outcome=Outcome.UNPARSEABLE, raw="???", error="no decision"),
    ]
    text = history_text(steps, 5)
    assert "skipped video a (dull)" in text
    assert "video b, no decision recorded (unparseable)" in text
    assert "???" not in text
    assert history_text(steps, 0) == ""


def test_strategy_without_persona_is_an_error_outcome_not_an_exception() -> None:
    reply = asyncio.run(ScriptedViewer(["Yes."], strategy="isq").decide(None, _obs(0)))
    assert reply.outcome == Outcome.ERROR
    assert "plain" in reply.error


def test_describe_records_strategy_and_hash() -> None:
    d = ScriptedViewer([], strategy="values", temperature=0.0, seed=7).describe()
    assert d["strategy"] == "values"
    assert d["template_hash"] == template_hash("values")
    assert d["seed"] == 7
