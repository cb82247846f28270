"""`value-spectrum corpus label --write` and :func:`write_labels`: proposed labels stored in an
imported corpus (authored ones kept, demo refused, re-runs idempotent), after which the
reference viewer can simulate on it and `report` scores the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from tests.test_corpus_import import encode_mp4
from typer.testing import CliRunner

from value_spectrum.cli.app import build_app
from value_spectrum.records import Video
from value_spectrum.retrieval.corpus import CORPUS_FILE, load_corpus
from value_spectrum.retrieval.importer import import_collection
from value_spectrum.retrieval.label_writing import (
    PROVENANCE_FILE,
    LabelWriteError,
    proposed_labels,
)
from value_spectrum.retrieval.labelling import ItemLabels, KeywordHit
from value_spectrum.values import Value, ValueProfile

TITLES = {
    "beach": ("Volunteers clean plastic off the beach", None),
    "gym": ("New personal best deadlift, top of the leaderboard", None),
    "family": ("Sunday dinner with grandma and the cousins", {"benevolence": 0.9}),
    "party": ("Rooftop party, best night of the summer", None),
    "church": ("Easter procession through the old town", None),
    "bank": ("How I run the board meeting: status, power, control", None),
}


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    """A tiny imported corpus: five screenshots and one MP4; one sidecar carries labels."""
    src = tmp_path / "in"
    src.mkdir()
    for i, (name, (title, values)) in enumerate(TITLES.items()):
        if name == "gym":
            encode_mp4(src / f"{name}.mp4")
        else:
            Image.new("RGB", (48, 80), (40 * i, 90, 200 - 40 * i)).save(src / f"{name}.png")
        side: dict[str, object] = {"title": title, "platform": "tiktok"}
        if values is not None:
            side["values"] = values
        (src / f"{name}.json").write_text(json.dumps(side))
    out = tmp_path / "corpus"
    import_collection(src, out)
    return out


def _cards(corpus_dir: Path) -> list[Video]:
    lines = (corpus_dir / CORPUS_FILE).read_text(encoding="utf-8").splitlines()
    return [Video.model_validate_json(x) for x in lines if x.strip()]


def _label(app: object, corpus: str, tmp_path: Path, *extra: str) -> dict[str, object]:
    r = CliRunner().invoke(
        app,  # type: ignore[arg-type]
        ["corpus", "label", corpus, "-e", "fake", "-i", str(tmp_path / "idx"), "--json", *extra],
    )
    assert r.exit_code == 0, r.output
    data: dict[str, object] = json.loads(r.stdout)
    return data


def test_write_then_simulate_and_report(
    corpus_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = build_app()
    runner = CliRunner()
    before = {v.id: v for v in _cards(corpus_dir)}
    authored = [v for v in before.values() if v.values is not None]
    assert len(authored) == 1
    assert len(before) == 6
    hash_before = load_corpus(corpus_dir).content_hash()

    data = _label(app, str(corpus_dir), tmp_path, "--write")
    w = data["write"]
    assert isinstance(w, dict)
    assert (w["source"], w["written"], w["kept_authored"], w["changed_files"]) == (
        "zero-shot",
        5,
        1,
        True,
    )
    after = {v.id: v for v in _cards(corpus_dir)}
    assert all(v.values is not None and v.primary_value is not None for v in after.values())
    for v in authored:  # the sidecar's labels survive, byte for byte
        assert after[v.id].values == v.values
    for vid, v in after.items():  # nothing but the labels changed
        assert v.model_copy(update={"values": None}) == before[vid].model_copy(
            update={"values": None}
        )
    prov = json.loads((corpus_dir / PROVENANCE_FILE).read_text(encoding="utf-8"))
    assert prov["source"] == "zero-shot"
    assert prov["embedder"]["kind"] == "fake"
    assert (prov["k"], prov["temperature"], prov["keywords"]) == (5, 0.05, "built-in")
    assert prov["written_at"]
    assert set(prov["items"]) == set(after) - {authored[0].id}
    assert prov["content_hash"] == load_corpus(corpus_dir).content_hash() != hash_before

    # a re-run changes no file
    card_bytes = (corpus_dir / CORPUS_FILE).read_bytes()
    prov_bytes = (corpus_dir / PROVENANCE_FILE).read_bytes()
    w2 = _label(app, str(corpus_dir), tmp_path, "--write")["write"]
    assert isinstance(w2, dict)
    assert (w2["written"], w2["unchanged"], w2["kept_authored"], w2["changed_files"]) == (
        0,
        5,
        1,
        False,
    )
    assert (corpus_dir / CORPUS_FILE).read_bytes() == card_bytes
    assert (corpus_dir / PROVENANCE_FILE).read_bytes() == prov_bytes

    # corpus info counts the primary values
    r = runner.invoke(app, ["corpus", "info", str(corpus_dir), "--json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["labelled"] == 6
    assert info["per_primary_value"]["neutral"] == 0
    assert sum(info["per_primary_value"].values()) == 6

    # the reference viewer runs on it, and report reads the run: 30 decisions (the minimum, see
    # docs/methods.md) on six videos cannot identify ten weights, and the report says so
    run_dir = tmp_path / "run"
    r = runner.invoke(
        app,
        [
            "simulate",
            "--corpus",
            str(corpus_dir),
            "--steps",
            "6",
            "--sessions",
            "5",
            "-p",
            "archetype_power",
            "--out",
            str(run_dir),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["decisions"] == 30
    assert summary["outcomes"].get("error", 0) == 0
    r = runner.invoke(app, ["report", str(run_dir), "--json", "--min-decisions", "10"])  # 10 decisions: below the default 30
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert rep["labels_available"] is True
    assert rep["corpus"]["content_hash"] == prov["content_hash"]
    (group,) = rep["groups"]
    assert group["unlabelled"] == 0
    assert group["n_decisions"] == 30
    assert group["revealed"] is None
    assert "6 distinct videos" in group["revealed_reason"]
    assert group["like_rate_overall"] is not None
    assert rep["summary"]["cannot_score_groups"] == 1


def test_overwrite_and_sources(corpus_dir: Path, tmp_path: Path) -> None:
    app = build_app()
    authored_id = next(v.id for v in _cards(corpus_dir) if v.values is not None)
    w = _label(app, str(corpus_dir), tmp_path, "--write", "--source", "retrieval")["write"]
    assert isinstance(w, dict)
    # six videos, 120 keywords of k=5 each: every video is retrieved
    assert (w["written"], w["kept_authored"], w["no_proposal"]) == (5, 1, 0)
    cards = {v.id: v for v in _cards(corpus_dir)}
    for vid, v in cards.items():
        if vid != authored_id:
            assert v.values is not None
            assert sorted(v.values.as_dict().values())[-2:] == [0.0, 1.0]
    # switching source relabels our own labels without --overwrite, keeps the authored one
    w = _label(app, str(corpus_dir), tmp_path, "--write")["write"]
    assert isinstance(w, dict)
    assert (w["written"], w["kept_authored"]) == (5, 1)
    w = _label(app, str(corpus_dir), tmp_path, "--write", "--overwrite", "--source", "both")[
        "write"
    ]
    assert isinstance(w, dict)
    assert (w["written"], w["kept_authored"]) == (6, 0)
    prov = json.loads((corpus_dir / PROVENANCE_FILE).read_text(encoding="utf-8"))
    assert prov["overwrite"] is True
    assert authored_id in prov["items"]
    assert all(it["retrieval"] is not None for it in prov["items"].values())


def test_demo_and_misuse_are_refused(corpus_dir: Path, tmp_path: Path) -> None:
    app = build_app()
    runner = CliRunner()
    for args in (["corpus", "label", "--write"], ["corpus", "label", "demo", "--write"]):
        r = runner.invoke(app, args)
        assert r.exit_code == 2
        assert "demo corpus's labels are authored" in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    r = runner.invoke(app, ["corpus", "label", str(corpus_dir), "--source", "both"])
    assert r.exit_code == 2
    assert "--source: only used with --write" in r.stderr
    r = runner.invoke(app, ["corpus", "label", str(corpus_dir), "--write", "--source", "votes"])
    assert r.exit_code == 2
    assert "--source" in r.stderr
    assert not (corpus_dir / PROVENANCE_FILE).exists()


def test_write_labels_refuses_a_changed_corpus(corpus_dir: Path, tmp_path: Path) -> None:
    from value_spectrum.retrieval.building import open_index
    from value_spectrum.retrieval.embedders import make_embedder
    from value_spectrum.retrieval.label_writing import write_labels
    from value_spectrum.retrieval.labelling import label_corpus

    corp = load_corpus(corpus_dir)
    emb = make_embedder("fake")
    report = label_corpus(corp, open_index(corp, emb, path=tmp_path / "i").index, emb)
    lines = (corpus_dir / CORPUS_FILE).read_text(encoding="utf-8").splitlines()
    (corpus_dir / CORPUS_FILE).write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    before = (corpus_dir / CORPUS_FILE).read_bytes()
    with pytest.raises(LabelWriteError, match="differ from the labelled ones"):
        write_labels(corpus_dir, report)
    with pytest.raises(LabelWriteError, match="demo corpus"):
        write_labels("demo", report)
    assert (corpus_dir / CORPUS_FILE).read_bytes() == before
    # a damaged provenance file is named, and nothing is written
    (corpus_dir / CORPUS_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    (corpus_dir / PROVENANCE_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(LabelWriteError, match=f"{PROVENANCE_FILE}: unreadable"):
        write_labels(corpus_dir, report)
    assert all(v.values is None for v in _cards(corpus_dir) if v.id != "family")
    (corpus_dir / PROVENANCE_FILE).unlink()
    result = write_labels(corpus_dir, report)
    assert (result.written, result.kept_authored) == (5, 1)


def test_proposed_labels_per_source() -> None:
    soft = ValueProfile.from_mapping({"power": 0.4, "achievement": 0.2}, default=0.05)
    hit = KeywordHit(value=Value("hedonism"), keyword="party", score=0.3)
    item = ItemLabels(
        id="a", retrieval=hit, zero_shot=soft, zero_shot_top1=Value("power"), authored_primary=None
    )
    zs = proposed_labels(item, "zero-shot")
    assert zs is not None
    assert zs["power"] == 1.0
    assert zs["achievement"] == 0.5
    assert zs["hedonism"] == 0.125
    ret = proposed_labels(item, "retrieval")
    assert ret is not None
    assert ret["hedonism"] == 1.0
    assert ret.mean() == 0.1
    both = proposed_labels(item, "both")
    assert both is not None
    assert both.primary() == Value("hedonism")
    assert both["power"] == 0.5
    none = item.model_copy(update={"retrieval": None})
    assert proposed_labels(none, "retrieval") is None
    assert proposed_labels(none, "both") == zs


def test_write_shows_the_labels_it_wrote(corpus_dir: Path, tmp_path: Path) -> None:
    """Issue 12 item 11: the labels written are printed (table and --json) beside the figures."""
    app = build_app()
    data = _label(app, str(corpus_dir), tmp_path, "--write")
    w = data["write"]
    assert isinstance(w, dict)
    labels = w["labels"]
    cards = {v.id: v for v in _cards(corpus_dir)}
    # every labelled video is listed with the ten values now in corpus.jsonl; authored kept out
    assert set(labels) == {vid for vid, v in cards.items() if v.values is not None} - {"family"}
    for vid, values in labels.items():
        assert values == cards[vid].values.as_dict()  # type: ignore[union-attr]
    table = CliRunner().invoke(
        app, ["corpus", "label", str(corpus_dir), "-e", "fake", "-i", str(tmp_path / "idx"), "--write"]
    )
    assert table.exit_code == 0, table.output
    assert "labels written" in table.stdout
    assert "agreement" in table.stdout
    for vid in labels:
        assert vid in table.stdout
