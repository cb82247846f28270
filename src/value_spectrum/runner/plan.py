"""The plan of a batch: one :class:`SessionSpec` per (persona, model, session index), with ids
and seeds derived from the run's identity only, so every invocation of the same command plans
the same sessions."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from value_spectrum.graphs.feeds import derive_seed
from value_spectrum.runner.config import RunConfig

PLAIN_PERSONA = "plain"
"""The pseudo-persona id of the plain strategy (no persona shown)."""


@dataclass(frozen=True)
class SessionSpec:
    """One planned session."""

    session_id: str
    """``<persona>--<model slug>--<index>``: unique in the run, stable across invocations."""
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


def model_slug(model: str) -> str:
    """A file-name-safe form of a model string; a short hash keeps distinct strings distinct."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model).strip("_") or "model"
    if slug != model:
        slug += "-" + hashlib.sha256(model.encode()).hexdigest()[:6]
    return slug


def build_plan(config: RunConfig, persona_ids: tuple[str, ...]) -> tuple[SessionSpec, ...]:
    """Every session of the run, interleaved by model and persona so that a partial run covers
    all pairs evenly.

    Args:
        config: the run.
        persona_ids: the resolved persona ids (ignored for the plain strategy).
    """
    personas = (PLAIN_PERSONA,) if config.strategy == "plain" else persona_ids
    specs: list[SessionSpec] = []
    for index in range(config.sessions):
        for persona_id in personas:
            for model in config.models:
                specs.append(
                    SessionSpec(
                        session_id=f"{persona_id}--{model_slug(model)}--{index:03d}",
                        persona_id=persona_id,
                        model=model,
                        index=index,
                        seed=derive_seed("session", config.seed, persona_id, model, index),
                        feed_seed=derive_seed("replay", config.seed, index),
                    )
                )
    ids = [s.session_id for s in specs]
    if len(set(ids)) != len(ids):
        raise ValueError("two sessions got the same id; persona ids must be unique")
    return tuple(specs)
