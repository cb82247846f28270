"""The built-in demo corpus: fictional short-video cards shipped as YAML inside the package
(``retrieval/demo_cards/*.yaml``), with keyframes (and, for one card in ten, an MP4) rendered on
demand into the user cache.

Example:
    >>> corpus = load_demo_corpus()
    >>> video = corpus.videos[0]
    >>> paths = corpus.keyframe_paths(video)  # rendered once, then reused
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from value_spectrum.records import Video
from value_spectrum.retrieval._files import atomic_write_text
from value_spectrum.retrieval.cache import cache_subdir
from value_spectrum.retrieval.corpus import DEMO, Corpus, CorpusError
from value_spectrum.retrieval.media import (
    KEYFRAMES_PER_CARD,
    RENDER_VERSION,
    has_rendered_video,
    render_video,
    write_keyframes,
)
from value_spectrum.values import ValueProfile

log = logging.getLogger(__name__)

CARDS_PACKAGE = "value_spectrum.retrieval"
"""Package that holds the card folder."""

CARDS_DIR = "demo_cards"
"""Folder of YAML card files inside :data:`CARDS_PACKAGE`."""

MEDIA_SUBDIR = "demo-media"
"""Folder inside the user cache where demo media are rendered."""

VIDEO_NAME = "video.mp4"
"""File name of a rendered demo video inside its card's media folder."""

STAMP_NAME = "render.json"
"""Marker written after a card's media are complete; it records the renderer version."""

_RENDER_LOCK = threading.Lock()

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""LibYAML's safe loader when PyYAML was built with it (several times faster), else the pure one."""

_MEDIA_FIELDS = ("keyframes", "video_path", "source")
"""Video fields a demo card may not set: its media are rendered and its source is 'demo'."""


# ---- cards --------------------------------------------------------------------------------


def _first_error(exc: ValidationError) -> tuple[str, str, Any]:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "<card>"
    return field, err["msg"], err.get("input")


def parse_values(raw: object, where: str) -> ValueProfile:
    """A card's partial ``values`` mapping as a full profile (missing values are 0.0).

    Raises:
        CorpusError: not a mapping, an unknown value name, or a relevance outside [0, 1].
    """
    if raw is None:
        return ValueProfile.uniform(0.0)
    if not isinstance(raw, Mapping):
        raise CorpusError(
            f"{where}: field 'values': expected a mapping of value -> relevance, got {raw!r}"
        )
    for name, number in raw.items():
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise CorpusError(
                f"{where}: field 'values.{name}': expected a number in [0, 1], got {number!r}"
            )
        if not 0.0 <= float(number) <= 1.0:
            raise CorpusError(
                f"{where}: field 'values.{name}': relevance must be in [0, 1], got {number!r}"
            )
    try:
        return ValueProfile.from_mapping({str(k): float(v) for k, v in raw.items()}, default=0.0)
    except ValueError as exc:
        raise CorpusError(f"{where}: field 'values': {exc}") from None


def parse_card(raw: object, *, file: str, index: int) -> Video:
    """Validate one YAML card into a :class:`Video` with ``source="demo"``.

    Args:
        raw: The parsed YAML item.
        file: The card file's name, for messages.
        index: 0-based position in the file, for messages about cards without an id.

    Raises:
        CorpusError: one line naming the file, the card id and the field.
    """
    if not isinstance(raw, Mapping):
        raise CorpusError(f"{file}: card #{index + 1}: expected a mapping of fields, got {raw!r}")
    card_id = raw.get("id")
    label = f"card {card_id!r}" if isinstance(card_id, str) and card_id else f"card #{index + 1}"
    where = f"{file}: {label}"
    for name in _MEDIA_FIELDS:
        if name in raw:
            raise CorpusError(
                f"{where}: field {name!r} is not allowed in a demo card (media are rendered)"
            )
    data = {str(k): v for k, v in raw.items() if k != "values"}
    data["values"] = parse_values(raw.get("values"), where)
    data["source"] = DEMO
    try:
        return Video.model_validate(data)
    except ValidationError as exc:
        field, msg, got = _first_error(exc)
        raise CorpusError(f"{where}: field {field!r}: {msg} (got {got!r})") from None


