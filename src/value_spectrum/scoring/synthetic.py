"""Planted-profile data for checking the estimators: a synthetic labelled collection and
trajectories drawn from a known value-utility choice model.

The choice model is the reference viewer's (``P(like) = sigmoid(beta * centred(target) . labels
+ bias)``), written again here so that scoring can be validated, and users can run power
analyses ("how many decisions do I need to recover a profile?"), without importing the agents.

Example:
    >>> videos = synthetic_videos(50, seed=1)
    >>> len(videos), videos[0].primary_value is not None
    (50, True)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import expit

from value_spectrum.records import Decision, Outcome, Step, Trajectory, Video
from value_spectrum.values import VALUE_IDS, ValueProfile


def synthetic_videos(n: int = 300, *, seed: int = 0, secondary: int = 2) -> list[Video]:
    """``n`` labelled cards shaped like the demo corpus: one primary value at 0.8-0.95 (cycling
    through the ten values) and up to ``secondary`` other values at 0.1-0.5, the rest 0."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        p = i % len(VALUE_IDS)
        v = np.zeros(len(VALUE_IDS))
        v[p] = round(float(rng.uniform(0.8, 0.95)), 2)
        others = [q for q in range(len(VALUE_IDS)) if q != p]
        for j in rng.choice(others, size=int(rng.integers(0, secondary + 1)), replace=False):
            v[j] = round(float(rng.uniform(0.1, 0.5)), 2)
        out.append(
            Video(
                id=f"syn-{i:04d}",
                title=f"Synthetic video {i} ({VALUE_IDS[p]})",
                topic=VALUE_IDS[p],
                values=ValueProfile.from_array(v),
            )
        )
    return out


def planted_trajectory(
    target: ValueProfile,
    videos: Sequence[Video],
    *,
    steps: int = 200,
    beta: float = 6.0,
    bias: float = 0.0,
    seed: int = 0,
    persona_id: str = "planted",
    model: str = "reference",
    session_id: str | None = None,
    failures: Sequence[tuple[int, Outcome]] = (),
) -> Trajectory:
    """A session of ``steps`` turns over videos drawn uniformly with replacement, each liked with
    the choice model's probability. ``failures`` replaces the outcome at given turns with a
    recorded failure (unparseable, refused, error)."""
    rng = np.random.default_rng(seed)
    t = target.centred().as_array()
    broken = dict(failures)
    out: list[Step] = []
    for turn in range(steps):
        video = videos[int(rng.integers(0, len(videos)))]
        assert video.values is not None
        p = float(expit(beta * float(t @ video.values.as_array()) + bias))
        like = bool(rng.random() < p)
        if turn in broken:
            out.append(
                Step(
                    turn=turn,
                    video_id=video.id,
                    outcome=broken[turn],
                    raw="???",
                    error=f"planted {broken[turn].value}",
                )
            )
            continue
        action = "like" if like else "skip"
        out.append(
            Step(
                turn=turn,
                video_id=video.id,
                outcome=Outcome(action),
                decision=Decision(action=action, reason=f"P(like) {p:.2f}"),
                raw=action,
            )
        )
    return Trajectory(
        session_id=session_id or f"{persona_id}-{model}-{seed}",
        persona_id=persona_id,
        model=model,
        seed=seed,
        steps=tuple(out),
        extra={"reference": {"beta": beta, "bias": bias, "injected": target.as_dict()}},
    )
