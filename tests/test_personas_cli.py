"""`value-spectrum personas list | show | validate`."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from value_spectrum.cli.app import build_app
from value_spectrum.personas import load_builtin_personas
from value_spectrum.personas.loading import BUILTIN_DIR
from value_spectrum.values import VALUE_IDS

runner = CliRunner()


def _run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(build_app(), ["personas", *args])
    return result.exit_code, result.stdout, result.stderr


def test_list_table() -> None:
    code, out, _ = _run("list")
    assert code == 0
    assert "family_oriented" in out
    assert f"{len(load_builtin_personas())} built-in personas" in out


def test_list_json_shape() -> None:
    code, out, _ = _run("list", "--json")
    assert code == 0
    data = json.loads(out)
    assert isinstance(data, list)
    assert len(data) == len(load_builtin_personas()) >= 24
    for entry in data:
        assert {"id", "name", "values", "tags", "traits", "description"} <= set(entry)
        assert list(entry["values"]) == list(VALUE_IDS)
        assert all(isinstance(x, float) for x in entry["values"].values())


def test_list_filter_by_tag() -> None:
    code, out, _ = _run("list", "--json", "--tag", "conflicting")
    assert code == 0
    data = json.loads(out)
    assert data
    assert all("conflicting" in d["tags"] for d in data)


def test_list_unknown_tag_is_one_line_naming_the_tags() -> None:
    code, _, err = _run("list", "--tag", "conflictng")
    assert code == 2
    assert "'conflictng'" in err
    assert "conflicting" in err.replace("'conflictng'", "")


def test_show_table_and_json() -> None:
    code, out, _ = _run("show", "adventurous_spirit")
    assert code == 0
    assert "I have backpacked through forty countries." in out
    assert "stimulation" in out
    assert "█" in out
    code, out, _ = _run("show", "adventurous_spirit", "--json")
    assert code == 0
    assert json.loads(out)["values"]["stimulation"] == 0.95


def test_show_unknown_is_a_usage_error() -> None:
    code, _, err = _run("show", "no_such_persona")
    assert code == 2
    assert "unknown persona 'no_such_persona'" in err


def test_validate_ok(tmp_path: Path) -> None:
    files = sorted(str(p) for p in BUILTIN_DIR.glob("*.yaml"))[:3]
    code, out, _ = _run("validate", *files)
    assert code == 0
    assert out.splitlines() == [f"ok: {f} (1 persona)" for f in files]


def test_validate_problems_exit_one(tmp_path: Path) -> None:
    good = sorted(BUILTIN_DIR.glob("*.yaml"))[0]
    data = yaml.safe_load(good.read_text(encoding="utf-8"))
    data["target"]["benevolance"] = data["target"].pop("benevolence")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data), encoding="utf-8")
    missing = tmp_path / "missing.yaml"
    code, out, err = _run("validate", str(good), str(bad), str(missing))
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == f"ok: {good} (1 persona)"
    assert lines[1].startswith(f"{bad}: field 'target.benevolance': unknown value name")
    assert lines[2] == f"{missing}: no such file"
    assert len(lines) == 3
    assert "2 problems found" in err


def test_validate_instrument_files(tmp_path: Path) -> None:
    from value_spectrum.personas.instruments import INSTRUMENT_DIR

    builtin = INSTRUMENT_DIR / "vs-portrait-v1.yaml"
    code, out, _ = _run("validate", "--instrument", str(builtin))
    assert code == 0
    assert out.startswith(f"ok: {builtin} (")
    bad = tmp_path / "inst.yaml"
    bad.write_text("id: x\nlicence: mine\nitems: []\n", encoding="utf-8")
    code, out, _ = _run("validate", "--instrument", str(bad))
    assert code == 1
    assert out.startswith(f"{bad}: field 'items'")
