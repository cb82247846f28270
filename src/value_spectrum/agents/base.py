"""The seam between a viewer (anything that decides) and the loop that drives it.

A viewer turns persona + observation into a :class:`ViewerReply`. It never raises for a bad
model reply or a provider failure: those come back as outcomes (``unparseable``, ``refused``,
``error``) with the raw text kept. This module imports no LangGraph and no litellm.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from value_spectrum.personas.model import Persona
from value_spectrum.personas.questionnaire import Instrument, Item
from value_spectrum.records import Decision, Observation, Outcome, ProbeAnswer, Step, Usage


@dataclass(frozen=True)
class ViewerReply:
    """What came back from one decision."""

    outcome: Outcome
    """like | skip | unparseable | refused | error."""
    decision: Decision | None = None
    """Set exactly when the outcome is like or skip."""
    raw: str = ""
    """The raw final reply."""
    earlier_raws: tuple[str, ...] = ()
    """Replies before the final one, oldest first (the unreadable reply a repair replaced)."""
    repaired: bool = False
    """The decision comes from the repair turn's reply."""
    error: str = ""
    """Why it failed, for the failure outcomes."""
    searches: tuple[str, ...] = ()
    """Queries sent to the search tool during this decision."""
    usage: Usage = field(default_factory=Usage)
    """Tokens and cost."""


class SearchTool(Protocol):
    """What a viewer may call to search the collection. Never raises: a failure is a string
    the model can read."""

    def __call__(self, query: str, k: int = 5, platform: str | None = None) -> list[dict[str, Any]] | str: ...


@runtime_checkable
class Viewer(Protocol):
    """Decides like or skip for one observation, in character."""

    name: str
    """The model string, or 'reference' for the reference viewer."""

    @property
    def wants_images(self) -> bool:
        """True when the viewer looks at keyframes (the loop renders them only then)."""
        ...

    def describe(self) -> dict[str, Any]:
        """Provenance for the trajectory (model, strategy, settings; never a key)."""
        ...

    async def decide(
        self,
        persona: Persona | None,
        observation: Observation,
        *,
        history: Sequence[Step] = (),
        search: SearchTool | None = None,
    ) -> ViewerReply:
        """One decision. ``persona`` is None for the paper's plain (no-persona) question."""
        ...

    async def rate(self, persona: Persona | None, instrument: Instrument, item: Item) -> ProbeAnswer:
        """Answer one questionnaire item in character; an unreadable reply gives rating None."""
        ...


@runtime_checkable
class DescribesSessions(Protocol):
    """A viewer that also records what it was given for one persona (the reference viewer, or
    any viewer with ``describe_session``): its session records carry that instead of
    :meth:`Viewer.describe`."""

    def describe_session(self, persona: Persona | None) -> dict[str, Any]:
        """Provenance of this viewer for ``persona``'s session."""
        ...
