"""The records that flow through the toolkit: videos, what a viewer sees, what it decided, and
the trajectory of a whole session. All frozen, all versioned through :data:`SCHEMA_VERSION`.

Depends only on :mod:`value_spectrum.values`.

A run directory stores :class:`RunManifest` once and one :class:`Trajectory` per finished
session; scoring reads nothing else (see ``docs/run-format.md``).
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from value_spectrum.values import ValueProfile

SCHEMA_VERSION = 1
"""Version of the on-disk record format. Bump on any incompatible change and document it."""

Platform = Literal["tiktok", "youtube_shorts", "instagram_reels", "other"]
PLATFORMS: tuple[str, ...] = ("tiktok", "youtube_shorts", "instagram_reels", "other")

PRIMARY_MIN = 0.5
"""A video has a primary value only when its highest label reaches this relevance; below it the
video is near-neutral."""

Modality = Literal["frames", "caption", "title"]
"""What the viewer is shown: keyframes plus visible text; the text alone (with the scene
described in words); or the title alone."""


class Frozen(BaseModel):
    """Base for every record: immutable, unknown fields refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Video(Frozen):
    """One short video (or one screenshot of it) in a collection."""

    id: str = Field(min_length=1)
    """Stable identifier, unique within its corpus."""
    platform: Platform = "other"
    """Where it was posted."""
    creator: str = ""
    """The creator's handle (fictional in the demo corpus)."""
    title: str = ""
    """The title a viewer sees."""
    caption: str = ""
    """The caption under the video."""
    hashtags: tuple[str, ...] = ()
    """Hashtags without the leading '#'."""
    on_screen_text: str = ""
    """Text burnt into the frames."""
    description: str = ""
    """A paragraph describing what is seen (for the caption-only modality and for text embedding)."""
    transcript: str = ""
    """What is said, or a snippet of it."""
    duration_s: float = Field(default=0.0, ge=0.0)
    """Length in seconds (0 for a screenshot)."""
    topic: str = ""
    """Coarse topic: family, food, travel, sports, technology, finance, ..."""
    values: ValueProfile | None = None
    """Value labels, relevance in [0, 1]. Never shown to a model."""
    keyframes: tuple[str, ...] = ()
    """Keyframe image paths, relative to the corpus directory. Empty for cards whose media are
    rendered on demand (the demo corpus)."""
    video_path: str | None = None
    """The video file, relative to the corpus directory, when there is one."""
    source: str = ""
    """Where the item came from (an imported file's original path, or 'demo')."""

    @field_validator("hashtags", mode="before")
    @classmethod
    def _strip_hash(cls, v: Any) -> Any:
        if isinstance(v, list | tuple):
            return tuple(str(t).lstrip("#") for t in v)
        return v

    @property
    def primary_value(self) -> str | None:
        """The highest labelled value; None for unlabelled or near-neutral videos (highest
        label below :data:`PRIMARY_MIN`)."""
        if self.values is None:
            return None
        top = self.values.primary()
        return top.value if self.values[top] >= PRIMARY_MIN else None

    def visible_text(self) -> str:
        """Everything a viewer can read or hear, joined: what a text embedder should see."""
        parts = [
            self.title,
            self.caption,
            " ".join(f"#{h}" for h in self.hashtags),
            self.on_screen_text,
            self.description,
            self.transcript,
        ]
        return "\n".join(p for p in parts if p)

    def content_hash(self) -> str:
        """SHA-256 of everything but the labels and source: changes when what a viewer would
        see changes."""
        payload = self.model_dump(mode="json", exclude={"values", "source"})
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class Observation(Frozen):
    """What a viewer is shown at one turn: what a person would see, never the value labels."""

    turn: int = Field(ge=0)
    """0-based turn in the session."""
    video_id: str
    """Which video."""
    platform: Platform = "other"
    """Where it is shown."""
    creator: str = ""
    """The creator's handle."""
    title: str = ""
    """The title."""
    caption: str = ""
    """The caption."""
    hashtags: tuple[str, ...] = ()
    """Hashtags without '#'."""
    on_screen_text: str = ""
    """Text in the frames."""
    description: str = ""
    """The scene in words (shown in the caption modality, where no image is sent)."""
    transcript: str = ""
    """What is said."""
    duration_s: float = 0.0
    """Length in seconds."""
    keyframes: tuple[str, ...] = ()
    """Absolute paths of the keyframe images to send (frames modality)."""
    modality: Modality = "frames"
    """What to show."""

    @classmethod
    def of(cls, video: Video, *, turn: int, keyframes: tuple[str, ...] = (), modality: Modality = "frames") -> Observation:
        """The observation of ``video`` at ``turn``; labels and source stay behind."""
        return cls(
            turn=turn,
            video_id=video.id,
            platform=video.platform,
            creator=video.creator,
            title=video.title,
            caption=video.caption,
            hashtags=video.hashtags,
            on_screen_text=video.on_screen_text,
            description=video.description,
            transcript=video.transcript,
            duration_s=video.duration_s,
            keyframes=keyframes,
            modality=modality,
        )


