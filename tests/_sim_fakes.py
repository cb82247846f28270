"""Small offline fixtures for the graphs and runner tests: a tiny labelled corpus, two personas,
and viewers that are slow, costly or failing. Imported by tests/test_graphs_*.py and
tests/test_runner_*.py (and by the subprocess in the kill -9 test)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from value_spectrum.agents.base import SearchTool, ViewerReply
from value_spectrum.agents.reference import ReferenceViewer
from value_spectrum.personas.model import Persona
from value_spectrum.personas.questionnaire import Instrument, Item
from value_spectrum.records import Decision, Observation, Outcome, ProbeAnswer, Step, Usage, Video
from value_spectrum.retrieval.corpus import Corpus
from value_spectrum.runner.config import RunConfig
from value_spectrum.runner.plan import SessionSpec
from value_spectrum.runner.services import Services
from value_spectrum.values import VALUE_IDS, ValueProfile


def tiny_videos(n: int = 40) -> list[Video]:
    """``n`` videos, each labelled with one value (cycling round the ten)."""
    return [
        Video(
            id=f"v{i:03d}",
            title=f"video {i} about {VALUE_IDS[i % 10]}",
            caption=f"{VALUE_IDS[i % 10]} words {i}",
            values=ValueProfile.from_mapping({VALUE_IDS[i % 10]: 0.9}, default=0.05),
        )
        for i in range(n)
    ]


def tiny_corpus(n: int = 40) -> Corpus:
    """A corpus of :func:`tiny_videos`."""
    return Corpus("tiny", tiny_videos(n))


def two_personas() -> tuple[Persona, ...]:
    """A caring persona and an ambitious one."""
    return (
        Persona(id="carer", name="Carer", traits=("I help.", "I listen.", "I share."),
                target=ValueProfile.from_mapping({"benevolence": 0.95, "universalism": 0.8}, default=0.2)),
        Persona(id="climber", name="Climber", traits=("I win.", "I lead.", "I earn."),
                target=ValueProfile.from_mapping({"achievement": 0.95, "power": 0.85}, default=0.2)),
    )


class SlowReference:
    """The reference viewer with a fixed delay per decision (so a batch can be killed mid-way)."""

    wants_images = False

    def __init__(self, inner: ReferenceViewer, delay_s: float) -> None:
        self.inner, self.delay_s, self.name = inner, delay_s, "reference"

    def describe(self) -> dict[str, Any]:
        # the same provenance as the plain reference viewer: the delay changes no decision
        return self.inner.describe()

    def describe_session(self, persona: Persona | None) -> dict[str, Any]:
        return self.inner.describe_session(persona)

    async def decide(self, persona: Persona | None, observation: Observation, *,
                     history: Sequence[Step] = (), search: SearchTool | None = None) -> ViewerReply:
        await asyncio.sleep(self.delay_s)
        return await self.inner.decide(persona, observation, history=history, search=search)

    async def rate(self, persona: Persona | None, instrument: Instrument, item: Item) -> ProbeAnswer:
        return await self.inner.rate(persona, instrument, item)


class CostlyViewer:
    """Likes even turns, skips odd ones; every decision costs ``cost`` dollars."""

    wants_images = False

    def __init__(self, cost: float = 0.01, name: str = "costly") -> None:
        self.cost, self.name, self.calls = cost, name, 0

    def describe(self) -> dict[str, Any]:
        return {"viewer": "costly", "cost": self.cost}

    async def decide(self, persona: Persona | None, observation: Observation, *,
                     history: Sequence[Step] = (), search: SearchTool | None = None) -> ViewerReply:
        self.calls += 1
        action = "like" if observation.turn % 2 == 0 else "skip"
        return ViewerReply(outcome=Outcome(action), decision=Decision(action=action, reason="scripted"),
                           raw=action, usage=Usage(prompt_tokens=10, completion_tokens=2, cost_usd=self.cost))

    async def rate(self, persona: Persona | None, instrument: Instrument, item: Item) -> ProbeAnswer:
        return ProbeAnswer(item_id=item.id, value=item.value, rating=instrument.scale_min)


class BrokenViewer:
    """Raises on the turns listed (every turn when ``turns`` is None), else skips."""

    wants_images = False

    def __init__(self, turns: set[int] | None = None, name: str = "broken") -> None:
        self.turns, self.name = turns, name

    def describe(self) -> dict[str, Any]:
        return {"viewer": "broken"}

    async def decide(self, persona: Persona | None, observation: Observation, *,
                     history: Sequence[Step] = (), search: SearchTool | None = None) -> ViewerReply:
        if self.turns is None or observation.turn in self.turns:
            raise RuntimeError(f"provider exploded at turn {observation.turn}")
        return ViewerReply(outcome=Outcome.SKIP, decision=Decision(action="skip"), raw="no")

    async def rate(self, persona: Persona | None, instrument: Instrument, item: Item) -> ProbeAnswer:
        raise RuntimeError("no ratings")


def reference_factory(corpus: Corpus, delay_s: float = 0.0) -> Any:
    """A viewer factory: a (slow) reference viewer per session, seeded by the session seed."""
    labels = {v.id: v.values for v in corpus if v.values is not None}

    def factory(spec: SessionSpec) -> Any:
        ref = ReferenceViewer(labels, seed=spec.seed)
        return SlowReference(ref, delay_s) if delay_s else ref

    return factory


def services(config: RunConfig, viewer_factory: Any = None, corpus: Corpus | None = None) -> Services:
    """Services over the tiny corpus and the two personas."""
    corpus = corpus or tiny_corpus()
    return Services(config, corpus=corpus, personas=two_personas(),
                    viewer_factory=viewer_factory or reference_factory(corpus))
