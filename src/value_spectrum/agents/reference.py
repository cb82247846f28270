"""The reference viewer: a seeded value-utility choice model, no LLM.

It gives every run a ground truth to check the scoring against, and lets the whole pipeline run
offline. For a persona with target profile ``t`` and a video with value labels ``v``::

    u = centred(t) . v  (+ gaussian noise with sd ``noise``)
    P(like) = sigmoid(beta * u + bias)

Randomness is derived per decision from a hash of (seed, persona id, video id, turn), never from
a shared generator, so a resumed or replayed session gives byte-identical choices whatever the
order or concurrency of the calls.

Two behaviours of real viewers, both off by default (the draws above are unchanged by them):

* ``boredom`` (> 0): after a skip that ends a run of ``k`` consecutive skips, the viewer leaves
  the feed with probability ``1 - exp(-boredom * k)`` (its own seeded draw); the session then
  ends with status ``left``. A like resets the run.
  ``leave=True`` without a ``boredom`` gives the hazard :data:`DEFAULT_BOREDOM` (the switch
  that asks an LLM viewer whether it leaves gives the reference viewer a boredom model).
* ``dwell``: every decision carries ``dwell_s = P(like) x the video's length`` (30 s when the
  video's length is unknown): a viewer stays longer on what it likes.

Example:
    >>> import asyncio
    >>> from value_spectrum.records import Observation
    >>> from value_spectrum.values import ValueProfile
    >>> labels = {"v1": ValueProfile.from_mapping({"benevolence": 1.0}, default=0.0)}
    >>> viewer = ReferenceViewer(labels, beta=6.0, seed=1)
    >>> reply = asyncio.run(viewer.decide(None, Observation(turn=0, video_id="v1")))
    >>> reply.outcome.value in {"like", "skip"}
    True
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

from value_spectrum.agents.base import SearchTool, ViewerReply
from value_spectrum.personas.model import Persona
from value_spectrum.personas.questionnaire import Instrument, Item
from value_spectrum.records import Decision, Observation, Outcome, ProbeAnswer, Step
from value_spectrum.values import ValueProfile

logger = logging.getLogger(__name__)

PLAIN_ID = "plain"
"""The persona id used for hashing when no persona is given."""
DEFAULT_LENGTH_S = 30.0
"""The video length assumed for dwell when a card gives none."""
DEFAULT_BOREDOM = 0.15
"""The leave hazard per consecutive skip that ``leave=True`` gives when no ``boredom`` is set."""


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def derived_rng(*parts: object) -> random.Random:
    """A ``random.Random`` seeded from a SHA-256 of ``parts``: the same parts always give the same
    stream, independent of any other call."""
    key = "\x1f".join(str(p) for p in parts).encode("utf-8")
    return random.Random(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))


def _trailing_skips(history: Sequence[Step]) -> int:
    """Skips at the end of ``history`` since the last like (failed turns neither count nor reset)."""
    n = 0
    for i in range(len(history) - 1, -1, -1):
        outcome = history[i].outcome
        if outcome == Outcome.LIKE:
            break
        n += outcome == Outcome.SKIP
    return n


class ReferenceViewer:
    """Likes by value utility: ``P(like) = sigmoid(beta * (centred target . video values) + bias)``.

    Args:
        labels: video id -> value labels (relevance in [0, 1]); the viewer's only knowledge of
            the videos (an LLM never sees these).
        beta: how sharply preference follows utility (0 = coin flip at ``sigmoid(bias)``).
        bias: baseline log-odds of a like.
        noise: standard deviation of gaussian noise added to the utility (and, scaled to the
            rating range, to questionnaire answers).
        seed: the run's seed; with the persona, video and turn it fixes every draw.
        boredom: leave hazard per consecutive skip (0: never leaves).
        leave: viewers may leave the feed: with ``boredom`` 0, the hazard :data:`DEFAULT_BOREDOM`.
        dwell: record seconds watched on each decision.
    """

    name: str = "reference"
    wants_images: bool = False
    """It decides by the labels alone: keyframes are never rendered for it."""

    def __init__(
        self,
        labels: Mapping[str, ValueProfile],
        *,
        beta: float = 6.0,
        bias: float = 0.0,
        noise: float = 0.0,
        seed: int = 0,
        boredom: float = 0.0,
        dwell: bool = False,
        leave: bool = False,
    ) -> None:
        for label, number in (("beta", beta), ("bias", bias), ("noise", noise), ("boredom", boredom)):
            if not math.isfinite(number):
                raise ValueError(f"reference viewer: {label} must be finite, got {number!r}")
        if noise < 0:
            raise ValueError(f"reference viewer: noise must be >= 0, got {noise!r}")
        if boredom < 0:
            raise ValueError(f"reference viewer: boredom must be >= 0, got {boredom!r}")
        self.boredom = float(boredom) if boredom or not leave else DEFAULT_BOREDOM
        self.dwell = bool(dwell)
        self.labels: Mapping[str, ValueProfile] = labels
        self.beta = float(beta)
        self.bias = float(bias)
        self.noise = float(noise)
        self.seed = int(seed)

    # ---- provenance ---------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """The parameters, for the run manifest and the trajectory's ``extra``."""
        return {
            "viewer": "reference",
            "model": "P(like) = sigmoid(beta * (centred(target) . video_values) + bias)",
            "beta": self.beta,
            "bias": self.bias,
            "noise": self.noise,
            "seed": self.seed,
            "labelled_videos": len(self.labels),
            **({"boredom": self.boredom} if self.boredom else {}),
            **({"dwell": True} if self.dwell else {}),
        }

    def describe_session(self, persona: Persona | None) -> dict[str, Any]:
        """:meth:`describe` plus what this session's viewer is given: the injected profile (the
        persona's target, 0-1), the persona it came from and the weights it implies
        (``beta x centred(target)``, logit units): the manipulation check's truth."""
        target = self.target_of(persona)
        weights = target.centred().as_array() * self.beta
        return {
            **self.describe(),
            "persona_id": persona.id if persona is not None else PLAIN_ID,
            "injected": {k: round(v, 6) for k, v in target.as_dict().items()},
            "injected_weights": {
                k: round(float(w), 6) for k, w in zip(target.as_dict(), weights, strict=True)
            },
        }

    # ---- the model ----------------------------------------------------------------------------
    @staticmethod
    def target_of(persona: Persona | None) -> ValueProfile:
        """The persona's target, or a flat profile for the plain (no persona) viewer."""
        return persona.target if persona is not None else ValueProfile.uniform(0.5)

    def utility(self, persona: Persona | None, video_id: str) -> float:
        """``centred(target) . labels[video_id]`` without noise.

        Raises:
            KeyError: the video has no labels.
        """
        target = self.target_of(persona).centred().as_array()
        return float(target @ self.labels[video_id].as_array())

    def p_like(self, persona: Persona | None, video_id: str) -> float:
        """The noiseless probability of a like."""
        return _sigmoid(self.beta * self.utility(persona, video_id) + self.bias)

    async def decide(
        self,
        persona: Persona | None,
        observation: Observation,
        *,
        history: Sequence[Step] = (),
        search: SearchTool | None = None,
    ) -> ViewerReply:
        """Draw like or skip. A video without labels is a recorded ``error``, never a guess."""
        return self.decide_sync(persona, observation, history=history)

    def decide_sync(
        self, persona: Persona | None, observation: Observation, *, history: Sequence[Step] = ()
    ) -> ViewerReply:
        """The same as :meth:`decide`, without the event loop (for benchmarks and scoring)."""
        video_id = observation.video_id
        if video_id not in self.labels:
            msg = f"reference viewer: no value labels for video {video_id!r}"
            logger.warning(msg)
            return ViewerReply(outcome=Outcome.ERROR, error=msg)
        pid = persona.id if persona is not None else PLAIN_ID
        rng = derived_rng("decide", self.seed, pid, video_id, observation.turn)
        base = self.utility(persona, video_id)
        u = base + (rng.gauss(0.0, self.noise) if self.noise > 0 else 0.0)
        p = _sigmoid(self.beta * u + self.bias)
        like = rng.random() < p
        action = "like" if like else "skip"
        reason = f"value utility {u:+.3f}, P(like) {p:.3f}"
        leave = False
        if self.boredom > 0 and not like:
            run = 1 + _trailing_skips(history)
            leave = derived_rng("leave", self.seed, pid, video_id, observation.turn).random() < (
                1.0 - math.exp(-self.boredom * run))
            if leave:
                reason += f"; bored after {run} skips in a row, leaves"
        dwell = round(p * (observation.duration_s or DEFAULT_LENGTH_S), 3) if self.dwell else None
        decision = Decision(
            action=action,
            reason=reason,
            confidence=round(p if like else 1.0 - p, 6),
            scores={"utility": round(u, 6), "p_like": round(p, 6)},
            dwell_s=dwell,
            leave=leave,
        )
        outcome = Outcome.LIKE if like else Outcome.SKIP
        return ViewerReply(outcome=outcome, decision=decision, raw=f"{action}: {reason}")

    async def rate(self, persona: Persona | None, instrument: Instrument, item: Item) -> ProbeAnswer:
        """Answer an item from the target: importance in [0, 1] mapped onto the scale (toward the
        instrument's "like me" end), reverse-keyed items flipped, seeded noise (``noise`` x
        scale width), rounded and clamped."""
        lo, hi = instrument.scale_min, instrument.scale_max
        importance = self.target_of(persona)[item.value]
        x = lo + importance * (hi - lo)
        if item.reversed != (instrument.like_me_end == "min"):
            x = lo + hi - x
        if self.noise > 0:
            pid = persona.id if persona is not None else PLAIN_ID
            rng = derived_rng("rate", self.seed, pid, instrument.id, item.id)
            x += rng.gauss(0.0, self.noise * (hi - lo))
        rating = int(min(hi, max(lo, math.floor(x + 0.5))))
        return ProbeAnswer(
            item_id=item.id,
            value=item.value,
            rating=rating,
            raw=str(rating),
            reversed=item.reversed,
        )
