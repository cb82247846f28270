"""Typed models of the run directory's side files, ``labels.json`` and ``personas.json``, and
the in-memory form scoring reads (:class:`LabelledVideo`).

Sessions record only video and persona ids, so the runner writes these two files when the run is
created: scoring then needs nothing outside the run directory.

* ``labels.json``: :class:`LabelsFile` ``{"schema_version": 1, "corpus": {...}, "videos":
  {id: VideoLabels}}``.
* ``personas.json``: :class:`PersonasFile` ``{"schema_version": 1, "personas": {id:
  {"name": ..., "target": {...}}}}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from value_spectrum.records import Video
from value_spectrum.values import ValueProfile, parse_value

SIDE_SCHEMA = 1
"""Version of the labels / personas side files."""


class _File(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _profile_dict(v: Mapping[str, float] | None) -> dict[str, float] | None:
    if v is None:
        return None
    return ValueProfile.from_mapping(v).as_dict()


class VideoLabels(_File):
    """What scoring knows about one video."""

    values: dict[str, float] | None = None
    """Relevance of each of the ten values in [0, 1], or None when unlabelled."""
    primary_value: str | None = None
    """The value the item stands for (authored primary, or the value whose keyword retrieved it
    in the preference benchmark); None when near-neutral."""
    title: str = ""
    """Title, for example decisions in reports."""
    caption: str = ""
    """Caption (shown by the HTML report's decision explorer)."""
    platform: str = "other"
    """Platform."""
    topic: str = ""
    """Coarse topic."""
    keyframes: tuple[str, ...] = ()
    """Absolute keyframe paths, when known (for the HTML report's examples)."""

    @field_validator("values")
    @classmethod
    def _ten_values(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        return _profile_dict(v)

    @field_validator("primary_value")
    @classmethod
    def _known_value(cls, v: str | None) -> str | None:
        return None if v is None else parse_value(v).value


class LabelsFile(_File):
    """``labels.json``."""

    schema_version: int = SIDE_SCHEMA
    """Side-file format version."""
    corpus: dict[str, Any] = Field(default_factory=dict)
    """Corpus provenance (``Corpus.describe()``)."""
    videos: dict[str, VideoLabels] = Field(default_factory=dict)
    """Video id -> labels."""


class PersonaEntry(_File):
    """One persona, as scoring needs it."""

    name: str
    """Display name."""
    target: dict[str, float]
    """The target profile (ten values)."""
    traits: tuple[str, ...] = ()
    """The persona's traits (the report rebuilds the prompt sent from them); empty in runs
    written before they were recorded."""

    @field_validator("target")
    @classmethod
    def _ten_values(cls, v: dict[str, float]) -> dict[str, float]:
        return ValueProfile.from_mapping(v).as_dict()


class PersonasFile(_File):
    """``personas.json``."""

    schema_version: int = SIDE_SCHEMA
    """Side-file format version."""
    personas: dict[str, PersonaEntry] = Field(default_factory=dict)
    """Persona id -> name and target."""


@dataclass(frozen=True)
class LabelledVideo:
    """What scoring knows about one video: its labels and what a report may show of it."""

    id: str
    """The video id."""
    values: ValueProfile | None
    """Value labels (relevance in [0, 1]), or None when unlabelled."""
    primary_value: str | None
    """The value the item stands for (authored primary or retrieval value); None if neutral."""
    title: str = ""
    """Title, for example decisions in reports."""
    platform: str = "other"
    """Platform."""
    topic: str = ""
    """Coarse topic."""
    keyframes: tuple[str, ...] = ()
    """Absolute keyframe paths, when known."""
    caption: str = ""
    """Caption."""

    @classmethod
    def from_entry(cls, video_id: str, entry: VideoLabels) -> LabelledVideo:
        """From a ``labels.json`` entry."""
        return cls(
            id=video_id,
            values=None if entry.values is None else ValueProfile.from_mapping(entry.values),
            primary_value=entry.primary_value,
            title=entry.title,
            platform=entry.platform,
            topic=entry.topic,
            keyframes=entry.keyframes,
            caption=entry.caption,
        )


def video_labels(
    video: Video, *, keyframes: Sequence[str | Path] = (), primary_value: str | None = None
) -> VideoLabels:
    """The ``labels.json`` entry of one video (``primary_value`` overrides the authored one)."""
    return VideoLabels(
        values=None if video.values is None else video.values.as_dict(),
        primary_value=video.primary_value if primary_value is None else primary_value,
        title=video.title,
        caption=video.caption,
        platform=video.platform,
        topic=video.topic,
        keyframes=tuple(str(k) for k in keyframes),
    )


def labelled(
    videos: Iterable[Video], *, primary_values: Mapping[str, str] | None = None
) -> dict[str, LabelledVideo]:
    """Video id -> :class:`LabelledVideo`, in memory (what ``labels.json`` would hold, without
    keyframes)."""
    out: dict[str, LabelledVideo] = {}
    for v in videos:
        override = None if primary_values is None else primary_values.get(v.id)
        out[v.id] = LabelledVideo.from_entry(v.id, video_labels(v, primary_value=override))
    return out
