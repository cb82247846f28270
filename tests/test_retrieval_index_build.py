"""Incremental builds, embedder refusal, corrupt and reopened Chroma indexes, the search tool,
value labelling and the index/search/label CLI, on tiny fixture corpora."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from _tiny_clip import write_tiny_clip
from value_spectrum.cli.app import build_app
from value_spectrum.records import Video
from value_spectrum.retrieval.building import build_index, open_index
from value_spectrum.retrieval.corpus import CORPUS_FILE, Corpus
from value_spectrum.retrieval.embedders import make_embedder
from value_spectrum.retrieval.index import (
    ChromaVideoIndex,
    EmbedderMismatchError,
    MemoryVideoIndex,
    VideoIndexError,
)
from value_spectrum.retrieval.labelling import (
    label_corpus,
    load_value_keywords,
    soft_labels,
)
from value_spectrum.retrieval.search import VideoSearch, make_search_tool
from value_spectrum.values import VALUE_IDS, ValueProfile


def _v(id_: str, title: str, value: str | None, platform: str = "tiktok", **kw: object) -> Video:
    labels = None if value is None else ValueProfile.from_mapping({value: 0.9}, default=0.05)
    return Video(id=id_, title=title, platform=platform, values=labels, **kw)  # type: ignore[arg-type]


VIDEOS = [
    _v(
        "u1",
        "volunteers cleaning plastic from a beach",
        "universalism",
        description="Bags of plastic litter collected on the sand.",
    ),
    _v("u2", "planting trees to fight climate change", "universalism", "youtube_shorts"),
    _v("t1", "grandmother's traditional family recipe for the holiday dinner", "tradition"),
    _v(
        "t2",
        "lunar new year family reunion with lanterns and prayer",
        "tradition",
        "instagram_reels",
    ),
    _v("p1", "luxury supercar collection and a private jet", "power"),
    _v("s1", "skydiving jump from a plane, extreme adrenaline", "stimulation", "youtube_shorts"),
    _v("a1", "graduation day after years of study", "achievement"),
    _v("n1", "a quiet street at dusk", None),
]


@pytest.fixture
def corpus() -> Corpus:
    return Corpus("tiny", VIDEOS)


@pytest.fixture
def fake():  # type: ignore[no-untyped-def]
    return make_embedder("fake", dim=64)


def _write_corpus(folder: Path, videos: list[Video]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CORPUS_FILE).write_text("".join(v.model_dump_json() + "\n" for v in videos))
    return folder


def test_incremental_build_skips_unchanged_and_reembeds_changed(
    corpus: Corpus, fake, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    idx = ChromaVideoIndex(fake.describe(), tmp_path / "idx")
    first = build_index(corpus, fake, idx)
    assert (first.added, first.updated, first.skipped, first.total) == (8, 0, 0, 8)
    again = build_index(corpus, fake, idx)
    assert (again.added, again.updated, again.skipped) == (0, 0, 8)

    changed = [
        v.model_copy(update={"title": "cleaning the river bank"}) if v.id == "u1" else v
        for v in VIDEOS
        if v.id != "a1"
    ]
    relabelled = [
        v.model_copy(update={"values": ValueProfile.from_mapping({"power": 0.9}, default=0.0)})
        if v.id == "p1"
        else v
        for v in changed
    ]
    relabelled.append(_v("x1", "a brand new video", "hedonism"))
    third = build_index(Corpus("tiny", relabelled), fake, idx)
    assert (third.added, third.updated, third.removed, third.relabelled) == (1, 1, 1, 0)
    new_u1 = next(v for v in changed if v.id == "u1")
    np.testing.assert_allclose(
        idx.get_vectors(["u1"])[0], fake.embed_texts([new_u1.visible_text()])[0], atol=1e-5
    )
    moved = [
        v.model_copy(update={"values": ValueProfile.from_mapping({"hedonism": 0.9}, default=0.0)})
        if v.id == "p1"
        else v
        for v in relabelled
    ]
    fourth = build_index(Corpus("tiny", moved), fake, idx)
    assert (fourth.updated, fourth.relabelled) == (0, 1)
    assert idx.metadata()["p1"]["primary_value"] == "hedonism"


def test_other_embedder_is_refused(corpus: Corpus, fake, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    build_index(corpus, fake, ChromaVideoIndex(fake.describe(), tmp_path / "idx"))
    other = make_embedder("fake", dim=32)
    with pytest.raises(EmbedderMismatchError, match=r"fake-hash-64.*not fake-hash-32"):
        ChromaVideoIndex(other.describe(), tmp_path / "idx")
    mem = MemoryVideoIndex(fake.describe())
    with pytest.raises(EmbedderMismatchError):
        build_index(corpus, other, mem)


def test_corrupt_index_gives_one_line_error(corpus: Corpus, fake, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    build_index(corpus, fake, ChromaVideoIndex(fake.describe(), tmp_path / "idx"))
    db = tmp_path / "idx" / "chroma.sqlite3"
    code = (
        "import sys\n"
        "from value_spectrum.retrieval.index import ChromaVideoIndex, VideoIndexError\n"
        "try:\n"
        "    ChromaVideoIndex(None, sys.argv[1])\n"
        "except VideoIndexError as e:\n"
        "    print('ERR', e)\n"
    )
    db.write_bytes(b"this is not a database" * 200)
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "idx")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    line = out.stdout.strip()
    assert line.startswith("ERR "), out.stderr[-500:]
    assert "cannot open Chroma index" in line
    assert "\n" not in line
    with pytest.raises(VideoIndexError, match="no index here"):
        ChromaVideoIndex(None, tmp_path / "empty")


def test_reopen_in_new_process_finds_same_items(corpus: Corpus, fake, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    idx = ChromaVideoIndex(fake.describe(), tmp_path / "idx")
    build_index(corpus, fake, idx)
    expected = [h.id for h in idx.query(fake.embed_texts(["beach plastic"])[0], k=3)]
    code = (
        "import sys, json\n"
        "from value_spectrum.retrieval.index import ChromaVideoIndex\n"
        "from value_spectrum.retrieval.embedders import embedder_from_description\n"
        "idx = ChromaVideoIndex(None, sys.argv[1])\n"
        "emb = embedder_from_description(idx.embedder)\n"
        "hits = idx.query(emb.embed_texts(['beach plastic'])[0], k=3)\n"
        "print(json.dumps({'n': len(idx), 'ids': [h.id for h in hits]}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "idx")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    assert out.returncode == 0, out.stderr[-800:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {"n": len(VIDEOS), "ids": expected}


def test_search_tool_cards_and_never_raises(corpus: Corpus, fake) -> None:  # type: ignore[no-untyped-def]
    idx = MemoryVideoIndex(fake.describe())
    build_index(corpus, fake, idx)
    search = VideoSearch(idx, fake, corpus)
    cards = search("volunteers cleaning plastic from a beach", k=3)
    assert isinstance(cards, list)
    assert cards[0]["id"] == "u1"
    assert set(cards[0]) == {"id", "title", "caption", "platform", "score"}
    assert all("value" not in json.dumps(c) for c in cards)  # labels never reach the model
    only = search("family", k=10, platform="instagram_reels")
    assert isinstance(only, list)
    assert {c["platform"] for c in only} == {"instagram_reels"}
    assert "empty query" in search("   ")  # type: ignore[operator]
    assert "unknown platform" in search("x", platform="myspace")  # type: ignore[operator]

    class Broken:
        embedder = fake.describe()

        def query(self, *a: object, **k: object) -> list[object]:
            raise RuntimeError("disk on fire")

    broken = VideoSearch(Broken(), fake, corpus)  # type: ignore[arg-type]
    msg = broken("beach")
    assert isinstance(msg, str)
    assert "disk on fire" in msg
    assert [r.query for r in search.log][:1] == ["volunteers cleaning plastic from a beach"]
    assert broken.log[-1].error is not None

    tool = make_search_tool(search)
    assert tool.name == "search_videos"
    res = tool.invoke({"query": "skydiving jump from a plane", "k": 2})
    assert isinstance(res, list)
    assert res[0]["id"] == "s1"
    assert isinstance(make_search_tool(broken).invoke({"query": "beach"}), str)
    assert isinstance(tool.invoke({"query": "beach", "k": 0}), str)  # validation error -> text


def test_keywords_file_has_enough_keywords() -> None:
    kw = load_value_keywords()
    assert len(kw.values) == 10
    assert all(len(s.keywords) >= 8 for s in kw.values.values())


def test_bad_keyword_file_names_field(tmp_path: Path) -> None:
    bad = tmp_path / "kw.yaml"
    bad.write_text("values:\n  hedonism:\n    description: fun\n    keywords: [a, b]\n")
    with pytest.raises(ValueError, match=r"kw\.yaml"):
        load_value_keywords(bad)


def test_soft_labels_are_distributions() -> None:
    rng = np.random.default_rng(0)
    p = soft_labels(rng.standard_normal((5, 8)), rng.standard_normal((10, 8)), 0.1)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="temperature"):
        soft_labels(np.ones((1, 8)), np.ones((10, 8)), 0.0)


def test_label_corpus_with_text_embedder(corpus: Corpus) -> None:
    text = make_embedder("text")
    idx = MemoryVideoIndex(text.describe())
    build_index(corpus, text, idx)
    report = label_corpus(corpus, idx, text, k=2)
    assert report.n_items == 8
    assert report.n_authored == 7
    assert set(report.per_value) == set(VALUE_IDS)
    assert report.top1_agreement is not None
    assert report.top1_agreement >= 5 / 7
    by_id = {i.id: i for i in report.items}
    assert by_id["u1"].zero_shot_top1 == "universalism"
    assert by_id["t2"].zero_shot_top1 == "tradition"
    assert abs(sum(by_id["u1"].zero_shot.as_dict().values()) - 1.0) < 1e-4
    assert 0 < report.coverage <= 1
    assert report.retrieval_precision is not None
    assert report.retrieval_precision > 0.3


def test_cli_index_build_search_label(tmp_path: Path) -> None:
    corpus_dir = _write_corpus(tmp_path / "c", VIDEOS)
    runner = CliRunner()
    app = build_app()
    out = tmp_path / "idx"
    r = runner.invoke(
        app,
        [
            "index",
            "build",
            "--corpus",
            str(corpus_dir),
            "--embedder",
            "fake",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert rep["added"] == 8
    assert rep["embedder"]["kind"] == "fake"
    r = runner.invoke(
        app,
        [
            "search",
            "volunteers cleaning plastic from a beach",
            "--index",
            str(out),
            "--corpus",
            str(corpus_dir),
            "--k",
            "3",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert rows[0]["id"] == "u1"
    assert rows[0]["primary_value"] == "universalism"
    assert {"id", "score", "title", "platform", "primary_value"} <= set(rows[0])
    r = runner.invoke(
        app, ["search", "x", "--index", str(tmp_path / "none"), "--corpus", str(corpus_dir)]
    )
    assert r.exit_code == 2
    assert "no index here" in r.output
    r = runner.invoke(
        app,
        ["index", "build", "--corpus", str(corpus_dir), "--embedder", "fake", "--out", str(out)],
    )
    assert r.exit_code == 0
    assert "8 unchanged" in r.stdout
    r = runner.invoke(
        app,
        [
            "corpus",
            "label",
            str(corpus_dir),
            "--embedder",
            "fake",
            "--index",
            str(tmp_path / "lidx"),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    lab = json.loads(r.stdout)
    assert {"top1_agreement", "per_value", "retrieval_precision", "coverage", "embedder"} <= set(
        lab
    )
    r = runner.invoke(
        app, ["index", "build", "--corpus", str(tmp_path / "missing"), "--embedder", "fake"]
    )
    assert r.exit_code == 2


def test_open_index_defaults_to_user_cache(
    corpus: Corpus, fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("VALUE_SPECTRUM_CACHE", str(tmp_path / "cache"))
    opened = open_index(corpus, fake)
    location = Path(opened.index.location)
    assert location.parent == (tmp_path / "cache" / "index").resolve()
    assert location.name.startswith("tiny-fake-hash-64-")
    assert opened.report is not None
    assert opened.report.added == 8
    again = open_index(corpus, fake)
    assert again.report is not None
    assert again.report.skipped == 8


def test_auto_picks_clip_when_weights_are_cached(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from value_spectrum.retrieval.embedders import choose_auto

    repo = tmp_path / "models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K"
    snap = repo / "snapshots" / ("0" * 40)
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    (snap / "open_clip_pytorch_model.bin").write_bytes(b"weights")
    import huggingface_hub.constants

    # the hub reads HF_HUB_CACHE once, at import: patch the constant it uses
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    kind, why = choose_auto()
    assert kind == "clip"
    assert "found in the Hugging Face cache" in why


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_chroma_server_index(corpus: Corpus, fake, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import shutil
    import time

    exe = shutil.which("chroma")
    if exe is None:
        pytest.skip("no 'chroma' executable to run a local server")
    port = _free_port()
    server = subprocess.Popen(
        [exe, "run", "--path", str(tmp_path / "srv"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        idx = None
        for _ in range(100):
            try:
                idx = ChromaVideoIndex(fake.describe(), chroma_url=url)
                break
            except VideoIndexError:
                time.sleep(0.2)
        assert idx is not None, "chroma server did not start"
        build_index(corpus, fake, idx)
        hits = idx.query(fake.embed_texts([VIDEOS[0].visible_text()])[0], k=2)
        assert hits[0].id == "u1"
        again = ChromaVideoIndex(None, chroma_url=url)
        assert len(again) == len(VIDEOS)
        assert again.embedder["name"] == fake.name
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_demo_corpus_frames_through_the_pipeline() -> None:
    """The demo corpus's on-demand keyframes feed an image embedder (rendered into the test cache)."""
    from value_spectrum.retrieval.corpus import load_corpus
    from value_spectrum.retrieval.embedders import embed_videos

    demo = load_corpus(None)
    videos = list(demo.videos[:3])
    fake = make_embedder("fake", dim=32)
    frames = [demo.keyframe_paths(v) for v in videos]
    assert all(fs and all(p.is_file() for p in fs) for fs in frames)
    vecs = embed_videos(fake, demo, videos, text_weight=0.0)
    mean = fake.embed_images(list(frames[0])).mean(axis=0)
    np.testing.assert_allclose(vecs[0], mean / np.linalg.norm(mean), atol=1e-5)


