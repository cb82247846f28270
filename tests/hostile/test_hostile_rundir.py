"""Issue 12 items 4, 7 and 8 for run directories: a garbage checkpoint database and a full disk
are one line naming the file and what to do; a damaged labels.json is rewritten on rerun; the
run's files are owner-only; side files are written through the fsyncing writer."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from _hostile import assert_one_line, cli, others_can_read, tree

from value_spectrum.runlog import RunLog

REF = ("--model", "reference", "--personas", "family_oriented", "--personas", "archetype_power", "--steps", "3")


def _simulate(out: Path, *extra: str) -> object:
    return cli("simulate", *REF, "--out", str(out), "--json", *extra)


def test_garbage_checkpoints_is_one_line_and_keeps_finished_sessions(tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = _simulate(out)
    assert first.code == 0, first.stderr  # type: ignore[attr-defined]
    sessions = tree(out / "sessions")
    (out / "checkpoints.sqlite").write_bytes(b"this is not sqlite " * 300)
    result = _simulate(out)
    line = assert_one_line(result, str(out / "checkpoints.sqlite"), "move it aside", code=2)  # type: ignore[arg-type]
    assert "Traceback" not in line
    assert tree(out / "sessions") == sessions  # nothing already done lost


def test_full_disk_while_storing_sessions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run"

    def no_space(self: RunLog, trajectory: object, **_: object) -> Path:
        raise OSError(errno.ENOSPC, "No space left on device", str(self.session_path("x")))

    monkeypatch.setattr(RunLog, "write_session", no_space)
    result = _simulate(out)
    assert result.code == 1  # type: ignore[attr-defined]
    summary = json.loads(result.stdout)  # type: ignore[attr-defined]
    assert len(summary["sessions_failed"]) == 2
    assert all("No space left on device" in f and "free some space" in f for f in summary["sessions_failed"])
    assert "Traceback" not in result.stderr  # type: ignore[attr-defined]
    monkeypatch.undo()
    again = _simulate(out)  # space freed: the same command finishes the run
    assert again.code == 0, again.stderr  # type: ignore[attr-defined]
    assert len(list((out / "sessions").glob("*.json"))) == 2


def test_full_disk_before_the_run_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import value_spectrum.runlog.atomic as atomic

    real = atomic._fsync_file

    def full(path: Path) -> None:
        if "labels" in path.name:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path)

    monkeypatch.setattr(atomic, "_fsync_file", full)
    out = tmp_path / "run"
    result = _simulate(out)
    assert_one_line(result, str(out / "labels.json"), "No space left on device", code=2)  # type: ignore[arg-type]
    assert not list(out.glob(".labels*"))  # no temporary file left behind


def test_damaged_labels_json_is_rewritten_on_rerun(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert _simulate(out).code == 0  # type: ignore[attr-defined]
    good = (out / "labels.json").read_text()
    (out / "labels.json").write_text('{"schema_version": 1, "videos": {"x": ')
    (out / "personas.json").write_text("garbage")
    again = _simulate(out)
    assert again.code == 0, again.stderr  # type: ignore[attr-defined]
    assert (out / "labels.json").read_text() == good
    assert json.loads((out / "personas.json").read_text())["personas"]
    report = cli("report", str(out), "--json")
    assert report.code == 0, report.stderr


def test_run_files_are_owner_only(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert _simulate(out).code == 0  # type: ignore[attr-defined]
    assert (out / "checkpoints.sqlite").exists()
    paths = [out, *out.rglob("*")]
    for p in paths:
        assert not others_can_read(p), (p, oct(p.stat().st_mode))


def test_run_files_owner_only_even_with_a_loose_umask(tmp_path: Path) -> None:
    old = os.umask(0o000)
    try:
        out = tmp_path / "run"
        assert _simulate(out).code == 0  # type: ignore[attr-defined]
    finally:
        os.umask(old)
    for p in (out, out / "sessions", out / "checkpoints.sqlite", *out.glob("checkpoints.sqlite-*")):
        assert not others_can_read(p), (p, oct(p.stat().st_mode))


def test_side_files_and_corpus_are_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    from value_spectrum.retrieval.importer import import_collection

    synced: list[str] = []
    real = os.fsync

    def spy(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}") if os.path.exists(f"/proc/self/fd/{fd}") else str(fd))
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    src = tmp_path / "in"
    src.mkdir()
    Image.new("RGB", (20, 20)).save(src / "a.png")
    import_collection(src, tmp_path / "corpus")
    assert _simulate(tmp_path / "run").code == 0  # type: ignore[attr-defined]
    names = " ".join(synced)
    for stem in (".corpus.", ".labels.", ".personas.", ".manifest."):
        assert stem in names, (stem, synced)
