"""Issue 12 item 1: YAML alias bombs and other hostile data files are refused at the loader,
quickly and in one line, and no message renders an unbounded value."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from _hostile import assert_one_line, cli, tree

from value_spectrum._yaml import MAX_EXPANDED_NODES, AliasBomb, BoundedSafeLoader, expanded_size
from value_spectrum.personas._files import show_value
from value_spectrum.personas.loading import PersonaError, load_personas
from value_spectrum.retrieval.labelling import load_value_keywords


def billion_laughs(levels: int = 9, width: int = 9, top: str = "personas") -> str:
    """The classic bomb: each level is a list of ``width`` aliases of the level below."""
    lines = ["l0: &l0 [" + ", ".join(['"lol"'] * width) + "]"]
    for n in range(1, levels):
        lines.append(f"l{n}: &l{n} [" + ", ".join([f"*l{n - 1}"] * width) + "]")
    lines.append(f"{top}: *l{levels - 1}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def bomb(tmp_path: Path) -> Path:
    path = tmp_path / "laughs.yaml"
    path.write_text(billion_laughs(), encoding="utf-8")
    return path


def test_loader_refuses_the_bomb_before_building_it(bomb: Path) -> None:
    with pytest.raises(AliasBomb) as info:
        yaml.load(bomb.read_text(), Loader=BoundedSafeLoader)
    assert info.value.nodes > MAX_EXPANDED_NODES


def test_loader_keeps_ordinary_anchors() -> None:
    text = "base: &b {name: Ann, values: {family: 0.9}}\npersonas: [*b, *b, {<<: *b, name: Bo}]\n"
    data = yaml.load(text, Loader=BoundedSafeLoader)
    assert data["personas"][2]["name"] == "Bo"
    assert data["personas"][0]["values"] == {"family": 0.9}


def test_expanded_size_counts_shared_nodes_once_per_use() -> None:
    node = yaml.compose(billion_laughs(levels=3, width=3), Loader=yaml.SafeLoader)
    # 3 levels of 3: l0 = 1 + 3 scalars; l1 = 1 + 3*4; l2 = 1 + 3*13; the mapping holds all
    assert expanded_size(node) > 40


def test_recursive_alias_does_not_loop() -> None:
    data = yaml.load("a: &a [1, *a]\n", Loader=BoundedSafeLoader)
    assert data["a"][1] is data["a"]


def test_personas_validate_refuses_in_one_line(bomb: Path) -> None:
    result = cli("personas", "validate", str(bomb))
    assert result.code == 1
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert str(bomb) in lines[0]
    assert "alias" in lines[0]
    assert len(lines[0]) < 300


def test_simulate_refuses_the_bomb_and_writes_nothing(bomb: Path, tmp_path: Path) -> None:
    before = tree(tmp_path)
    out = tmp_path / "run"
    result = cli("simulate", "-p", str(bomb), "--out", str(out), "--model", "reference")
    assert_one_line(result, str(bomb), "alias", code=(1, 2))
    assert tree(tmp_path) == before
    assert not out.exists()


def test_keyword_file_bomb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "kw.yaml"
    path.write_text(billion_laughs(top="family"), encoding="utf-8")
    with pytest.raises(ValueError, match=r"kw\.yaml"):
        load_value_keywords(path)


def test_show_value_is_bounded_for_huge_values() -> None:
    level: object = "x" * 1000
    for _ in range(6):
        level = [level] * 1000  # shared, like an expanded alias: 10^18 strings if rendered
    text = show_value(level)
    assert len(text) <= 60


def test_huge_scalar_named_briefly(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("id: p1\nname: P\nvalues: " + "9" * 200_000 + "\n", encoding="utf-8")
    with pytest.raises(PersonaError) as info:
        load_personas(path)
    message = str(info.value)
    assert str(path) in message
    assert len(message) < 400
    assert "\n" not in message


def test_deeply_nested_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("personas: " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    with pytest.raises(PersonaError) as info:
        load_personas(path)
    assert str(path) in str(info.value)


def test_instrument_bomb_is_one_line(bomb: Path) -> None:
    result = cli("personas", "validate", "--instrument", str(bomb))
    assert result.code == 1
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert str(bomb) in lines[0]
    assert "alias" in lines[0]


def test_keywords_bomb_on_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "kw.yaml"
    path.write_text(billion_laughs(top="family"), encoding="utf-8")
    result = cli("corpus", "label", "--keywords", str(path), "-e", "fake", "-i", str(tmp_path / "idx"))
    assert_one_line(result, str(path), "alias", code=2)