def test_cli_with_tiny_clip_checkpoint(tmp_path: Path) -> None:
    from PIL import Image

    model_dir, ckpt = write_tiny_clip(tmp_path / "tiny", tmp_path / "tiny.pt", seed=5)
    corpus_dir = tmp_path / "c"
    corpus_dir.mkdir()
    videos = []
    for i, v in enumerate(VIDEOS[:4]):
        name = f"{v.id}.png"
        Image.new("RGB", (40, 40), (60 * i, 255 - 60 * i, 90)).save(corpus_dir / name)
        videos.append(v.model_copy(update={"keyframes": (name,)}))
    _write_corpus(corpus_dir, videos)
    out = tmp_path / "idx"
    app = build_app()
    runner = CliRunner()
    args = [
        "--corpus",
        str(corpus_dir),
        "--embedder",
        "clip",
        "--clip-model",
        f"local-dir:{model_dir}",
    ]
    r = runner.invoke(
        app, ["index", "build", *args, "--clip-checkpoint", str(ckpt), "--out", str(out), "--json"]
    )
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert rep["added"] == 4
    assert rep["embedder"]["kind"] == "clip"
    assert rep["embedder"]["options"]["checkpoint"] == str(ckpt)
    # search rebuilds the same CLIP embedder from the index's own description
    r = runner.invoke(
        app, ["search", "beach", "--index", str(out), "--corpus", str(corpus_dir), "--json"]
    )
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.stdout)) == 4
    # without the checkpoint it is another embedder (random init): refused, one line
    r = runner.invoke(app, ["index", "build", *args, "--clip-pretrained", "", "--out", str(out)])
    assert r.exit_code == 2
    assert "index was built with embedder" in r.output


