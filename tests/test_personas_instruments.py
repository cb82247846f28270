"""Questionnaire instruments: the built-in portrait items and user files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from value_spectrum.personas import (
    BUILTIN_INSTRUMENT_ID,
    Instrument,
    InstrumentError,
    builtin_instruments,
    load_instrument,
)
from value_spectrum.personas.instruments import INSTRUMENT_DIR
from value_spectrum.values import VALUE_IDS

BUILTIN_FILE = INSTRUMENT_DIR / "vs-portrait-v1.yaml"


def _raw() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(BUILTIN_FILE.read_text(encoding="utf-8"))
    return data


def test_default_and_by_id() -> None:
    inst = load_instrument(None)
    assert inst.id == BUILTIN_INSTRUMENT_ID
    assert load_instrument("vs-portrait-v1") is inst
    assert builtin_instruments() == (inst,)


def test_builtin_portrait_items() -> None:
    inst = load_instrument(None)
    assert inst.licence == "MIT (Value-Spectrum toolkit's own items)"
    assert inst.validated is False
    assert (inst.scale_min, inst.scale_max) == (1, 6)
    assert inst.anchors[1] == "Not like me at all"
    assert inst.anchors[6] == "Very much like me"
    assert set(inst.anchors) == set(range(1, 7))
    assert inst.instructions
    for value in VALUE_IDS:
        items = inst.items_for(value)
        assert len(items) >= 3, value
        assert any(not i.reversed for i in items), value
    assert sum(i.reversed for i in inst.items) >= 3
    for item in inst.items:
        assert 1 <= len(item.variants) <= 2, item.id
        assert item.text not in item.variants
        assert "this person" in (item.text + " ".join(item.variants)).lower(), item.id
    texts = [i.text for i in inst.items] + [v for i in inst.items for v in i.variants]
    assert len(set(texts)) == len(texts)


def test_user_json_file_with_string_anchor_keys(tmp_path: Path) -> None:
    data = _raw()
    data["id"] = "mine"
    data["anchors"] = {str(k): v for k, v in data["anchors"].items()}
    data["items"][0]["value"] = "Self-Direction"
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    inst = load_instrument(path)
    assert isinstance(inst, Instrument)
    assert inst.id == "mine"
    assert inst.anchors[6] == "Very much like me"
    assert inst.items[0].value == "self_direction"
    assert load_instrument(str(path)) == inst


def _error(tmp_path: Path, data: Any) -> str:
    path = tmp_path / "inst.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(InstrumentError) as info:
        load_instrument(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    return message


def test_misspelt_item_value(tmp_path: Path) -> None:
    data = _raw()
    data["items"][4]["value"] = "stimulaton"
    message = _error(tmp_path, data)
    assert "field 'items[4].value': unknown value name 'stimulaton'" in message
    assert "did you mean 'stimulation'" in message


def test_duplicate_item_id(tmp_path: Path) -> None:
    data = _raw()
    data["items"][2]["id"] = data["items"][0]["id"]
    assert "field 'items[2].id': duplicate item id" in _error(tmp_path, data)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"licence": ""}, "field 'licence'"),
        ({"scale_max": 1}, "scale_min 1 must be below scale_max 1"),
        ({"anchors": {0: "never", 6: "always"}}, "field 'anchors.0': anchor outside the scale 1-6"),
        ({"items": []}, "field 'items'"),
        ({"extra": 1}, "field 'extra': unknown field"),
    ],
)
def test_schema_problems(tmp_path: Path, change: dict[str, Any], expected: str) -> None:
    data = _raw()
    data.update(change)
    assert expected in _error(tmp_path, data)


def test_missing_licence_field(tmp_path: Path) -> None:
    data = _raw()
    del data["licence"]
    assert "field 'licence': required field is missing" in _error(tmp_path, data)


def test_unknown_id_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InstrumentError, match="unknown instrument 'pvq-rr'"):
        load_instrument("pvq-rr")
    with pytest.raises(InstrumentError, match="no such file"):
        load_instrument(tmp_path / "none.yaml")
