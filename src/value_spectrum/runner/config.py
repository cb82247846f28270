"""The one frozen :class:`RunConfig` of a batch simulation.

Fields split in two: those that decide *what* the run computes (its identity, compared with the
manifest when a run directory is reused) and those that only decide *how* it runs this time
(concurrency, budget, output directory, executor, API base URL, the model gateway's rate limits,
retries, timeout and fallbacks), which may change between a run and its continuation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from value_spectrum.graphs.feeds import FEED_NAMES, check_feed_name
from value_spectrum.personas.prompts import STRATEGY_NAMES, USER_STRATEGY
from value_spectrum.records import Modality

Strategy = str
"""A prompt strategy name: one of ``personas.prompts.StrategyName`` (plain | simple | isq |
values), or ``user:<name>`` for a user's own strategy given to the services."""

FEEDS: tuple[str, ...] = FEED_NAMES
"""Built-in feed policy names (``graphs.feeds.FeedName``)."""

RUNTIME_FIELDS: frozenset[str] = frozenset(
    {"concurrency", "max_cost", "out", "executor", "ray_address", "api_base", "gateway", "checkpoints", "ray_actors", "workers"}
)
"""Fields that may differ between a run and its continuation."""


class GatewayConfig(BaseModel):
    """How model calls are made: litellm ``Router`` settings of every LLM viewer's
    :class:`~value_spectrum.agents.gateway.Gateway` (see ``docs/models.md``).

    None leaves the Gateway's default. These settings never change what a run computes, only how
    fast and how patiently it asks, so they are not part of the run's identity.

    Example:
        >>> GatewayConfig(rpm=60, fallbacks=("openai/gpt-4o-mini",)).options()
        {'rpm': 60, 'fallbacks': ('openai/gpt-4o-mini',)}
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    rpm: int | None = Field(default=None, ge=1)
    """Requests per minute allowed to each model (None: unlimited); a request over the limit
    waits for the next minute's window."""
    tpm: int | None = Field(default=None, ge=1)
    """Tokens per minute allowed to each model (None: unlimited)."""
    max_parallel_requests: int | None = Field(default=None, ge=1)
    """Requests in flight to each model at once, across all sessions (None: unlimited)."""
    timeout_s: float | None = Field(default=None, gt=0.0)
    """Per-attempt timeout in seconds (None: the Gateway's default, 120)."""
    num_retries: int | None = Field(default=None, ge=0)
    """Retries of server errors, timeouts and connection errors (None: the Gateway's default, 3)."""
    rate_limit_retries: int | None = Field(default=None, ge=0)
    """Retries of HTTP 429 and waits for a rate-limit window (None: the Gateway's default, 10)."""
    fallbacks: tuple[str, ...] = ()
    """Model strings tried, in order, when a model keeps failing (same ``api_base``)."""
    response_format: Literal["auto", "json_schema", "json_object", "text"] | None = None
    """Structured output of decisions (None: auto, a JSON schema degrading to ``json_object`` and
    then plain text when the endpoint rejects it; the mode used is recorded per model)."""
    cache_store: str | None = None
    """Where the response cache lives: a folder (its ``responses.sqlite``), ``sqlite:///FILE``,
    or ``postgresql://USER@HOST/DB`` shared by every worker of every machine and every run that
    names it (None: the user cache's ``responses`` folder on each machine)."""

    @field_validator("fallbacks")
    @classmethod
    def _real_fallbacks(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for m in v:
            if not m.strip():
                raise ValueError(f"a fallback must be a non-empty model string (got {m!r})")
            if m.strip() == "reference":
                raise ValueError(f"the reference viewer cannot be a fallback (got {m!r}); give a litellm model string")
        return v

    @field_validator("cache_store")
    @classmethod
    def _known_store(cls, v: str | None) -> str | None:
        if v is not None:
            from value_spectrum.agents.cache import describe_location

            if not v.strip():
                raise ValueError("give a folder, sqlite:///FILE or postgresql://USER@HOST/DB")
            describe_location(v)  # raises ValueError for an unknown kind of URL
        return v

    def options(self) -> dict[str, Any]:
        """Keyword options for ``Gateway`` / ``LLMViewer``: the settings given (not None, no
        empty fallbacks)."""
        return {k: v for k, v in self.model_dump().items() if v is not None and v != ()}


class RunConfig(BaseModel):
    """Everything a batch simulation needs, as data.

    Example:
        >>> RunConfig(personas=("family-first",), steps=5).steps
        5
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    personas: tuple[str, ...] = ()
    """Persona ids or persona files; empty: every built-in persona."""
    models: tuple[str, ...] = ("reference",)
    """Model strings (litellm) or ``reference`` for the no-LLM reference viewer."""
    api_base: str | None = None
    """Base URL of an OpenAI-compatible server, for ``openai/<name>`` models."""
    sessions: int = Field(default=1, ge=1)
    """Sessions per (persona, model) pair."""
    steps: int = Field(default=30, ge=1)
    """Decisions per session."""
    feed: str = "random"
    """Feed policy: random | balanced | adaptive | search | replay | items, or ``user:<name>`` for
    a user's own policy object (given to the services)."""
    modality: Modality = "frames"
    """What the viewer is shown: frames | caption | title."""
    strategy: Strategy = "simple"
    """Prompt strategy; ``plain`` shows no persona (one pseudo-persona ``plain`` per model)."""
    seed: int = 0
    """The run seed; every session seed derives from it."""
    concurrency: int = Field(default=8, ge=1)
    """Sessions running at once."""
    max_cost: float | None = Field(default=None, ge=0.0)
    """Budget in USD for this invocation; no new turn starts once it is spent."""
    probe_every: int = Field(default=0, ge=0)
    """Questionnaire probe every k turns (0: none)."""
    instrument: str | None = None
    """The questionnaire of the probes: an instrument id or file (None: the built-in items)."""
    out: Path | None = None
    """The run directory (default ``runs/<name derived from the identity>``)."""
    cache: bool = True
    """Use the model response cache for deterministic requests."""
    corpus: str | None = None
    """Corpus directory; None for the built-in demo corpus."""
    embedder: Literal["auto", "clip", "text", "fake"] = "auto"
    """Embedder kind for the adaptive feed and the search tool (auto | clip | text | fake)."""
    temperature: float = Field(default=0.0, ge=0.0)
    """Sampling temperature for model viewers."""
    max_consecutive_errors: int = Field(default=5, ge=1)
    """A session ends with status error after this many errors in a row."""
    record_latency: bool = True
    """Record each decision's wall time (off: byte-identical reruns)."""
    viewer_options: dict[str, Any] = Field(default_factory=dict)
    """Extra keyword options for the viewer factory (e.g. ``beta``, ``noise`` for reference)."""
    executor: Literal["local", "processes", "ray"] = "local"
    """Where sessions run: ``local`` (this process's event loop), ``processes`` (worker
    processes on this machine, :mod:`~value_spectrum.runner.process_executor`) or ``ray``."""
    ray_address: str | None = None
    """``ray.init(address=...)`` for the Ray executor (None: a local Ray)."""
    gateway: GatewayConfig = Field(default_factory=GatewayConfig)
    """Rate limits, retries, timeout and fallbacks of model calls (not part of the identity)."""
    ray_actors: int | None = Field(default=None, ge=1)
    """Ray executor: async actors, each running many sessions (None: one per cluster CPU)."""
    workers: int | None = Field(default=None, ge=1)
    """Process executor: worker processes, each running many sessions (None: one per CPU)."""
    checkpoints: str | None = None
    """Where unfinished sessions' checkpoints live: None (the run directory's SQLite file), a
    file path / ``sqlite:///PATH``, or ``postgresql://...`` shared by every worker
    (``graphs.checkpoint_store``)."""

    @field_validator("feed")
    @classmethod
    def _known_feed(cls, v: str) -> str:
        return check_feed_name(v)

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, v: str) -> str:
        if v in STRATEGY_NAMES or (v.startswith(USER_STRATEGY) and len(v) > len(USER_STRATEGY)):
            return v
        raise ValueError(f"unknown prompt strategy {v!r}; choose one of {list(STRATEGY_NAMES)}")

    @field_validator("models")
    @classmethod
    def _some_model(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v or any(not m.strip() for m in v):
            raise ValueError(f"models must be non-empty strings, got {v!r}")
        return v

    def identity(self) -> dict[str, Any]:
        """The fields that define what the run computes (compared on resume)."""
        data = self.model_dump(mode="json", exclude=set(RUNTIME_FIELDS))
        return data

    def differences(self, other: dict[str, Any]) -> list[str]:
        """``field: ours != theirs`` for every identity field that differs from ``other`` (a
        manifest's stored config)."""
        mine = self.identity()
        keys = sorted(set(mine) | (set(other) - RUNTIME_FIELDS))
        return [
            f"{k}: {other.get(k)!r} in the manifest, {mine.get(k)!r} now"
            for k in keys
            if mine.get(k) != other.get(k)
        ]