class Decision(Frozen):
    """What the viewer did with one video."""

    action: Literal["like", "skip"]
    """The choice."""
    reason: str = ""
    """The model's own words, stored, never parsed."""
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    """Self-reported confidence in [0, 1], when the strategy asks for one."""
    scores: dict[str, float] = Field(default_factory=dict)
    """Strategy-specific ratings (the ISQ strategy's visual appeal, curiosity, ...)."""
    dwell_s: float | None = Field(default=None, ge=0.0)
    """Seconds the video was watched, when known (people's logs; viewers that report it): a
    graded signal beside the like or skip (``docs/methods.md``)."""
    leave: bool = False
    """The viewer leaves the feed after this video: the session ends with status ``left``."""


class Outcome(StrEnum):
    """How one turn ended. Only ``like`` and ``skip`` are decisions; the rest are recorded
    failures, counted in every report, never turned into a silent skip."""

    LIKE = "like"
    SKIP = "skip"
    UNPARSEABLE = "unparseable"
    REFUSED = "refused"
    ERROR = "error"


class Usage(Frozen):
    """Tokens and money spent on one model call (or one turn, summed)."""

    prompt_tokens: int = 0
    """Input tokens."""
    completion_tokens: int = 0
    """Output tokens."""
    cost_usd: float = 0.0
    """Cost as litellm priced it (0 when unknown)."""
    cached: bool = False
    """Served from the response cache."""
    repairs: int | None = None
    """Repair requests sent after an unreadable reply (None: not recorded, as in runs written
    before this field existed)."""
    retries: int | None = None
    """Requests re-sent to get this reply, beyond the first: the model client's retries (429,
    5xx, timeouts), the gateway's own re-asks (rate-limit rounds, malformed bodies), fallback
    hops and response-format or image trials after a rejection; 0 for a cache hit (None: the
    transport did not say, as in runs written before it was counted). Requests sent = model
    calls + retries; repair requests are model calls of their own."""


class Step(Frozen):
    """One turn of a feed session."""

    turn: int = Field(ge=0)
    """0-based turn."""
    video_id: str
    """The video shown."""
    outcome: Outcome
    """like | skip | unparseable | refused | error."""
    decision: Decision | None = None
    """The parsed decision (None unless the outcome is like or skip)."""
    raw: str = ""
    """The model's raw final reply, kept for every outcome."""
    earlier_raws: tuple[str, ...] = ()
    """The replies before the final one, oldest first: the unreadable reply a repair turn was
    asked to replace. With :attr:`raw`, every reply of the decision is kept."""
    repaired: bool = False
    """The first reply could not be read and the decision comes from the repair turn's reply."""
    error: str = ""
    """Why the turn failed, for error / unparseable / refused."""
    searches: tuple[str, ...] = ()
    """Queries the viewer sent to the search tool during this turn."""
    usage: Usage = Usage()
    """Tokens and cost of this turn."""
    latency_s: float = 0.0
    """Wall time of the decision."""


class ProbeAnswer(Frozen):
    """One questionnaire item answered during a session."""

    item_id: str
    """Item identifier within its instrument."""
    value: str
    """The value id the item measures."""
    rating: int | None
    """The rating on the instrument's scale, or None when the reply could not be read."""
    raw: str = ""
    """The raw reply."""
    reversed: bool = False
    """True for a reverse-keyed item."""


