"""Demo cards: loading, one-line errors, rendered media in the cache, the video subset."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from PIL import Image

from value_spectrum.records import Video
from value_spectrum.retrieval import media
from value_spectrum.retrieval.cache import CACHE_ENV, cache_dir
from value_spectrum.retrieval.corpus import CorpusError
from value_spectrum.retrieval.demo import (
    DemoCorpus,
    demo_keyframes,
    ensure_media,
    load_cards,
    media_dir,
)

GOOD = """\
- id: tst-002
  platform: tiktok
  creator: "@b"
  title: Second card
  on_screen_text: "ON SCREEN"
  transcript: "one two three four five six"
  hashtags: ["#x", y]
  duration_s: 12
  topic: food
  values: {tradition: 0.9, benevolence: 0.3}
- id: tst-001
  platform: youtube_shorts
  creator: "@a"
  title: First card
  topic: travel
  values: {stimulation: 0.8}
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder


def card(**fields: object) -> Video:
    base: dict[str, object] = {
        "id": "tst-001",
        "title": "Sunday dinner",
        "topic": "family",
        "platform": "tiktok",
    }
    base.update(fields)
    return Video.model_validate(base)


def test_load_cards_sorted_partial_values(tmp_path: Path) -> None:
    folder = write(tmp_path / "cards", "a.yaml", GOOD)
    write(folder, "neutral.yaml", "- id: neu-001\n  title: Plain\n")
    write(folder, "notes.txt", "not a card file")
    videos = load_cards(folder)
    assert [v.id for v in videos] == ["neu-001", "tst-001", "tst-002"]
    second = videos[2]
    assert second.hashtags == ("x", "y")
    assert second.duration_s == 12.0
    assert second.source == "demo"
    assert second.values is not None
    assert second.values["tradition"] == 0.9
    assert second.values["power"] == 0.0
    assert second.primary_value == "tradition"
    assert videos[0].values is not None
    assert videos[0].primary_value is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "- id: bad-001\n  duration_s: long\n",
            r"bad\.yaml: card 'bad-001': field 'duration_s'.*'long'",
        ),
        ("- id: bad-002\n  platform: myspace\n", r"card 'bad-002': field 'platform'"),
        ("- id: bad-003\n  colour: red\n", r"card 'bad-003': field 'colour'"),
        ("- id: bad-004\n  values: {kindness: 0.5}\n", r"card 'bad-004': field 'values'.*kindness"),
        (
            "- id: bad-005\n  values: {power: 1.5}\n",
            r"card 'bad-005': field 'values.power'.*\[0, 1\]",
        ),
        ("- id: bad-006\n  values: [power]\n", r"card 'bad-006': field 'values'"),
        (
            "- id: bad-007\n  keyframes: [a.png]\n",
            r"card 'bad-007': field 'keyframes' is not allowed",
        ),
        ("- title: no id\n", r"card #1: field 'id'"),
        ("- just a string\n", r"bad\.yaml: card #1: expected a mapping"),
        ("id: not-a-list\n", r"bad\.yaml: expected a YAML list"),
        ("- id: x\n  title: [unclosed\n", r"bad\.yaml:\d+: invalid YAML"),
    ],
)
def test_card_errors_name_file_card_and_field(tmp_path: Path, text: str, expected: str) -> None:
    folder = write(tmp_path / "cards", "bad.yaml", text)
    with pytest.raises(CorpusError, match=expected) as info:
        load_cards(folder)
    assert "\n" not in str(info.value)


def test_duplicate_id_across_files(tmp_path: Path) -> None:
    folder = write(tmp_path / "cards", "a.yaml", GOOD)
    write(folder, "b.yaml", "- id: tst-001\n")
    with pytest.raises(
        CorpusError, match=r"b\.yaml: card 'tst-001': duplicate id \(also in a\.yaml\)"
    ):
        load_cards(folder)


def test_cache_dir_reads_env_at_call_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "one"))
    assert cache_dir() == tmp_path / "one"
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "two"))
    assert cache_dir() == tmp_path / "two"
    monkeypatch.delenv(CACHE_ENV)
    assert cache_dir().name == "value-spectrum"