def _card_files(directory: Path | Traversable) -> list[Path | Traversable]:
    return sorted(
        (p for p in directory.iterdir() if p.name.endswith((".yaml", ".yml")) and p.is_file()),
        key=lambda p: p.name,
    )


def load_cards(directory: Path | Traversable) -> list[Video]:
    """Read every ``*.yaml`` / ``*.yml`` card file in ``directory`` (each a YAML list of
    cards), sorted by id.

    Raises:
        CorpusError: a YAML syntax error, a bad card or a duplicate id, naming the file(s),
            the card and the field.
    """
    seen: dict[str, str] = {}
    videos: list[Video] = []
    for path in _card_files(directory):
        try:
            items = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)  # noqa: S506 (safe loader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f":{mark.line + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise CorpusError(f"{path.name}{at}: invalid YAML: {problem}") from None
        if items is None:
            continue
        if not isinstance(items, list):
            raise CorpusError(
                f"{path.name}: expected a YAML list of cards, got {type(items).__name__}"
            )
        for i, raw in enumerate(items):
            video = parse_card(raw, file=path.name, index=i)
            if video.id in seen:
                raise CorpusError(
                    f"{path.name}: card {video.id!r}: duplicate id (also in {seen[video.id]})"
                )
            seen[video.id] = path.name
            videos.append(video)
    videos.sort(key=lambda v: v.id)
    return videos


def demo_cards_dir() -> Traversable:
    """The packaged card folder."""
    return files(CARDS_PACKAGE).joinpath(CARDS_DIR)


# ---- media ----------------------------------------------------------------------------------


def media_dir(video: Video, *, create: bool = True) -> Path:
    """``<cache>/demo-media/<content hash[:16]>``: keyed by what a viewer sees, so an edited
    card gets new media and an unchanged one keeps its files (``create``: make the cache's
    ``demo-media`` folder)."""
    return cache_subdir(MEDIA_SUBDIR, create=create) / video.content_hash()[:16]


def _stamp(video: Video) -> str:
    return json.dumps(
        {"render_version": RENDER_VERSION, "keyframes": KEYFRAMES_PER_CARD, "id": video.id},
        sort_keys=True,
    )


def _fresh(folder: Path, video: Video, names: Iterable[str]) -> bool:
    stamp = folder / STAMP_NAME
    try:
        if stamp.read_text(encoding="utf-8") != _stamp(video):
            return False
    except OSError:
        return False
    return all((folder / n).is_file() for n in names)


def keyframe_names(count: int = KEYFRAMES_PER_CARD) -> tuple[str, ...]:
    """File names of a card's keyframes: ``kf-0.png`` ..."""
    return tuple(f"kf-{i}.png" for i in range(count))


def ensure_media(
    video: Video, *, with_video: bool | None = None
) -> tuple[tuple[Path, ...], Path | None]:
    """Render ``video``'s keyframes (and its MP4 when it is in the video subset) into the cache
    unless they are there already from the same renderer version.

    Args:
        video: A demo card.
        with_video: Force the MP4 on or off; ``None`` follows :func:`has_rendered_video`.

    Returns:
        The keyframe paths and the MP4 path (None when the card has no video).
    """
    folder = media_dir(video)
    names = keyframe_names()
    wants_video = has_rendered_video(video) if with_video is None else with_video
    needed = names + ((VIDEO_NAME,) if wants_video else ())
    if not _fresh(folder, video, needed):
        # one renderer per process at a time: Pillow's FreeType fonts are shared objects, and
        # threads asking for the same card should wait for it rather than draw it twice
        with _RENDER_LOCK:
            if not _fresh(folder, video, needed):
                log.debug("rendering demo media for %s into %s", video.id, folder)
                write_keyframes(video, folder)
                if wants_video:
                    render_video(video, folder / VIDEO_NAME)
                atomic_write_text(folder / STAMP_NAME, _stamp(video))
    return tuple(folder / n for n in names), (folder / VIDEO_NAME if wants_video else None)


