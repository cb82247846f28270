"""Sound instruments: the scale's direction is declared and checked against the anchors, a
reversed twin scores the same, unsound answers are refused with the item named, straight-lining
and missingness are flagged, and reliability (Cronbach's alpha, ICC) matches hand computations."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from value_spectrum.agents.reference import ReferenceViewer
from value_spectrum.cli.app import build_app
from value_spectrum.personas import get_persona
from value_spectrum.personas.instruments import InstrumentError, load_instrument, parse_instrument
from value_spectrum.records import Probe, ProbeAnswer
from value_spectrum.scoring.questionnaire import cronbach_alpha, icc, score_probe
from value_spectrum.values import VALUE_IDS


def _instrument(like_me: str | None, anchors: dict[int, str]) -> dict:  # type: ignore[type-arg]
    data = {
        "id": "twin",
        "licence": "test",
        "scale_min": 1,
        "scale_max": 6,
        "anchors": anchors,
        "items": [
            {"id": f"{v}_{i}", "value": v, "text": f"Item {i} about {v}.", "reversed": i == 2}
            for v in VALUE_IDS
            for i in (1, 2)
        ],
    }
    if like_me is not None:
        data["like_me"] = like_me
    return data


NATURAL = {1: "Not like me at all", 6: "Very much like me"}
REVERSED = {1: "Very much like me", 6: "Not like me at all"}


def _administer(inst_data: dict) -> Probe:  # type: ignore[type-arg]
    inst = parse_instrument(inst_data, "test")
    viewer = ReferenceViewer({}, seed=1)
    persona = get_persona("humanitarian_nurse")
    answers = [asyncio.run(viewer.rate(persona, inst, item)) for item in inst.items]
    return Probe(
        after_turn=0,
        instrument=inst.id,
        scale_min=inst.scale_min,
        scale_max=inst.scale_max,
        like_me=inst.like_me_end,
        answers=tuple(answers),
    )


def test_reversed_twin_scores_the_same() -> None:
    natural = score_probe(_administer(_instrument("max", NATURAL)))
    twin = score_probe(_administer(_instrument("min", REVERSED)))
    assert natural.centred is not None
    assert twin.centred is not None
    np.testing.assert_allclose(natural.centred.as_array(), twin.centred.as_array())
    # the ratings themselves run the other way
    a = _administer(_instrument("max", NATURAL)).answers[0].rating
    b = _administer(_instrument("min", REVERSED)).answers[0].rating
    assert a is not None
    assert b is not None
    assert a + b == 7


def test_direction_is_checked_against_the_anchors() -> None:
    with pytest.raises(InstrumentError, match="set like_me: min"):
        parse_instrument(_instrument(None, REVERSED), "rev.yaml")
    with pytest.raises(InstrumentError, match="like_me declares 'max'"):
        parse_instrument(_instrument("max", REVERSED), "rev.yaml")
    assert parse_instrument(_instrument(None, NATURAL), "n.yaml").like_me_end == "max"
    assert load_instrument(None).like_me_end == "max"


def _probe(answers: list[tuple[str, str, object]]) -> Probe:
    return Probe(
        after_turn=0,
        instrument="t",
        answers=tuple(
            ProbeAnswer.model_construct(item_id=i, value=v, rating=r, raw=str(r), reversed=False)
            for i, v, r in answers
        ),
    )


def _full(rating: object = 4) -> list[tuple[str, str, object]]:
    return [(f"{v}_1", v, 3 + (k % 3)) for k, v in enumerate(VALUE_IDS)] + [("extra", "power", rating)]


def test_unsound_answers_are_refused_naming_the_item() -> None:
    s = score_probe(_probe(_full(7)))
    assert s.centred is None
    assert "item 'extra'" in s.reason
    assert "value 'power'" in s.reason
    assert "outside the scale 1-6" in s.reason
    for bad, why in ((0, "outside"), (99, "outside"), (True, "not an integer")):
        assert why in score_probe(_probe(_full(bad))).reason
    twice = [*_full(), ("extra", "power", 2)]
    assert "answered twice" in score_probe(_probe(twice)).reason
    unknown = [*_full(), ("odd", "kindness", 3)]
    assert "unknown value 'kindness'" in score_probe(_probe(unknown)).reason
    spelled = [*_full(), ("spelled", "Self-Direction", 5)]
    ok = score_probe(_probe(spelled))
    assert ok.centred is not None
    assert ok.raw["self_direction"] == pytest.approx(4.0)  # (3 + 5) / 2


def test_straight_lining_and_missingness_are_flagged() -> None:
    flat = score_probe(_probe([(f"{v}_1", v, 4) for v in VALUE_IDS]))
    assert any("straight-lining" in f for f in flat.flags)
    sparse = _full() + [(f"m{i}", "power", None) for i in range(5)]
    assert any("missingness" in f for f in score_probe(_probe(sparse)).flags)


def test_reliability_hand_cases() -> None:
    parallel = np.array([[1, 2], [2, 3], [3, 4]], dtype=float)
    assert cronbach_alpha(parallel) == pytest.approx(1.0)
    # k/(k-1) (1 - sum var / var total) by hand
    m = np.array([[1, 3, 2], [2, 2, 3], [4, 5, 4], [3, 3, 5]], dtype=float)
    k = 3
    expected = k / (k - 1) * (1 - m.var(axis=0, ddof=1).sum() / m.sum(axis=1).var(ddof=1))
    assert cronbach_alpha(m) == pytest.approx(expected)
    # Shrout and Fleiss (1979), table 2: ICC(2,1) = 0.29
    sf = np.array(
        [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]],
        dtype=float,
    )
    assert icc(sf) == pytest.approx(0.29, abs=0.005)
    assert np.isnan(icc(sf[:, :1]))


def test_personas_validate_recognises_instrument_files(tmp_path: Path) -> None:
    bad = tmp_path / "reversed.yaml"
    bad.write_text(yaml.safe_dump(_instrument(None, REVERSED)))
    good = tmp_path / "twin.yaml"
    good.write_text(yaml.safe_dump(_instrument("min", REVERSED)))
    result = CliRunner().invoke(build_app(), ["personas", "validate", str(good), str(bad)])
    assert result.exit_code == 1
    assert f"ok: {good} (20 items)" in result.output
    assert "set like_me: min" in result.output