class Probe(Frozen):
    """A questionnaire administered after a given turn."""

    after_turn: int
    """Number of decisions made before the probe."""
    instrument: str
    """Instrument id."""
    scale_min: int = 1
    """Lowest rating."""
    scale_max: int = 6
    """Highest rating."""
    like_me: Literal["max", "min"] = "max"
    """Which end of the scale meant "very much like me" (min: ratings are flipped when scored)."""
    answers: tuple[ProbeAnswer, ...] = ()
    """The answers, one per item."""


SessionStatus = Literal["finished", "left", "error", "budget", "interrupted"]


class Trajectory(Frozen):
    """A whole session: the persona, the model, the feed, every step and probe."""

    schema_version: int = SCHEMA_VERSION
    """Record format version."""
    session_id: str
    """Unique within a run; stable across resumes (derived from persona, model and seed)."""
    persona_id: str
    """Which persona was played."""
    model: str
    """The model string, or 'reference' for the reference viewer."""
    strategy: str = "simple"
    """Prompt strategy: plain | simple | isq | values."""
    modality: Modality = "frames"
    """What the viewer was shown."""
    feed: str = "random"
    """Feed policy."""
    seed: int = 0
    """The session's seed."""
    steps: tuple[Step, ...] = ()
    """Every turn, in order."""
    probes: tuple[Probe, ...] = ()
    """Questionnaires administered between turns."""
    status: SessionStatus = "finished"
    """How the session ended."""
    error: str = ""
    """Why it ended early, when it did."""
    usage: Usage = Usage()
    """Totals over the session."""
    extra: dict[str, Any] = Field(default_factory=dict)
    """Free-form provenance a feed or viewer wants to keep (e.g. the reference viewer's
    parameters)."""

    def outcome_counts(self) -> dict[str, int]:
        """Outcome -> count over the steps, every outcome present."""
        counts = {o.value: 0 for o in Outcome}
        for s in self.steps:
            counts[s.outcome.value] += 1
        return counts


class RunManifest(Frozen):
    """Provenance of a run directory: enough to reproduce it and to know what it was."""

    schema_version: int = SCHEMA_VERSION
    """Record format version."""
    run_id: str
    """Name of the run."""
    created: str
    """ISO timestamp of the first start."""
    config: dict[str, Any]
    """The full run configuration as passed."""
    package_versions: dict[str, str] = Field(default_factory=dict)
    """Versions of this package and its main dependencies."""
    git_revision: str | None = None
    """The source tree's git revision, when known."""
    models: tuple[str, ...] = ()
    """Model strings in the run."""
    personas: tuple[str, ...] = ()
    """Persona ids in the run."""
    embedder: dict[str, Any] = Field(default_factory=dict)
    """Which embedder built the index (name, version, dim)."""
    corpus: dict[str, Any] = Field(default_factory=dict)
    """Corpus name, size and content hash."""
    seeds: tuple[int, ...] = ()
    """Seeds used."""
    prompt_strategy: str = ""
    """Prompt strategy name."""
    prompt_template_hash: str = ""
    """SHA-256 over the strategy's templates."""
    response_formats: dict[str, str] = Field(default_factory=dict)
    """Model -> the structured-output mode its decisions ran in at the end of the last run
    (json_schema | json_object | text; see ``agents.formats``); empty for models without one."""
    thread_ns: str = ""
    """The namespace of the run's checkpoint threads (a random hex made when the run directory is
    created): thread ``<thread_ns>/<session_id>``, so that runs sharing one ``--checkpoints``
    store never continue each other's sessions. Empty in run directories made before it existed:
    their threads are named by the session id alone, as they were."""
    counts: dict[str, int] = Field(default_factory=dict)
    """Totals over the finished sessions, updated at the end of every invocation: ``repairs``
    (repair requests sent), ``repaired`` (decisions taken from a repair turn's reply) and
    ``retries`` (requests re-sent, see :attr:`Usage.retries`)."""