def test_cli_label_unlabelled_corpus_lists_proposed_labels(tmp_path: Path) -> None:
    unlabelled = [v.model_copy(update={"values": None}) for v in VIDEOS[:4]]
    corpus_dir = _write_corpus(tmp_path / "c", unlabelled)
    r = CliRunner().invoke(
        build_app(),
        ["corpus", "label", str(corpus_dir), "--embedder", "fake", "--index", str(tmp_path / "i")],
    )
    assert r.exit_code == 0, r.output
    assert "proposed labels" in r.stdout
    for v in unlabelled:
        assert v.id in r.stdout


def test_cli_search_refuses_an_empty_query() -> None:
    r = CliRunner().invoke(build_app(), ["search", "  "])
    assert r.exit_code == 2
    assert "QUERY: empty" in r.stderr


def test_cli_index_build_refuses_a_folder_of_other_files(tmp_path: Path) -> None:
    corpus_dir = _write_corpus(tmp_path / "c", VIDEOS[:2])
    busy = tmp_path / "videos"
    busy.mkdir()
    (busy / "clip.mp4").write_bytes(b"mine")
    r = CliRunner().invoke(
        build_app(),
        ["index", "build", "--corpus", str(corpus_dir), "--embedder", "fake", "--out", str(busy)],
    )
    assert r.exit_code == 2
    assert "no chroma.sqlite3" in r.stderr
    assert [p.name for p in busy.iterdir()] == ["clip.mp4"]
