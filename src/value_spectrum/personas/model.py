"""The :class:`Persona` record: who the viewer is asked to be."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from value_spectrum.values import ValueProfile


class Persona(BaseModel):
    """A person for a model to play: traits in the Persona-Chat style and a target value
    profile that the traits express.

    Example:
        >>> from value_spectrum.values import ValueProfile
        >>> p = Persona(id="demo", name="Demo", description="A demo.",
        ...     traits=("I love my family.", "I cook every Sunday.", "I go to church."),
        ...     target=ValueProfile.from_mapping({"benevolence": 0.9}, default=0.3))
        >>> p.target.primary().value
        'benevolence'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$")
    """Stable identifier: lower-case letters, digits, '_' and '-'."""
    name: str = Field(min_length=1)
    """A short human-readable name."""
    description: str = ""
    """One or two sentences on who this is."""
    traits: tuple[str, ...] = Field(min_length=3, max_length=6)
    """3 to 6 short first-person sentences (Persona-Chat style), shown to the model."""
    target: ValueProfile
    """The value profile the traits express: importance of each value in [0, 1]."""
    demographics: dict[str, str | int] = Field(default_factory=dict)
    """Optional: age, country, occupation, ... Shown to the model only by strategies that ask."""
    tags: tuple[str, ...] = ()
    """Library tags: archetype, paper, mixed, conflicting, ..."""

    @field_validator("traits")
    @classmethod
    def _traits_first_person(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for t in v:
            if not t.strip():
                raise ValueError("traits must not be empty strings")
        return tuple(t.strip() for t in v)

    @field_validator("target")
    @classmethod
    def _target_in_unit_range(cls, v: ValueProfile) -> ValueProfile:
        for key, number in v.as_dict().items():
            if not 0.0 <= number <= 1.0:
                raise ValueError(f"target.{key} must be in [0, 1], got {number!r}")
        return v
