"""Administer a questionnaire through a viewer: the items asked one by one, in character.

Each item goes through :meth:`Viewer.rate`; an unreadable answer is kept as rating None with its
raw text, and one failing item never stops the rest. Scoring the answers is the scoring room's job.

Example:
    >>> import asyncio
    >>> from value_spectrum.agents.reference import ReferenceViewer
    >>> from value_spectrum.personas.questionnaire import Instrument, Item
    >>> inst = Instrument(id="demo", licence="ours", items=(Item(id="b1", value="benevolence", text="Helping matters."),))
    >>> probe = asyncio.run(ask_questionnaire(ReferenceViewer({}), None, inst))
    >>> probe.answers[0].rating
    4
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from value_spectrum.agents.base import Viewer
from value_spectrum.personas.model import Persona
from value_spectrum.personas.questionnaire import Instrument, Item
from value_spectrum.records import Probe, ProbeAnswer

logger = logging.getLogger(__name__)


async def ask_questionnaire(
    viewer: Viewer,
    persona: Persona | None,
    instrument: Instrument,
    items: Sequence[Item | str] | None = None,
    *,
    after_turn: int = 0,
    concurrency: int = 4,
) -> Probe:
    """Ask ``items`` (default: every item of ``instrument``; ids or :class:`Item` objects) and
    return the :class:`Probe`, answers in item order.

    Args:
        viewer: who answers (its :meth:`rate`).
        persona: in whose character (None: the plain model).
        instrument: the questionnaire (scale and instructions).
        items: a subset of the instrument's items, by object or id.
        after_turn: how many decisions preceded the probe (recorded).
        concurrency: items asked at once (each item is its own independent request).

    Raises:
        ValueError: an item id that the instrument does not have.
    """
    chosen: list[Item] = []
    by_id = {i.id: i for i in instrument.items}
    for it in items if items is not None else instrument.items:
        if isinstance(it, str):
            if it not in by_id:
                raise ValueError(f"instrument {instrument.id!r} has no item {it!r}")
            chosen.append(by_id[it])
        else:
            chosen.append(it)
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(item: Item) -> ProbeAnswer:
        async with gate:
            try:
                return await viewer.rate(persona, instrument, item)
            except Exception as exc:  # a viewer should not raise; if it does, keep the item
                logger.warning("item %s: %s", item.id, exc)
                return ProbeAnswer(item_id=item.id, value=item.value, rating=None, raw=f"error: {exc}", reversed=item.reversed)

    answers = await asyncio.gather(*(one(i) for i in chosen))
    return Probe(
        after_turn=after_turn,
        instrument=instrument.id,
        scale_min=instrument.scale_min,
        scale_max=instrument.scale_max,
        like_me=instrument.like_me_end,
        answers=tuple(answers),
    )


@dataclass(frozen=True)
class ProbeCoverage:
    """How many questionnaire items got a readable rating, over one or more probes."""

    asked: int
    """Items asked, over every probe."""
    unanswered: int
    """Items whose reply could not be read as a rating (after the repair turn)."""
    sample_reply: str | None
    """One unreadable raw reply, shortened (None when every item was answered)."""

    @property
    def answered(self) -> int:
        """Items with a rating."""
        return self.asked - self.unanswered

    def describe(self) -> str:
        """One line: ``3 of 35 items unanswered; one reply was: '...'``."""
        text = f"{self.unanswered} of {self.asked} questionnaire items unanswered"
        if self.sample_reply is not None:
            text += f"; one reply was: {self.sample_reply!r}"
        return text


SAMPLE_REPLY_CHARS = 160
"""The most characters of a raw reply shown as the sample of an unanswered item."""


def probe_coverage(probes: Iterable[Probe]) -> ProbeCoverage:
    """Count the answered and unanswered items of ``probes`` and keep one unreadable reply."""
    asked = unanswered = 0
    sample: str | None = None
    for probe in probes:
        for answer in probe.answers:
            asked += 1
            if answer.rating is None:
                unanswered += 1
                if sample is None:
                    raw = " ".join(answer.raw.split()) or "(empty reply)"
                    sample = raw if len(raw) <= SAMPLE_REPLY_CHARS else raw[: SAMPLE_REPLY_CHARS - 3] + "..."
    return ProbeCoverage(asked=asked, unanswered=unanswered, sample_reply=sample)
