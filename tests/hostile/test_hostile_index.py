"""Issue 12 item 9: two corpora whose folders share a name never share a search index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _hostile import cli

from value_spectrum.records import Video
from value_spectrum.retrieval.building import default_index_dir, index_key, open_index
from value_spectrum.retrieval.corpus import CORPUS_FILE, Corpus, load_corpus
from value_spectrum.retrieval.embedders.registry import make_embedder


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
