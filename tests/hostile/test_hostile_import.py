"""Issue 12 items 2, 3 and 8 (import leftovers): hostile folders for ``corpus import``.

A folder with a non-UTF-8 file name, a link leaving the folder and a pixel bomb imports every
other file and names the bad ones; a killed import's staging folder is cleaned by the next.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import av
import pytest
from _hostile import cli, tree
from PIL import Image

from value_spectrum.retrieval.corpus import CORPUS_FILE, load_corpus
from value_spectrum.retrieval.importer import clean_stale_staging, import_collection

BAD_NAME = os.fsdecode(b"bad\xffname.png")


def encode_mp4(path: Path, size: tuple[int, int] = (64, 112), frames: int = 6) -> None:
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=6)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            img = Image.new("RGB", size, (40 * i % 255, 64, 128))
            for packet in stream.encode(av.VideoFrame.from_image(img)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    """Good files plus one of each bad kind."""
    src = tmp_path / "in"
    src.mkdir()
    for n in range(3):
        Image.new("RGB", (40, 70), (n * 60, 10, 10)).save(src / f"good{n}.png")
    encode_mp4(src / "clip.mp4")
    outside = tmp_path / "secret.png"
    Image.new("RGB", (40, 70)).save(outside)
    (src / "link.png").symlink_to(outside)
    Image.new("1", (12_000, 12_000)).save(src / "bomb.png")  # 17 KB on disk, 144 Mpx decoded
    Image.new("RGB", (40, 70)).save(os.fsencode(src) + b"/bad\xffname.png")
    return src


def test_three_bad_files_named_the_rest_imported(hostile: Path, tmp_path: Path) -> None:
    out = tmp_path / "corpus"
    before = tree(hostile)
    result = import_collection(hostile, out)
    assert sorted(result.imported) == ["clip", "good0", "good1", "good2"]
    reasons = {Path(r.path).name: r.reason for r in result.rejected}
    assert set(reasons) == {"bad\\xffname.png", "link.png", "bomb.png"}
    assert "UTF-8" in reasons["bad\\xffname.png"]
    assert "outside the imported folder" in reasons["link.png"]
    assert "12000 x 12000" in reasons["bomb.png"]
    assert "pixel" in reasons["bomb.png"]
    assert tree(hostile) == before
    corpus = load_corpus(out)
    assert "secret" not in (out / CORPUS_FILE).read_text()
    assert all(str(tmp_path / "secret.png") not in v.source for v in corpus.videos)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus", "in", "secret.png"]


def test_cli_json_names_each_bad_file_on_one_line(hostile: Path, tmp_path: Path) -> None:
    out = tmp_path / "corpus"
    result = cli("corpus", "import", str(hostile), "--out", str(out), "--json")
    assert result.code == 1
    data = json.loads(result.stdout)
    assert data["imported"] == 4
    assert sorted(Path(r["path"]).name for r in data["rejected"]) == [
        "bad\\xffname.png",
        "bomb.png",
        "link.png",
    ]


def test_cli_table_prints_one_line_per_bad_file(hostile: Path, tmp_path: Path) -> None:
    result = cli("corpus", "import", str(hostile), "--out", str(tmp_path / "corpus"))
    assert result.code == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("rejected")]
    assert len(lines) == 3, result.stderr
    assert any("bad\\xffname.png" in line for line in lines)


def test_link_inside_the_folder_is_imported(tmp_path: Path) -> None:
    src = tmp_path / "in"
    (src / "real").mkdir(parents=True)
    Image.new("RGB", (40, 70)).save(src / "real" / "a.png")
    (src / "alias.png").symlink_to(src / "real" / "a.png")
    result = import_collection(src, tmp_path / "out")
    assert sorted(result.imported) == ["a", "alias"]
    assert not result.rejected


def test_broken_link_and_sidecar_link_leaving_the_folder(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "gone.png").symlink_to(tmp_path / "missing.png")
    Image.new("RGB", (40, 70)).save(src / "shot.png")
    (tmp_path / "passwd.json").write_text(json.dumps({"title": "from outside"}))
    (src / "shot.json").symlink_to(tmp_path / "passwd.json")
    Image.new("RGB", (40, 70)).save(src / "ok.png")
    result = import_collection(src, tmp_path / "out")
    assert result.imported == ("ok",)
    reasons = {Path(r.path).name: r.reason for r in result.rejected}
    assert "broken link" in reasons["gone.png"]
    assert "sidecar shot.json" in reasons["shot.png"]
    assert "outside" in reasons["shot.png"]


def test_video_with_frames_over_the_pixel_limit(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    encode_mp4(src / "big.mp4", size=(64, 112))
    Image.new("RGB", (20, 20)).save(src / "small.png")
    result = import_collection(src, tmp_path / "out", max_pixels=5_000)
    assert result.imported == ("small",)
    (bad,) = result.rejected
    assert "64 x 112" in bad.reason
    assert "5,000-pixel limit" in bad.reason


def test_markup_in_a_file_name_is_printed_verbatim(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "[bold]x[red].png").write_text("not an image")
    Image.new("RGB", (20, 20)).save(src / "fine.png")
    result = cli("corpus", "import", str(src), "--out", str(tmp_path / "out"))
    assert result.code == 1
    assert "[bold]x[red].png" in result.stderr


def test_killed_import_staging_is_cleaned_and_previous_media_kept(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    Image.new("RGB", (20, 20)).save(src / "a.png")
    out = tmp_path / "out"
    import_collection(src, out)
    # what a kill leaves: a staging folder with half a media tree, and a swap cut in half
    (out / ".import-x1y2" / "media" / "a").mkdir(parents=True)
    (out / ".import-x1y2" / "media" / "a" / "kf-0.png").write_bytes(b"\0" * 1000)
    old = out / ".import-old-z9"
    old.mkdir()
    (out / "media").rename(old / "media")
    removed = clean_stale_staging(out)
    assert sorted(p.name for p in removed) == [".import-old-z9", ".import-x1y2"]
    assert (out / "media" / "a" / "kf-0.png").is_file()  # the swap was undone
    assert sorted(p.name for p in out.iterdir()) == [CORPUS_FILE, "media"]
    assert len(load_corpus(out)) == 1


def test_next_import_cleans_leftovers(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    Image.new("RGB", (20, 20)).save(src / "a.png")
    out = tmp_path / "out"
    import_collection(src, out)
    (out / ".import-dead" / "media").mkdir(parents=True)
    result = cli("corpus", "import", str(src), "--out", str(out), "--json")
    assert result.code == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == [CORPUS_FILE, "media"]
