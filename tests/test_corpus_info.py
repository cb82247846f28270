"""`value-spectrum corpus info` and `corpus render`, on a tiny fixture corpus and the demo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from value_spectrum.cli.app import build_app
from value_spectrum.records import PLATFORMS, Video
from value_spectrum.retrieval.corpus import CORPUS_FILE, load_corpus
from value_spectrum.retrieval.demo import load_demo_corpus
from value_spectrum.retrieval.summary import NEUTRAL, corpus_summary
from value_spectrum.values import VALUE_IDS, ValueProfile

runner = CliRunner()


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    folder = tmp_path / "tiny"
    folder.mkdir()
    cards = [
        Video(
            id="a",
            platform="tiktok",
            topic="food",
            values=ValueProfile.from_mapping({"hedonism": 0.9}, default=0.0),
        ),
        Video(
            id="b",
            platform="tiktok",
            topic="food",
            values=ValueProfile.from_mapping({"power": 0.3}, default=0.0),
        ),
        Video(id="c", platform="youtube_shorts", topic="travel", video_path="media/c/video.mp4"),
    ]
    (folder / CORPUS_FILE).write_text("".join(c.model_dump_json() + "\n" for c in cards))
    return folder


def test_info_json_shape(tiny: Path) -> None:
    result = runner.invoke(build_app(), ["corpus", "info", str(tiny), "--json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert {
        "items",
        "per_primary_value",
        "platforms",
        "topics",
        "content_hash",
        "with_video",
    } <= set(data)
    assert data["items"] == 3
    assert list(data["per_primary_value"]) == [*VALUE_IDS, NEUTRAL]
    assert data["per_primary_value"]["hedonism"] == 1
    assert data["per_primary_value"][NEUTRAL] == 2  # weak label + unlabelled
    assert data["platforms"] == {"tiktok": 2, "youtube_shorts": 1, "instagram_reels": 0, "other": 0}
    assert data["topics"] == {"food": 2, "travel": 1}
    assert data["with_video"] == 1
    assert data["content_hash"] == load_corpus(tiny).content_hash()


def test_info_table_and_bad_corpus(tiny: Path, tmp_path: Path) -> None:
    table = runner.invoke(build_app(), ["corpus", "info", str(tiny)])
    assert table.exit_code == 0
    assert "hedonism" in table.stdout
    assert "youtube_shorts" in table.stdout
    missing = runner.invoke(build_app(), ["corpus", "info", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2
    assert "not a corpus directory" in missing.stderr
    (tiny / CORPUS_FILE).write_text('{"id": "z", "duration_s": "long"}\n')
    bad = runner.invoke(build_app(), ["corpus", "info", str(tiny)])
    assert bad.exit_code == 2
    assert "corpus.jsonl:1" in bad.stderr
    assert "duration_s" in bad.stderr


def test_demo_corpus_loads_and_summarises() -> None:
    corpus = load_demo_corpus()
    assert load_demo_corpus() is corpus  # cached per process
    assert len(corpus) > 0
    assert list(corpus.ids) == sorted(corpus.ids)
    data = corpus_summary(corpus)
    assert sum(data["per_primary_value"].values()) == len(corpus)
    assert set(data["platforms"]) == set(PLATFORMS)
    assert all(v.source == "demo" and v.values is not None for v in corpus)
    assert data["with_video"] == sum(corpus.has_video(v) for v in corpus)


def test_render_exports_a_self_contained_corpus(tmp_path: Path) -> None:
    out = tmp_path / "demo-export"
    result = runner.invoke(
        build_app(), ["corpus", "render", "--out", str(out), "--limit", "3", "--json"]
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["cards"] == 3
    exported = load_corpus(out)
    demo = load_demo_corpus()
    assert exported.ids == demo.ids[:3]
    for video in exported:
        paths = exported.keyframe_paths(video)
        assert len(paths) == 3
        assert all(p.is_file() and out in p.parents for p in paths)
        assert video.content_hash() != demo.get(video.id).content_hash()  # media paths differ
        assert video.values == demo.get(video.id).values


def test_render_refuses_a_folder_that_is_not_a_corpus(tmp_path: Path) -> None:
    busy = tmp_path / "videos"
    busy.mkdir()
    (busy / "clip.mp4").write_bytes(b"mine")
    result = runner.invoke(build_app(), ["corpus", "render", "--out", str(busy), "--limit", "1"])
    assert result.exit_code == 2
    assert "no corpus.jsonl" in result.stderr
    assert [p.name for p in busy.iterdir()] == ["clip.mp4"]