def test_keyframes_are_deterministic_and_readable() -> None:
    video = card(on_screen_text="The recipe nobody may change", transcript="a b c d e f g h i")
    first = [media.png_bytes(media.render_keyframe(video, i)) for i in range(3)]
    second = [media.png_bytes(media.render_keyframe(video, i)) for i in range(3)]
    assert first == second
    assert len(set(first)) == 3  # the three keyframes differ
    img = media.render_keyframe(video, 0)
    assert img.size == media.FRAME_SIZE
    assert img.mode == "RGB"
    other = media.png_bytes(media.render_keyframe(card(id="tst-999"), 0))
    assert other != media.png_bytes(media.render_keyframe(card(), 0))


def test_wrap_text_fits_width_and_ellipsizes() -> None:
    font = media._font(22)
    lines = media.wrap_text("word " * 80 + "supercalifragilisticexpialidocious" * 3, font, 200, 4)
    assert len(lines) == 4
    assert all(font.getlength(line) <= 200 for line in lines)
    assert lines[-1].endswith("…")
    assert media.wrap_text("", font, 200, 3) == []


def test_resolver_renders_once_into_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    video = card()
    paths = demo_keyframes(video)
    assert [p.name for p in paths] == ["kf-0.png", "kf-1.png", "kf-2.png"]
    assert paths[0].parent == tmp_path / "cache" / "demo-media" / video.content_hash()[:16]
    stamp = [p.stat().st_mtime_ns for p in paths]
    assert demo_keyframes(video) == paths
    assert [p.stat().st_mtime_ns for p in paths] == stamp  # reused, not redrawn
    with Image.open(paths[1]) as img:
        assert img.size == media.FRAME_SIZE
    assert paths[0].read_bytes() == media.png_bytes(media.render_keyframe(video, 0))
    # a damaged cache entry is redrawn
    paths[2].unlink()
    assert demo_keyframes(video)[2].is_file()
    assert not [p for p in media_dir(video).iterdir() if p.name.startswith(".")]


def test_video_subset_renders_decodable_mp4(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    ids = [f"v-{i:03d}" for i in range(200)]
    chosen = [i for i in ids if media.has_rendered_video(card(id=i))]
    assert 8 <= len(chosen) <= 35  # about one in ten
    videos = [card(id=i) for i in ids[:40]]
    corpus = DemoCorpus("demo", videos, media=demo_keyframes)
    with_video = [v for v in videos if corpus.has_video(v)]
    without = next(v for v in videos if not corpus.has_video(v))
    assert corpus.video_file(without) is None
    path = corpus.video_file(with_video[0])
    assert path is not None
    assert path.name == "video.mp4"
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == round(media.VIDEO_SECONDS * media.VIDEO_FPS)
    assert (frames[0].width, frames[0].height) == media.FRAME_SIZE


def test_render_video_to_explicit_path(tmp_path: Path) -> None:
    out = media.render_video(
        card(transcript="hello there friend"), tmp_path / "x" / "clip.mp4", seconds=1, fps=4
    )
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name in {"h264", "mpeg4"}
        assert len(list(container.decode(stream))) == 4
    assert [p.name for p in out.parent.iterdir()] == ["clip.mp4"]


def test_ensure_media_forced_video(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    keyframes, mp4 = ensure_media(card(), with_video=True)
    assert mp4 is not None
    assert mp4.is_file()
    assert len(keyframes) == 3


def test_text_the_font_lacks_is_replaced_not_boxed() -> None:
    assert media.displayable("junior → senior") == "junior -> senior"
    assert media.displayable("Café 🎒 crème") == "Cafe creme"
    assert media.displayable("plain ASCII stays") == "plain ASCII stays"
    # a card full of such characters still renders deterministically
    video = card(title="Ünïcödé → ✓ 🎉", on_screen_text="—•—")
    assert media.png_bytes(media.render_keyframe(video, 0)) == media.png_bytes(
        media.render_keyframe(video, 0)
    )
