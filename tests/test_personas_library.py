"""The built-in persona library: size, coverage, and that each target tells its story."""

from __future__ import annotations

import re

import pytest

from value_spectrum.personas import Persona, builtin_persona_ids, get_persona, load_builtin_personas
from value_spectrum.values import VALUE_IDS, VALUES, angular_distance, circle_fit

LIBRARY = load_builtin_personas()
FIRST_PERSON = re.compile(r"\b(I|my|me|myself)\b", re.IGNORECASE)
TAGS = {"archetype", "paper", "mixed", "conflicting"}


def _by_tag(tag: str) -> list[Persona]:
    return [p for p in LIBRARY if tag in p.tags]


def test_library_size_and_unique_sorted_ids() -> None:
    ids = [p.id for p in LIBRARY]
    assert len(ids) >= 24
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert builtin_persona_ids() == tuple(ids)


def test_cached() -> None:
    assert load_builtin_personas() is LIBRARY


def test_each_persona_is_complete() -> None:
    for p in LIBRARY:
        assert set(p.target.as_dict()) == set(VALUE_IDS), p.id
        assert 3 <= len(p.traits) <= 6, p.id
        for trait in p.traits:  # Persona-Chat style: first person
            assert FIRST_PERSON.search(trait), (p.id, trait)
        assert all(t.endswith((".", "!")) for t in p.traits), p.id
        assert p.description, p.id
        assert set(p.tags) <= TAGS, p.id
        assert len(p.tags) == 1, p.id


def test_tag_counts() -> None:
    assert len(_by_tag("archetype")) == 10
    assert {p.id for p in _by_tag("paper")} == {
        "family_oriented",
        "adventurous_spirit",
        "tradition_respecting",
    }
    assert len(_by_tag("mixed")) >= 8
    assert len(_by_tag("conflicting")) >= 3


def test_targets_are_spread() -> None:
    for p in LIBRARY:
        arr = p.target.as_array()
        assert arr.max() - arr.min() >= 0.5, p.id
        assert arr.max() >= 0.85, p.id
    everything = [x for p in LIBRARY for x in p.target.as_array()]
    assert min(everything) <= 0.1
    assert max(everything) >= 0.95


@pytest.mark.parametrize("value", VALUES, ids=VALUE_IDS)
def test_one_archetype_per_value_with_that_value_on_top(value: object) -> None:
    p = get_persona(f"archetype_{value}")
    assert "archetype" in p.tags
    arr = p.target.as_array()
    top = p.target.primary()
    assert top == value
    second = sorted(arr)[-2]
    assert p.target[top] - second >= 0.15, "the archetype value must stand out"


def test_non_conflicting_targets_follow_the_circle() -> None:
    for p in LIBRARY:
        if "conflicting" in p.tags:
            continue
        fit = circle_fit(p.target)
        assert fit.r2 >= 0.5, (p.id, fit.r2)
        assert fit.respects_circle()
        # the fitted peak lies next to the persona's top value
        assert angular_distance(fit.peak_value, p.target.primary()) <= 40.0, p.id


def test_conflicting_personas_hold_opposite_values_high() -> None:
    for p in _by_tag("conflicting"):
        high = [v for v in VALUES if p.target[v] >= 0.85]
        assert any(angular_distance(a, b) >= 120.0 for a in high for b in high), (
            f"{p.id}: no opposite pair among {high}"
        )
        assert circle_fit(p.target).r2 < 0.5, p.id


def test_paper_personas_tell_their_story() -> None:
    assert get_persona("family_oriented").target.primary().value == "benevolence"
    assert get_persona("adventurous_spirit").target.primary().value == "stimulation"
    assert get_persona("tradition_respecting").target.primary().value == "tradition"
