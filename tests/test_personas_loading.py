"""Loading persona files: formats, and one-line errors naming file, field and value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from value_spectrum.personas import (
    PersonaError,
    check_file,
    get_persona,
    load_personas,
    persona_record,
)
from value_spectrum.values import VALUE_IDS


def _persona(pid: str = "tester", **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": pid,
        "name": "Tester",
        "description": "A persona for tests.",
        "traits": ["I test things.", "I like order.", "I help my team."],
        "target": dict(
            zip(VALUE_IDS, [0.1, 0.1, 0.2, 0.4, 0.6, 0.9, 0.8, 0.6, 0.5, 0.2], strict=True)
        ),
        "tags": ["mixed"],
    }
    data.update(changes)
    return data


def _write(tmp_path: Path, name: str, data: Any) -> Path:
    path = tmp_path / name
    if name.endswith(".json"):
        path.write_text(json.dumps(data), encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_single_persona_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "one.yaml", _persona(demographics={"age": 30, "country": "Chile"}))
    (p,) = load_personas(path)
    assert p.id == "tester"
    assert p.target.primary().value == "security"
    assert p.demographics == {"age": 30, "country": "Chile"}
    assert get_persona(path) == p
    assert get_persona(str(path)) == p


def test_list_under_personas_key_and_json(tmp_path: Path) -> None:
    data = {"personas": [_persona("a"), _persona("b")]}
    for name in ("many.yaml", "many.json"):
        personas = load_personas(_write(tmp_path, name, data))
        assert [p.id for p in personas] == ["a", "b"]


def test_value_name_spellings_are_normalised(tmp_path: Path) -> None:
    target = {k.replace("_", "-").title(): v for k, v in _persona()["target"].items()}
    (p,) = load_personas(_write(tmp_path, "spelled.yaml", _persona(target=target)))
    assert p.target.as_dict() == _persona()["target"]


def test_misspelt_value_names_file_field_and_value(tmp_path: Path) -> None:
    target = dict(_persona()["target"])
    target["benevolance"] = target.pop("benevolence")
    path = _write(tmp_path, "my.yaml", _persona(target=target))
    with pytest.raises(PersonaError) as info:
        load_personas(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: field 'target.benevolance': unknown value name")
    assert "'benevolance'" in message
    assert "did you mean 'benevolence'" in message
    assert "expected one of: self_direction" in message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"target": {"power": 0.5}}, "field 'target': missing values: self_direction"),
        ({"traits": ["I am short."]}, "field 'traits':"),
        ({"id": "Bad Id"}, "field 'id':"),
        ({"colour": "blue"}, "field 'colour': unknown field"),
        ({"target": "high"}, "field 'target': must be a mapping"),
    ],
)
def test_schema_problems_are_one_line(
    tmp_path: Path, change: dict[str, Any], expected: str
) -> None:
    path = _write(tmp_path, "bad.yaml", _persona(**change))
    with pytest.raises(PersonaError) as info:
        load_personas(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert expected in message


@pytest.mark.parametrize("bad", [1.5, -0.1, "high", True, None])
def test_target_numbers_must_be_in_unit_range(tmp_path: Path, bad: object) -> None:
    target = dict(_persona()["target"])
    target["power"] = bad
    path = _write(tmp_path, "range.yaml", _persona(target=target))
    with pytest.raises(PersonaError, match=r"field 'target\.power': must be a number in \[0, 1\]"):
        load_personas(path)


def test_check_file_reports_every_problem_and_keeps_the_good(tmp_path: Path) -> None:
    bad_target = dict(_persona()["target"], power=3)
    data = {"personas": [_persona("good"), _persona("bad", target=bad_target), _persona("good")]}
    result = check_file(_write(tmp_path, "mixed.yaml", data))
    assert not result.ok
    assert [p.id for p in result.personas] == ["good"]
    assert len(result.problems) == 2
    assert "personas[1].target.power" in result.problems[0]
    assert "duplicate persona id 'good'" in result.problems[1]
    assert "personas[2].id" in result.problems[1]


def test_missing_empty_and_broken_files(tmp_path: Path) -> None:
    assert check_file(tmp_path / "nope.yaml").problems == (
        f"{tmp_path / 'nope.yaml'}: no such file",
    )
    empty = tmp_path / "empty.yaml"
    empty.write_text("", encoding="utf-8")
    assert "the file is empty" in check_file(empty).problems[0]
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: [unclosed\nname: x\n", encoding="utf-8")
    (problem,) = check_file(broken).problems
    assert problem.startswith(f"{broken}: invalid YAML at line")
    assert "\n" not in problem


def test_get_persona_by_id_and_unknown_id() -> None:
    assert get_persona("adventurous_spirit").id == "adventurous_spirit"
    with pytest.raises(PersonaError, match="did you mean 'family_oriented'"):
        get_persona("family_orientd")
    with pytest.raises(PersonaError, match="unknown persona 'zzz'"):
        get_persona("zzz")


def test_get_persona_refuses_a_file_with_several(tmp_path: Path) -> None:
    path = _write(tmp_path, "two.yaml", {"personas": [_persona("a"), _persona("b")]})
    with pytest.raises(PersonaError, match=r"holds 2 personas \(a, b\)"):
        get_persona(path)


def test_persona_record_shape() -> None:
    record = persona_record(get_persona("family_oriented"))
    assert list(record["values"]) == list(VALUE_IDS)
    assert record["top_values"][0] == "benevolence"
    assert {"id", "name", "description", "tags", "traits", "demographics"} <= set(record)
    json.dumps(record)  # JSON-ready
