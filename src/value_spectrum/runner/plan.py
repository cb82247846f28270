"""What to run: a :class:`Plan` (simulate, probe, or the preference benchmark's fixed items) and
its sessions, one :class:`SessionSpec` each, with ids and seeds derived from the plan's identity
only, so every invocation of the same command plans the same sessions.

* ``simulate``: personas x models x sessions over a feed (:class:`RunConfig`).
* ``probe``: the same with a questionnaire every ``probe_every`` turns. Whenever probes are asked
  (``simulate --probe-every`` too) the instrument (its id and a digest of its items) is part of
  the identity, so another instrument is another run.
* ``preference``: a fixed item list per value, asked in order (the ``items`` feed), with the
  paper's question (``plain``) or a persona's like/skip question.
* ``fork``: one recorded session continued from turn K under one changed condition
  (:mod:`value_spectrum.runner.fork`): its session starts from the state at turn K (the
  parent's first K steps), with the parent session's id and seeds.

Example:
    >>> plan = Plan(config=RunConfig(personas=("carer",), steps=5))
    >>> [s.session_id for s in plan.sessions(("carer",))]
    ['carer--reference--000']
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from value_spectrum._store_urls import describe_safe
from value_spectrum.graphs.feeds import derive_seed
from value_spectrum.runner.config import RunConfig

PLAIN_PERSONA = "plain"
"""The pseudo-persona id of the plain strategy (no persona shown)."""
BENCHMARK = "preference"
"""Feed name of the preference benchmark's sessions and ``config["benchmark"]`` of its manifest
(``scoring.preference.BENCHMARK``)."""
VALUE_KEY = "bench_value"
"""``Trajectory.extra`` key naming the value of a preference session (``scoring.preference``)."""

PlanKind = Literal["simulate", "probe", "preference", "fork"]
"""The experiments one runner runs."""


@dataclass(frozen=True)
class SessionSpec:
    """One planned session."""

    session_id: str
    """Unique in the run, stable across invocations (``<persona>--<model slug>--<index>``;
    ``<value>-<model slug>`` for the preference benchmark)."""
    persona_id: str
    """The persona (``plain`` for the plain strategy)."""
    model: str
    """The model string."""
    index: int
    """0-based session index within its (persona, model) pair."""
    seed: int
    """The session seed: from (run seed, persona, model, index)."""
    feed_seed: int
    """Seed of the replay feed: from (run seed, index) only, shared by every persona and model."""
    items: tuple[str, ...] = ()
    """Preference benchmark: the video ids asked, in order (empty: the plan's feed)."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Provenance for ``Trajectory.extra`` (e.g. the value a preference session stands for)."""
    start: Mapping[str, Any] | None = None
    """Fork: the session graph's state a fresh thread starts from (the parent's state at turn K);
    None: the empty state of turn 0."""


class ForkOrigin(BaseModel):
    """Where a fork comes from: stored in its manifest's ``config["fork"]``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    parent_run: str
    """The parent run directory, as given."""
    parent_run_id: str
    """The parent's run id (its manifest)."""
    session_id: str
    """The forked session (the fork's session keeps this id)."""
    at: int = Field(ge=0)
    """K: the turns shared with the parent (steps 0..K-1 are the parent's records)."""
    changed: dict[str, tuple[str, str]]
    """The changed condition: ``model`` | ``persona`` | ``strategy`` -> (parent's, fork's)."""
    persona_id: str
    """The persona the fork plays."""
    model: str
    """The model the fork asks."""
    index: int
    """The parent session's index."""
    seed: int
    """The parent session's seed (the feed's per-turn RNG derives from it)."""
    feed_seed: int
    """The parent session's replay-feed seed."""
    prefix_sha256: str
    """SHA-256 of the shared steps' JSON: a rerun refuses a parent whose steps changed."""


def model_slug(model: str) -> str:
    """A file-name-safe form of a model string; a short hash keeps distinct strings distinct."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model).strip("_") or "model"
    if slug != model:
        slug += "-" + hashlib.sha256(model.encode()).hexdigest()[:6]
    return slug


def _name_part(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_.-]+", "-", text).strip("-") or "x"


class Plan(BaseModel):
    """What a run computes: the config, the experiment, and (for the benchmark) its items.

    Example:
        >>> Plan(config=RunConfig(steps=3)).run_name().startswith("sim-")
        True
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    config: RunConfig
    """Personas, models, seeds, sessions, steps, feed, modality, strategy; and how to run."""
    kind: PlanKind = "simulate"
    """simulate | probe | preference."""
    instrument: dict[str, str] = Field(default_factory=dict)
    """Probe: ``{"id": ..., "digest": ...}`` of the questionnaire (part of the identity)."""
    items: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    """Preference: value id -> the video ids asked for it, in order."""
    item_source: str = ""
    """Preference: how the items were chosen (``keyword-retrieval (...)`` or ``authored``)."""
    per_value: int = 0
    """Preference: items asked per value (at most)."""
    fork: ForkOrigin | None = None
    """Fork: where it comes from (part of the identity)."""
    start: dict[str, Any] = Field(default_factory=dict, repr=False)
    """Fork: the session state at turn K, rebuilt from the parent's record (its digest, not the
    state, is part of the identity)."""

    @model_validator(mode="after")
    def _consistent(self) -> Plan:
        if self.kind == "preference" and not self.items:
            raise ValueError("a preference plan needs items (value -> video ids)")
        if self.kind == "probe" and self.config.probe_every < 1:
            raise ValueError("a probe plan needs probe_every >= 1")
        if self.kind == "simulate" and self.items:
            raise ValueError("only a preference plan has fixed items")
        if (self.kind == "fork") != (self.fork is not None):
            raise ValueError("a fork plan (and only a fork plan) has a fork origin")
        return self

    # ---- identity ---------------------------------------------------------------------------
    def plan_fields(self) -> dict[str, Any]:
        """The plan's own identity fields, stored in the manifest's ``config`` beside the
        :class:`RunConfig` fields."""
        out: dict[str, Any] = {"plan": self.kind}
        if self.config.probe_every > 0:
            out["instrument_digest"] = dict(self.instrument)
        if self.kind == "preference":
            out |= {"benchmark": BENCHMARK, "per_value": self.per_value, "item_source": self.item_source,
                    "items": {k: list(v) for k, v in self.items.items()}}
        if self.fork is not None:
            out["fork"] = self.fork.model_dump(mode="json")
        return out

    def identity(self) -> dict[str, Any]:
        """Everything that decides what the run computes (compared when a directory is reused)."""
        return {**self.config.identity(), **self.plan_fields()}

    def manifest_config(self) -> dict[str, Any]:
        """The manifest's ``config``: every RunConfig field, then the plan's fields; a password in
        a store URL (``checkpoints``, ``gateway.cache_store``) written as ``***``."""
        config = self.config.model_dump(mode="json")
        if config.get("checkpoints"):
            config["checkpoints"] = describe_safe(config["checkpoints"])
        gateway = config.get("gateway") or {}
        if gateway.get("cache_store"):
            gateway["cache_store"] = describe_safe(gateway["cache_store"])
        return {**config, **self.plan_fields()}

    def differences(self, stored: Mapping[str, Any]) -> list[str]:
        """``field: theirs in the manifest, ours now`` for every identity field that differs from
        a manifest's stored config (a manifest without ``plan`` is a simulate run)."""
        old = {"plan": "simulate", **stored}
        plan_keys = {"plan", "instrument_digest", "items", "item_source", "benchmark", "per_value", "fork"}
        diffs = self.config.differences({k: v for k, v in old.items() if k not in plan_keys})
        mine = self.plan_fields()
        for k in sorted(set(mine) | ((plan_keys - {"plan"}) & set(old)), key=lambda k: (k == "items", k)):
            if mine.get(k) != old.get(k):
                theirs, ours = old.get(k), mine.get(k)
                if k == "items":  # the lists are long: say how many differ
                    theirs = f"{len(theirs or {})} values"
                    ours = f"{len(ours or {})} values, other videos"
                diffs.append(f"{k}: {theirs!r} in the manifest, {ours!r} now")
        return diffs

    def run_name(self) -> str:
        """A deterministic directory name from the identity: the same command gives the same
        directory, so re-running it continues."""
        digest = hashlib.sha256(json.dumps(self.identity(), sort_keys=True, default=str).encode()).hexdigest()
        c = self.config
        if self.kind == "simulate":
            return f"sim-{digest[:10]}"
        persona = PurePath(c.personas[0]).stem if c.personas and c.strategy != "plain" else ""
        who = _name_part(f"{persona}-{c.models[0]}" if persona else c.models[0])
        return f"{self.kind}-{who}-{digest[:8]}"

    # ---- sessions ---------------------------------------------------------------------------
    def sessions(self, persona_ids: tuple[str, ...]) -> tuple[SessionSpec, ...]:
        """Every session of the run, interleaved by model and persona so that a partial run
        covers all pairs evenly.

        Args:
            persona_ids: the resolved persona ids (ignored for the plain strategy).

        Raises:
            ValueError: two sessions got one id (persona ids must be unique).
        """
        c = self.config
        personas = (PLAIN_PERSONA,) if c.strategy == "plain" else persona_ids
        specs: list[SessionSpec] = []
        if self.fork is not None:
            o = self.fork
            return (SessionSpec(
                session_id=o.session_id, persona_id=o.persona_id, model=o.model, index=o.index,
                seed=o.seed, feed_seed=o.feed_seed, start=self.start,
                extra={"fork": {"parent_run_id": o.parent_run_id, "session_id": o.session_id, "at": o.at,
                                "changed": {k: list(v) for k, v in o.changed.items()}}},
            ),)
        if self.kind == "preference":
            for persona_id in personas:
                for model in c.models:
                    who = model_slug(model) if len(personas) == 1 else f"{model_slug(model)}-{persona_id}"
                    for value, videos in self.items.items():
                        specs.append(SessionSpec(
                            session_id=f"{value}-{who}", persona_id=persona_id, model=model, index=0,
                            seed=derive_seed("session", c.seed, persona_id, model, value), feed_seed=0,
                            items=tuple(videos), extra={VALUE_KEY: value, "items": self.item_source},
                        ))
        else:
            for index in range(c.sessions):
                for persona_id in personas:
                    for model in c.models:
                        specs.append(SessionSpec(
                            session_id=f"{persona_id}--{model_slug(model)}--{index:03d}",
                            persona_id=persona_id, model=model, index=index,
                            seed=derive_seed("session", c.seed, persona_id, model, index),
                            feed_seed=derive_seed("replay", c.seed, index),
                        ))
        ids = [s.session_id for s in specs]
        if len(set(ids)) != len(ids):
            raise ValueError("two sessions got the same id; persona ids must be unique")
        return tuple(specs)

    def steps_of(self, spec: SessionSpec) -> int:
        """Decisions in a full session of ``spec``."""
        return len(spec.items) if spec.items else self.config.steps

    def feed_name(self) -> str:
        """The feed recorded in each trajectory."""
        return BENCHMARK if self.kind == "preference" else self.config.feed


def build_plan(config: RunConfig, persona_ids: tuple[str, ...]) -> tuple[SessionSpec, ...]:
    """The sessions of a simulate (or probe) run of ``config``."""
    kind: PlanKind = "simulate"
    return Plan(config=config, kind=kind).sessions(persona_ids)
