"""`value-spectrum corpus import` and :func:`import_collection`: good items in, bad items named,
the input folder untouched, nothing written outside --out."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import av
import pytest
from PIL import Image
from typer.testing import CliRunner

from value_spectrum.cli.app import build_app
from value_spectrum.retrieval.corpus import CORPUS_FILE, load_corpus
from value_spectrum.retrieval.importer import ImportUsageError, import_collection
from value_spectrum.retrieval.keyframes import MediaError, sample_keyframes

runner = CliRunner()


def encode_mp4(
    path: Path,
    *,
    frames: int = 12,
    fps: int = 6,
    size: tuple[int, int] = (64, 112),
    faststart: bool = False,
) -> None:
    """A small real MP4: a colour ramp, so frames differ over time. ``faststart`` puts the
    index first, so a truncated copy still opens and loses frames at its end instead."""
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), mode="w", format="mp4", options=options) as container:
        stream = container.add_stream("mpeg4", rate=fps)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            shade = int(255 * i / max(frames - 1, 1))
            img = Image.new("RGB", size, (shade, 64, 255 - shade))
            for packet in stream.encode(av.VideoFrame.from_image(img)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def tree_digest(root: Path) -> str:
    """Hash of every path, size and content under ``root``."""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(p.relative_to(root).as_posix().encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.fixture
def collection(tmp_path: Path) -> Path:
    """Two good items and three bad ones, as the issue describes."""
    src = tmp_path / "in"
    (src / "clips").mkdir(parents=True)
    good = src / "clips" / "good.mp4"
    encode_mp4(good)
    (src / "clips" / "good.json").write_text(
        json.dumps({"title": "A good clip", "platform": "tiktok", "values": {"security": 0.8}})
    )
    Image.new("RGB", (90, 160), (10, 200, 30)).save(src / "shot.png")
    (src / "truncated.mp4").write_bytes(good.read_bytes()[:300])
    (src / "notes.mp4").write_text("this is a text file, not a video\n")
    Image.new("RGB", (90, 160), (200, 10, 30)).save(src / "badmeta.jpg")
    (src / "badmeta.json").write_text(json.dumps({"duration_s": "long"}))
    (src / "README.txt").write_text("ignored: not media\n")
    return src


def test_import_keeps_good_items_and_names_bad_ones(collection: Path, tmp_path: Path) -> None:
    before = tree_digest(collection)
    out = tmp_path / "corpus"
    result = import_collection(collection, out)
    assert tree_digest(collection) == before
    assert sorted(result.imported) == ["good", "shot"]
    rejected = {Path(r.path).name: r.reason for r in result.rejected}
    assert set(rejected) == {"truncated.mp4", "notes.mp4", "badmeta.jpg"}
    assert "not a readable video" in rejected["truncated.mp4"]
    assert "not a readable video" in rejected["notes.mp4"]
    assert "duration_s" in rejected["badmeta.jpg"]
    assert "'long'" in rejected["badmeta.jpg"]

    corpus = load_corpus(out)
    assert len(corpus) == 2
    good = corpus.get("good")
    assert good.title == "A good clip"
    assert good.platform == "tiktok"
    assert good.primary_value == "security"
    assert len(good.keyframes) == 3
    assert all(p.is_file() for p in corpus.keyframe_paths(good))
    video = corpus.video_file(good)
    assert video is not None
    assert video.is_file()
    assert good.duration_s == pytest.approx(2.0, abs=0.3)
    shot = corpus.get("shot")
    assert shot.values is None
    assert shot.video_path is None
    assert shot.duration_s == 0.0
    (frame,) = corpus.keyframe_paths(shot)
    with Image.open(frame) as img:
        assert img.size == (90, 160)
    # nothing outside --out: the only new things in tmp_path are the output folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus", "in"]
    assert sorted(p.name for p in out.iterdir()) == [CORPUS_FILE, "media"]


def test_cli_json_shape_and_exit_status(collection: Path, tmp_path: Path) -> None:
    out = tmp_path / "corpus"
    result = runner.invoke(
        build_app(), ["corpus", "import", str(collection), "--out", str(out), "--json"]
    )
    assert result.exit_code == 1, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"imported", "rejected"}
    assert data["imported"] == 2
    assert sorted(Path(r["path"]).name for r in data["rejected"]) == [
        "badmeta.jpg",
        "notes.mp4",
        "truncated.mp4",
    ]
    assert all(set(r) == {"path", "reason"} and r["reason"] for r in data["rejected"])


def test_cli_all_good_exits_zero_and_reimport_replaces(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    encode_mp4(src / "a.mp4")
    Image.new("RGB", (40, 70)).save(src / "b.webp")
    out = tmp_path / "corpus"
    first = runner.invoke(
        build_app(), ["corpus", "import", str(src), "-o", str(out), "--json", "-k", "2"]
    )
    assert first.exit_code == 0, first.stderr
    assert json.loads(first.stdout) == {"imported": 2, "rejected": []}
    assert len(load_corpus(out).get("a").keyframes) == 2
    # re-import after removing one file: the old item and its media are gone
    (src / "b.webp").unlink()
    again = runner.invoke(build_app(), ["corpus", "import", str(src), "-o", str(out), "--json"])
    assert again.exit_code == 0
    corpus = load_corpus(out)
    assert corpus.ids == ("a",)
    assert sorted(p.name for p in (out / "media").iterdir()) == ["a"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_usage_errors_exit_two(tmp_path: Path) -> None:
    app = build_app()
    missing = runner.invoke(
        app, ["corpus", "import", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]
    )
    assert missing.exit_code == 2
    assert "no such folder" in missing.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("x")
    nothing = runner.invoke(app, ["corpus", "import", str(empty), "--out", str(tmp_path / "o")])
    assert nothing.exit_code == 2
    assert "nothing to import" in nothing.stderr
    assert not (tmp_path / "o").exists()


def test_refuses_overlapping_or_foreign_out(collection: Path, tmp_path: Path) -> None:
    with pytest.raises(ImportUsageError, match="contain each other"):
        import_collection(collection, collection / "out")
    foreign = tmp_path / "docs"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("keep me")
    with pytest.raises(ImportUsageError, match="not a corpus"):
        import_collection(collection, foreign)
    assert (foreign / "thesis.tex").read_text() == "keep me"


def test_all_rejected_leaves_previous_corpus(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    Image.new("RGB", (40, 70)).save(src / "ok.png")
    out = tmp_path / "corpus"
    import_collection(src, out)
    before = tree_digest(out)
    (src / "ok.png").write_bytes(b"not a png at all")
    result = import_collection(src, out)
    assert result.imported == ()
    assert len(result.rejected) == 1
    assert "not a readable image" in result.rejected[0].reason
    assert tree_digest(out) == before


def test_manifest_csv_and_per_value_columns(tmp_path: Path) -> None:
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    Image.new("RGB", (40, 70)).save(src / "sub" / "one.png")
    Image.new("RGB", (40, 70)).save(src / "two.jpg")
    Image.new("RGB", (40, 70)).save(src / "three.png")
    manifest = tmp_path / "meta.csv"
    manifest.write_text(
        "file,id,title,hashtags,duration_s,value_tradition,values\n"
        "sub/one.png,first,First one,#a #b,12.5,0.9,\n"
        'two.jpg,,Second,"[""x"", ""y""]",,,"{""power"": 0.7}"\n'
        "three.png,third,Bad label,,,1.5,\n"
        "missing.png,,Nobody,,,,\n"
    )
    result = import_collection(src, tmp_path / "corpus", manifest=manifest)
    corpus = load_corpus(tmp_path / "corpus")
    assert set(corpus.ids) == {"first", "two"}
    first = corpus.get("first")
    assert first.title == "First one"
    assert first.hashtags == ("a", "b")
    assert first.duration_s == 12.5
    assert first.primary_value == "tradition"
    assert corpus.get("two").hashtags == ("x", "y")
    assert corpus.get("two").primary_value == "power"
    reasons = {Path(r.path).name: r.reason for r in result.rejected}
    assert "relevance must be in [0, 1]" in reasons["three.png"]
    assert "missing.png" in reasons["meta.csv:5"]


def test_manifest_unknown_column_is_a_usage_error(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    Image.new("RGB", (40, 70)).save(src / "a.png")
    manifest = tmp_path / "m.csv"
    manifest.write_text("file,colour\na.png,red\n")
    with pytest.raises(ImportUsageError, match="unknown column 'colour'"):
        import_collection(src, tmp_path / "out", manifest=manifest)


def test_sidecar_unknown_field_and_value_name(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for name, meta in {
        "a": {"colour": "red"},
        "b": {"values": {"kindness": 0.5}},
        "c": {"keyframes": ["x.png"]},
        "d": {"id": "../escape"},
    }.items():
        Image.new("RGB", (20, 20)).save(src / f"{name}.png")
        (src / f"{name}.png.json").write_text(json.dumps(meta))
    Image.new("RGB", (20, 20)).save(src / "e.png")
    result = import_collection(src, tmp_path / "out")
    assert result.imported == ("e",)
    reasons = {Path(r.path).name: r.reason for r in result.rejected}
    assert "unknown field 'colour'" in reasons["a.png"]
    assert "unknown value 'kindness'" in reasons["b.png"]
    assert "set by the importer" in reasons["c.png"]
    assert "field 'id'" in reasons["d.png"]


def test_ids_from_metadata_and_unique_stems(tmp_path: Path) -> None:
    src = tmp_path / "in"
    (src / "x").mkdir(parents=True)
    (src / "y").mkdir()
    Image.new("RGB", (20, 20)).save(src / "x" / "clip one.png")
    Image.new("RGB", (20, 20)).save(src / "y" / "clip one.png")
    Image.new("RGB", (20, 20)).save(src / "z.png")
    (src / "z.json").write_text(json.dumps({"id": "clip-one"}))
    result = import_collection(src, tmp_path / "out")
    assert sorted(result.imported) == ["clip-one", "clip-one-2", "clip-one-3"]
    assert load_corpus(tmp_path / "out").get("clip-one").source.endswith("z.png")


def test_sample_keyframes_and_media_errors(tmp_path: Path) -> None:
    good = tmp_path / "good.mp4"
    encode_mp4(good, frames=30)
    frames = sample_keyframes(good, 3)
    assert len(frames) == 3
    assert all(f.size == (64, 112) for f in frames)
    reds = [f.getpixel((32, 56))[0] for f in frames]  # the ramp goes from blue to red
    assert reds[0] < reds[1] < reds[2]
    (tmp_path / "t.mp4").write_bytes(good.read_bytes()[:300])
    with pytest.raises(MediaError, match=r"t\.mp4: not a readable video"):
        sample_keyframes(tmp_path / "t.mp4")
    Image.new("RGB", (20, 20)).save(tmp_path / "still.png")
    with pytest.raises(MediaError, match="still image"):
        sample_keyframes(tmp_path / "still.png")
    with pytest.raises(MediaError, match="no such file"):
        sample_keyframes(tmp_path / "absent.mp4")


def test_long_video_is_sampled_by_seeking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from value_spectrum.retrieval import keyframes

    def no_full_decode(*args: object) -> None:
        raise AssertionError("a long video should be sampled by seeking")

    monkeypatch.setattr(keyframes, "_decode_all", no_full_decode)
    path = tmp_path / "long.mp4"
    encode_mp4(path, frames=50, fps=2, size=(32, 32))  # 25 s: past the decode-all threshold
    frames = sample_keyframes(path, 4)
    reds = [f.getpixel((16, 16))[0] for f in frames]
    # targets at 3.1, 9.4, 15.6, 21.9 s of a linear ramp over 25 s
    assert reds == sorted(reds)
    assert reds[0] < 60
    assert reds[-1] > 190


def _rotate_90(path: Path, out: Path) -> None:
    """Write a copy of an MP4 whose track header carries a 90 degree display matrix, as phones
    do for portrait video."""
    import struct

    data = bytearray(path.read_bytes())
    at = data.find(b"tkhd")
    assert data[at + 4] == 0  # version 0 header
    matrix = at + 4 + 4 + 4 * 5 + 8 + 2 * 4
    data[matrix : matrix + 36] = struct.pack(">9i", 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
    out.write_bytes(bytes(data))


def test_rotated_phone_video_comes_out_upright(tmp_path: Path) -> None:
    flat = tmp_path / "flat.mp4"
    encode_mp4(flat, frames=4, size=(64, 32))
    rotated = tmp_path / "rotated.mp4"
    _rotate_90(flat, rotated)
    (frame,) = sample_keyframes(rotated, 1)
    assert frame.size == (32, 64)


def test_result_does_not_depend_on_workers(collection: Path, tmp_path: Path) -> None:
    one = import_collection(collection, tmp_path / "one", workers=1)
    many = import_collection(collection, tmp_path / "many", workers=3)
    assert one.as_json() == many.as_json()
    assert tree_digest(tmp_path / "one") == tree_digest(tmp_path / "many")


def test_large_stills_are_shrunk_unless_asked_not_to(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    Image.new("RGB", (300, 2000), (9, 9, 9)).save(src / "big.png")
    import_collection(src, tmp_path / "small")
    with Image.open(tmp_path / "small" / "media" / "big" / "kf-0.png") as img:
        assert img.size == (192, 1280)
    result = runner.invoke(
        build_app(),
        ["corpus", "import", str(src), "-o", str(tmp_path / "full"), "--max-side", "0", "--json"],
    )
    assert result.exit_code == 0
    with Image.open(tmp_path / "full" / "media" / "big" / "kf-0.png") as img:
        assert img.size == (300, 2000)


def test_ids_differing_only_in_case_do_not_share_a_folder(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    Image.new("RGB", (20, 20)).save(src / "Clip.png")
    Image.new("RGB", (20, 20)).save(src / "b.png")
    (src / "b.json").write_text(json.dumps({"id": "clip"}))
    Image.new("RGB", (20, 20)).save(src / "c.png")
    (src / "c.json").write_text(json.dumps({"id": "CLIP"}))
    result = import_collection(src, tmp_path / "out")
    assert sorted(result.imported) == ["Clip-2", "clip"]
    assert [Path(r.path).name for r in result.rejected] == ["c.png"]
    assert "duplicate id 'CLIP'" in result.rejected[0].reason


def test_video_cut_short_after_its_index_is_rejected(tmp_path: Path) -> None:
    whole = tmp_path / "whole.mp4"
    encode_mp4(whole, frames=40, fps=4, faststart=True)
    assert len(sample_keyframes(whole, 3)) == 3
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(MediaError, match=r"cut\.mp4: frames stop at .* \(truncated video\)"):
        sample_keyframes(cut, 3)
