"""Issue 12 item 9: two corpora whose folders share a name never share a search index; item 7:
the index's files are created owner-only (never group- or other-readable, even for a moment)."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from _hostile import cli, others_can_read

from value_spectrum._private import owner_only_creation
from value_spectrum.records import Video
from value_spectrum.retrieval.building import default_index_dir, index_key, open_index
from value_spectrum.retrieval.corpus import CORPUS_FILE, Corpus, load_corpus
from value_spectrum.retrieval.embedders.registry import make_embedder
from value_spectrum.retrieval.index import ChromaVideoIndex


def _corpus(folder: Path, prefix: str, topic: str) -> Path:
    folder.mkdir(parents=True)
    cards = [Video(id=f"{prefix}{i}", title=f"{topic} video {i}", topic=topic) for i in range(4)]
    (folder / CORPUS_FILE).write_text("".join(c.model_dump_json() + "\n" for c in cards))
    return folder


@pytest.fixture
def twins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv("VALUE_SPECTRUM_CACHE", str(tmp_path / "cache"))
    return (_corpus(tmp_path / "a" / "my_corpus", "a", "cooking"),
            _corpus(tmp_path / "b" / "my_corpus", "b", "football"))


def test_same_folder_name_different_index(twins: tuple[Path, Path]) -> None:
    a, b = (load_corpus(p) for p in twins)
    assert a.name == b.name
    assert default_index_dir(a, "fake") != default_index_dir(b, "fake")
    fake = make_embedder("fake", dim=32)
    first = open_index(a, fake)
    second = open_index(b, fake)
    assert first.report is not None
    assert second.report is not None
    assert second.report.removed == 0  # b did not evict a's items
    assert second.report.added == 4
    again = open_index(a, fake)
    assert again.report is not None
    assert again.report.skipped == 4  # a's index is intact
    assert again.report.added == again.report.removed == 0
    query = fake.embed_texts(["cooking video 1"])[0]
    assert {h.id[0] for h in again.index.query(query, k=4)} == {"a"}


def test_in_memory_corpora_are_keyed_by_content() -> None:
    one = Corpus("same", [Video(id="x", title="one")])
    two = Corpus("same", [Video(id="x", title="two")])
    assert index_key(one) != index_key(two)
    assert index_key(one) == index_key(Corpus("same", [Video(id="x", title="one")]))


def test_cli_index_build_twice_keeps_each(twins: tuple[Path, Path]) -> None:
    a, b = twins
    for path in (a, b, a):
        result = cli("index", "build", "--corpus", str(path), "--embedder", "fake", "--json")
        assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["removed"] == 0
    assert report["added"] == 0


def test_index_files_are_owner_only(twins: tuple[Path, Path]) -> None:
    from _hostile import others_can_read

    opened = open_index(load_corpus(twins[0]), make_embedder("fake", dim=32))
    folder = Path(opened.index.location)
    for p in (folder.parent, folder, *folder.rglob("*")):
        assert not others_can_read(p), (p, oct(p.stat().st_mode))


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The usual 022 umask, whatever the test runner's is (restored after)."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _loose(folder: Path) -> list[str]:
    """Paths under ``folder`` (itself included) that group or other users can access."""
    found = []
    for p in (folder, *folder.rglob("*")):
        with contextlib.suppress(FileNotFoundError):  # a journal SQLite removed meanwhile
            if p.stat().st_mode & 0o077:
                found.append(f"{p.relative_to(folder)} {oct(p.stat().st_mode & 0o777)}")
    return found


def test_index_files_are_created_owner_only_not_tightened_after(
    twins: tuple[Path, Path], tmp_path: Path, loose_umask: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from value_spectrum.retrieval import building

    monkeypatch.setattr(building, "tighten_tree", lambda path: None)  # nothing fixed afterwards
    folder = tmp_path / "fresh" / "index"
    seen: list[str] = []
    done = threading.Event()

    def watch() -> None:  # anything loose while Chroma writes, however briefly
        while not done.is_set():
            if folder.exists():
                seen.extend(_loose(folder))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        opened = open_index(load_corpus(twins[0]), make_embedder("fake", dim=32), path=folder)
        index = opened.index
        index.add([f"x{i}" for i in range(40)], np.random.default_rng(0).random((40, 32), dtype=np.float32),
                  [{"topic": "cooking"}] * 40)
        index.delete(["x0", "x1"])
        assert len(index) == 4 + 38
    finally:
        done.set()
        watcher.join()
    assert os.umask(0o022) == 0o022  # restored
    assert any(p.is_dir() for p in folder.iterdir())  # Chroma's HNSW segment was written
    assert _loose(folder) == []
    assert seen == []
    assert not others_can_read(folder.parent)


def test_index_sqlite_journal_files_take_the_databases_mode(
    twins: tuple[Path, Path], tmp_path: Path, loose_umask: None
) -> None:
    folder = tmp_path / "index"
    open_index(load_corpus(twins[0]), make_embedder("fake", dim=32), path=folder)
    db = sqlite3.connect(folder / "chroma.sqlite3")  # -wal and -shm, made under a 022 umask
    try:
        assert db.execute("PRAGMA journal_mode=WAL").fetchone() == ("wal",)
        db.execute("CREATE TABLE probe (x)")
        db.commit()
        assert (folder / "chroma.sqlite3-wal").exists()
        assert (folder / "chroma.sqlite3-shm").exists()
        assert _loose(folder) == []
    finally:
        db.close()
    reopened = ChromaVideoIndex(None, folder)  # Chroma on the WAL database: still owner-only
    assert len(reopened) == 4
    assert _loose(folder) == []


def test_owner_only_creation_nests_across_threads_and_restores_the_umask(tmp_path: Path, loose_umask: None) -> None:
    inside = threading.Barrier(2)

    def make(name: str) -> None:
        with owner_only_creation():
            inside.wait()  # both blocks open at once
            (tmp_path / name).write_text("x")
            inside.wait()

    threads = [threading.Thread(target=make, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [oct((tmp_path / n).stat().st_mode & 0o777) for n in ("a", "b")] == ["0o600", "0o600"]
    assert os.umask(0o022) == 0o022
