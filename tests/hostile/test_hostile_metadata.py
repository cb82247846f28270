"""Hostile sidecars, manifests and media for ``corpus import``: each bad item is rejected with
one bounded reason naming the file, field or line; the others are imported; nothing is written
outside ``--out``. Also hostile run directories for ``report`` and ``simulate``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _hostile import assert_one_line, cli, tree
from PIL import Image

from value_spectrum.retrieval.importer import import_collection

SIDECARS: dict[str, tuple[str | bytes, str]] = {
    "deep": ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    "notutf8": (b"\xff\xfe{}", "unreadable"),
    "longvalue": (json.dumps({"values": {"power": "high" * 5000}}), "values.power"),
    "traversal": (json.dumps({"id": "../../etc"}), "field 'id'"),
    "mediafield": (json.dumps({"keyframes": ["/etc/passwd"]}), "set by the importer"),
    "notobject": (json.dumps([1, 2, 3]), "expected a JSON object"),
    "badtype": (json.dumps({"duration_s": {"a": list(range(10_000))}}), "duration_s"),
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    src = tmp_path / "in"
    src.mkdir()
    for name, (content, _) in SIDECARS.items():
        Image.new("RGB", (20, 20)).save(src / f"{name}.png")
        side = src / f"{name}.json"
        side.write_bytes(content if isinstance(content, bytes) else content.encode())
    Image.new("RGB", (20, 20)).save(src / "good.png")
    (src / "empty.png").write_bytes(b"")
    (src / "fake.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    (src / "text.webp").write_text("not an image")
    return src


def test_each_bad_sidecar_named_briefly(folder: Path, tmp_path: Path) -> None:
    before = tree(tmp_path)
    result = import_collection(folder, tmp_path / "out")
    assert result.imported == ("good",)
    reasons = {Path(r.path).name: r.reason for r in result.rejected}
    for name, (_, needle) in SIDECARS.items():
        assert needle in reasons[f"{name}.png"], (name, reasons[f"{name}.png"])
        assert f"{name}.json" in reasons[f"{name}.png"]
    for name in ("empty.png", "fake.mp4", "text.webp"):
        assert name in reasons
    assert all(len(r) < 300 and "\n" not in r for r in reasons.values())
    after = tree(tmp_path, skip=[tmp_path / "out"])
    assert after == before  # nothing written outside --out


def test_hostile_manifest_rows(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for n in ("a", "b"):
        Image.new("RGB", (20, 20)).save(src / f"{n}.png")
    (tmp_path / "outside.png").write_bytes(b"x")
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "file,title\n../outside.png,x\n/etc/passwd,y\n" + 'a.png,"' + "z" * 200_000 + '"\n'
        + "b.png,fine\n\x00,nul\n"
    )
    result = import_collection(src, tmp_path / "out", manifest=manifest)
    assert sorted(result.imported) == ["a", "b"]
    reasons = {r.path: r.reason for r in result.rejected}
    assert "no media file '../outside.png'" in reasons["m.csv:2"]
    assert "no media file '/etc/passwd'" in reasons["m.csv:3"]
    assert "unreadable CSV row" in reasons["m.csv:4"]
    assert all(len(r) < 300 for r in reasons.values())


def test_hostile_jsonl_manifest(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    Image.new("RGB", (20, 20)).save(src / "a.png")
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("[" * 50_000 + "\n" + json.dumps({"file": "a.png", "title": "ok"}) + "\n42\n")
    result = import_collection(src, tmp_path / "out", manifest=manifest)
    assert result.imported == ("a",)
    reasons = {r.path: r.reason for r in result.rejected}
    assert "nested too deeply" in reasons["m.jsonl:1"] or "invalid JSON" in reasons["m.jsonl:1"]
    assert "expected a JSON object" in reasons["m.jsonl:3"]


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    out = tmp_path / "run"
    result = cli("simulate", "--model", "reference", "-p", "family_oriented", "--steps", "3", "--out", str(out), "--json")
    assert result.code == 0, result.stderr
    return out


def test_garbage_manifest_is_one_line_and_nothing_lost(run_dir: Path) -> None:
    sessions = tree(run_dir / "sessions")
    (run_dir / "manifest.json").write_text("garbage")
    again = cli("simulate", "--model", "reference", "-p", "family_oriented", "--steps", "3", "--out", str(run_dir))
    assert_one_line(again, str(run_dir / "manifest.json"), code=2)
    assert tree(run_dir / "sessions") == sessions


def test_newer_manifest_says_upgrade(run_dir: Path) -> None:
    (run_dir / "manifest.json").write_text('{"schema_version": 99}')
    result = cli("report", str(run_dir))
    assert_one_line(result, "manifest.json", "upgrade", code=(1, 2))


def test_damaged_session_record_is_set_aside_and_redone(run_dir: Path) -> None:
    (record,) = (run_dir / "sessions").glob("*.json")
    record.write_text('{"schema_version": 1, "x"')
    again = cli("simulate", "--model", "reference", "-p", "family_oriented", "--steps", "3", "--out", str(run_dir), "--json")
    assert again.code == 0, again.stderr
    assert record.is_file()
    assert (record.parent / (record.name + ".corrupt")).read_text() == '{"schema_version": 1, "x"'
