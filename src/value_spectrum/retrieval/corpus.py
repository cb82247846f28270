"""A corpus: an ordered collection of :class:`~value_spectrum.records.Video` cards plus where
their media live.

On disk a corpus is a directory holding ``corpus.jsonl`` (one Video per line, media paths
relative to the directory) and its media files. The built-in demo corpus is the exception: its
cards ship as YAML inside the package and its media are rendered on demand into the user cache
(see :mod:`value_spectrum.retrieval.demo`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from pydantic import ValidationError

from value_spectrum.records import Video

CORPUS_FILE = "corpus.jsonl"
"""Name of the card file inside a corpus directory."""

DEMO = "demo"
"""The name that selects the built-in demo corpus."""

MediaResolver = Callable[[Video], tuple[Path, ...]]
"""Turns a card into absolute keyframe paths (rendering them first when needed)."""


class CorpusError(ValueError):
    """A corpus could not be read; the message names the file, the line and the field."""


class Corpus:
    """An ordered, id-indexed set of videos and a way to reach their keyframes.

    Args:
        name: A short name for manifests and reports (``"demo"`` or the directory name).
        videos: The cards, in a stable order.
        root: The corpus directory that relative media paths are resolved against.
        media: Optional resolver for cards without stored keyframes (the demo renderer).
    """

    def __init__(
        self,
        name: str,
        videos: Sequence[Video],
        *,
        root: Path | None = None,
        media: MediaResolver | None = None,
    ) -> None:
        self.name = name
        self.root = root
        self._videos = tuple(videos)
        self._by_id: dict[str, Video] = {}
        for v in self._videos:
            if v.id in self._by_id:
                raise CorpusError(f"{name}: duplicate video id {v.id!r}")
            self._by_id[v.id] = v
        self._media = media

    # ---- collection protocol ------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._videos)

    def __iter__(self) -> Iterator[Video]:
        return iter(self._videos)

    def __contains__(self, video_id: object) -> bool:
        return video_id in self._by_id

    @property
    def videos(self) -> tuple[Video, ...]:
        """All cards, in corpus order."""
        return self._videos

    @property
    def ids(self) -> tuple[str, ...]:
        """All ids, in corpus order."""
        return tuple(v.id for v in self._videos)

    def get(self, video_id: str) -> Video:
        """The card with this id.

        Raises:
            KeyError: naming the id and the corpus.
        """
        try:
            return self._by_id[video_id]
        except KeyError:
            raise KeyError(f"no video {video_id!r} in corpus {self.name!r}") from None

    # ---- media --------------------------------------------------------------------------
    def keyframe_paths(self, video: Video) -> tuple[Path, ...]:
        """Absolute paths of ``video``'s keyframes (rendered first for demo cards)."""
        if video.keyframes:
            base = self.root or Path.cwd()
            return tuple((base / k).resolve() for k in video.keyframes)
        if self._media is not None:
            return self._media(video)
        return ()

    def keyframe_locations(self, video: Video) -> tuple[Path, ...]:
        """Where ``video``'s keyframes are or will be, rendering nothing (recorded in a run's
        ``labels.json`` for reports; a file may not exist yet)."""
        if video.keyframes:
            return self.keyframe_paths(video)
        return ()

    def has_video(self, video: Video) -> bool:
        """Whether ``video`` has a video file (the demo corpus overrides this: there, one card
        in ten gets a rendered MP4). Cheap: renders nothing."""
        return video.video_path is not None

    def video_file(self, video: Video) -> Path | None:
        """Absolute path of the video file, when the card has one."""
        if video.video_path is None:
            return None
        return ((self.root or Path.cwd()) / video.video_path).resolve()

    # ---- provenance ---------------------------------------------------------------------
    def content_hash(self) -> str:
        """SHA-256 over every card's content hash and labels, in order: the corpus identity
        recorded in run manifests and index metadata."""
        h = hashlib.sha256()
        for v in self._videos:
            h.update(v.content_hash().encode())
            labels = "" if v.values is None else json.dumps(v.values.as_dict(), sort_keys=True)
            h.update(labels.encode())
        return h.hexdigest()

    def describe(self) -> dict[str, object]:
        """Name, size and hash, for manifests."""
        return {"name": self.name, "items": len(self), "content_hash": self.content_hash()}


def read_corpus_dir(path: Path) -> Corpus:
    """Read a corpus directory written by ``value-spectrum corpus import``.

    Raises:
        CorpusError: a missing ``corpus.jsonl`` or a bad line, naming the file, line and field.
    """
    card_file = path / CORPUS_FILE
    if not card_file.is_file():
        raise CorpusError(f"{path}: not a corpus directory (no {CORPUS_FILE})")
    videos: list[Video] = []
    with card_file.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                videos.append(Video.model_validate_json(line))
            except ValidationError as exc:
                err = exc.errors()[0]
                field = ".".join(str(p) for p in err["loc"]) or "<line>"
                raise CorpusError(
                    f"{card_file}:{lineno}: field {field!r}: {err['msg']} (got {err.get('input')!r})"
                ) from None
    return Corpus(path.name, videos, root=path.resolve())


def load_corpus(spec: str | Path | None = None) -> Corpus:
    """Load a corpus: ``None`` or ``"demo"`` for the built-in demo corpus, else a directory.

    Raises:
        CorpusError: the path is not a corpus directory, or a card is invalid.
    """
    if spec is None or str(spec) == DEMO:
        from value_spectrum.retrieval.demo import load_demo_corpus

        return load_demo_corpus()
    return read_corpus_dir(Path(spec))