def demo_keyframes(video: Video) -> tuple[Path, ...]:
    """The :data:`~value_spectrum.retrieval.corpus.MediaResolver` of the demo corpus."""
    return ensure_media(video)[0]


class DemoCorpus(Corpus):
    """The demo corpus: keyframes and videos are rendered into the cache on first use."""

    def has_video(self, video: Video) -> bool:
        """Whether this card is in the subset with a rendered MP4."""
        return has_rendered_video(video)

    def keyframe_locations(self, video: Video) -> tuple[Path, ...]:
        """Where the card's keyframes are rendered (on first use), rendering nothing."""
        if video.keyframes:
            return self.keyframe_paths(video)
        folder = media_dir(video, create=False)
        return tuple(folder / n for n in keyframe_names())

    def video_file(self, video: Video) -> Path | None:
        """The rendered MP4 (rendered now if missing), or None for cards without one."""
        if not has_rendered_video(video):
            return None
        return ensure_media(video)[1]


@lru_cache(maxsize=1)
def load_demo_corpus() -> DemoCorpus:
    """The built-in demo corpus, read once per process, cards sorted by id.

    Raises:
        CorpusError: a bad card file (naming file, card id and field), or no cards at all.
    """
    videos = load_cards(demo_cards_dir())
    if not videos:
        raise CorpusError(f"no demo cards found in {CARDS_PACKAGE}/{CARDS_DIR}")
    log.debug("loaded %d demo cards", len(videos))
    return DemoCorpus(DEMO, videos, media=demo_keyframes)


# ---- pre-rendering ---------------------------------------------------------------------------


def render_demo_media(corpus: Corpus, *, limit: int | None = None) -> int:
    """Render (or confirm) the cached media of the first ``limit`` cards (all by default).

    Returns:
        The number of cards whose media are now in the cache.
    """
    videos = corpus.videos[:limit] if limit is not None else corpus.videos
    for video in videos:
        ensure_media(video)
    return len(videos)


def write_demo_corpus_dir(corpus: Corpus, out: Path, *, limit: int | None = None) -> int:
    """Write the demo corpus (or its first ``limit`` cards) as an ordinary corpus directory:
    ``out/corpus.jsonl`` plus ``out/media/<id>/kf-<i>.png`` (and ``video.mp4`` for cards that
    have one), readable by :func:`~value_spectrum.retrieval.corpus.load_corpus` on a machine
    without this package's cache. Files are written atomically; existing ones are replaced.

    Returns:
        The number of cards written.
    """
    from value_spectrum.retrieval._files import atomic_write_bytes
    from value_spectrum.retrieval.corpus import CORPUS_FILE

    videos = corpus.videos[:limit] if limit is not None else corpus.videos
    lines = []
    for video in videos:
        keyframes, mp4 = ensure_media(video)
        rel = Path("media") / video.id
        stored = []
        for path in keyframes:
            atomic_write_bytes(out / rel / path.name, path.read_bytes())
            stored.append((rel / path.name).as_posix())
        video_path = None
        if mp4 is not None:
            atomic_write_bytes(out / rel / VIDEO_NAME, mp4.read_bytes())
            video_path = (rel / VIDEO_NAME).as_posix()
        card = video.model_copy(update={"keyframes": tuple(stored), "video_path": video_path})
        lines.append(card.model_dump_json())
    atomic_write_text(out / CORPUS_FILE, "".join(f"{line}\n" for line in lines))
    return len(videos)
