"""The bill before paying it: a dry run of a plan that calls nothing and writes nothing.

For every planned session the feed's picks are drawn as the session would draw them (random,
balanced, replay and fixed-item feeds pick the same videos whatever the viewer decides; the
adaptive and search feeds follow the decisions, so their picks are stood in for by random ones),
each decision's first request is rendered by the viewer's own code for the real persona and video,
its text counted with the model's tokenizer and its keyframes by the provider's image formula
(:mod:`value_spectrum.agents.tokens`), and its response-cache key looked up read-only
(:func:`~value_spectrum.agents.cache.cached_keys`): a hit costs nothing, and so does a repeat of a
request earlier in the plan (a second probe's items, a replayed feed). Replies are assumed to be
as long as :data:`TYPICAL_REPLY` of the strategy; questionnaire probes add one call per item.
Prices come from litellm's model map read as a file (:mod:`value_spectrum.agents.pricing`);
a model it does not price is named, and its cost left out of the total.

Not counted: repair turns after unreadable replies, search-tool rounds, history lines
(``history_turns``), fallbacks. The real run's summary shows the estimate beside what was spent.

Example:
    >>> from value_spectrum.runner.config import RunConfig
    >>> est = estimate(RunConfig(personas=("family_oriented",), models=("openai/gpt-4o",), steps=3,
    ...                          modality="caption", cache=False))
    >>> est.calls, est.models[0].priced, est.cost_usd > 0
    (3, True, True)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from value_spectrum.agents.chat import ChatRequest, ChatResponse, ModelError
from value_spectrum.graphs.feeds import FeedPolicy, FeedState, make_feed
from value_spectrum.graphs.session import turn_rng
from value_spectrum.personas.model import Persona
from value_spectrum.personas.questionnaire import Instrument
from value_spectrum.records import Observation
from value_spectrum.retrieval.corpus import Corpus
from value_spectrum.runner.config import RunConfig
from value_spectrum.runner.plan import PLAIN_PERSONA, Plan, SessionSpec

logger = logging.getLogger(__name__)

REFERENCE = "reference"
"""The reference viewer calls no model."""
DECISION_FEEDS = frozenset({"adaptive", "search"})
"""Feeds whose picks depend on the viewer's decisions (estimated with random picks)."""
TYPICAL_REPLY: dict[str, str] = {
    "plain": "Yes. The bright colours and the calm pace make it pleasant to watch, and the topic is "
             "interesting. It shows a person cooking a simple meal in a small kitchen.",
    "simple": '{"decision": "skip", "reason": "It does not match what I care about in my daily life.", '
              '"trait_number": 2}',
    "isq": '{"visual_appeal": 6, "curiosity": 5, "emotional_engagement": 4, "value_expectation": 5, '
           '"preference_alignment": 3, "action": "skip", "reason": "It does not fit what matters to me."}',
    "values": '{"decision": "like", "reason": "It shows people helping each other, which matters to me.", '
              '"confidence": 0.7}',
}
"""A reply of typical length per strategy: the output tokens assumed per decision."""
def typical_reply(strategy: str, viewer_options: dict[str, Any] | None = None) -> str:
    """:data:`TYPICAL_REPLY` of ``strategy``, with a dwell and a leave when the run asks for them."""
    opts = viewer_options or {}
    reply = TYPICAL_REPLY.get(strategy, TYPICAL_REPLY["simple"])
    if strategy == "plain":
        return reply + ("\nWatched: 12 s" if opts.get("dwell") else "") + ("\nLeave: no" if opts.get("leave") else "")
    extra = (', "dwell_s": 12' if opts.get("dwell") else "") + (', "leave": false' if opts.get("leave") else "")
    return reply[:-1] + extra + "}" if extra else reply


RATING_REPLY = '{"rating": 4}'
"""The reply assumed per questionnaire item."""


@dataclass(frozen=True)
class ModelEstimate:
    """The estimate for one model."""

    model: str
    """The model string."""
    sessions: int
    """Planned sessions of this model."""
    decisions: int
    """Planned decisions (the feed may end a session sooner)."""
    calls: int
    """Model calls: one per decision, one per questionnaire item asked."""
    cached_calls: int
    """Calls whose exact request is already in the response cache (cost nothing)."""
    input_tokens: int
    """Prompt tokens over every call, images included."""
    image_tokens: int
    """The part of :attr:`input_tokens` that is images."""
    images: int
    """Images sent."""
    output_tokens: int
    """Reply tokens (typical reply length per call)."""
    priced: bool
    """Whether litellm's map prices this model."""
    cost_usd: float | None
    """Estimated dollars for the calls not in the cache; None when unpriced."""
    tokenizer: str
    """How text was counted (``o200k_base``, ``cl100k_base`` or ``chars/4``)."""


@dataclass(frozen=True)
class Estimate:
    """What a plan would cost, without running it."""

    models: tuple[ModelEstimate, ...]
    """Per model, in the plan's order."""
    sessions: int
    """Planned sessions."""
    decisions: int
    """Planned decisions."""
    calls: int
    """Model calls."""
    cached_calls: int
    """Calls expected from the response cache."""
    input_tokens: int
    """Prompt tokens, images included."""
    image_tokens: int
    """Image tokens."""
    output_tokens: int
    """Reply tokens."""
    cost_usd: float
    """Estimated dollars over the priced models."""
    unpriced: tuple[str, ...]
    """LLM models litellm's map has no price for (their cost is not in :attr:`cost_usd`)."""
    notes: tuple[str, ...] = field(default_factory=tuple)
    """What the estimate assumed or could not count."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``simulate --dry-run --json``)."""
        return asdict(self)


class _Offline:
    """A chat model that is never asked: it only says what the real gateway would send."""

    def __init__(self, name: str, mode: str) -> None:
        self.name = name
        self.mode = mode

    def supports_schema(self) -> bool:
        return self.mode != "text"

    async def complete(self, request: ChatRequest) -> ChatResponse:
        raise ModelError("a dry run calls no model")


def _format_mode(model: str, config: RunConfig) -> str:
    """The structured-output mode the gateway would start in (``Gateway.format_mode``)."""
    from value_spectrum.agents import pricing

    chosen = config.gateway.response_format
    if chosen not in (None, "auto"):
        return str(chosen)
    return "json_schema" if pricing.supports(model, "response_schema") is not False else "json_object"


def _picks(feed: FeedPolicy, spec: SessionSpec, steps: int) -> list[str]:
    """The videos a session shows, drawn as the session graph draws them (no likes, no hits)."""
    seen: list[str] = []
    for turn in range(steps):
        vid = feed.next(FeedState(turn=turn, seen=tuple(seen), liked=(), search_queue=()), turn_rng(spec.seed, turn))
        if vid is None:
            break
        seen.append(vid)
    return seen


def _image_size(path: Path) -> tuple[int, int] | None:
    """An image's size from its header, or None when the file is not there (yet)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return int(im.size[0]), int(im.size[1])
    except OSError:
        return None


class _Counter:
    """Counts one model's requests, memoized by (persona, video): history aside, the same
    persona shown the same video sends the same request."""

    def __init__(self, model: str, config: RunConfig, corpus: Corpus, cache_dir: Path | str | None) -> None:
        from value_spectrum.agents.llm_viewer import LLMViewer
        from value_spectrum.agents.tokens import text_counter

        self.model = model
        self.config = config
        self.corpus = corpus
        self.mode = _format_mode(model, config)
        opts = {k: v for k, v in config.viewer_options.items()
                if k in ("history_turns", "max_tool_rounds", "max_tokens", "seed", "structured", "leave", "dwell")}
        self.viewer = LLMViewer(_Offline(model, self.mode), strategy=config.strategy, modality=config.modality,
                                temperature=config.temperature, **opts)
        self.text = text_counter(model)
        self.cache_dir = cache_dir
        self.search = config.feed == "search"
        self._memo: dict[tuple[str, str], tuple[int, int, int, str | None]] = {}
        self._sizes: dict[str, tuple[int, int]] = {}

    def _size(self, frame: str) -> tuple[int, int]:
        from value_spectrum.retrieval.media import FRAME_SIZE

        if frame not in self._sizes:
            self._sizes[frame] = _image_size(Path(frame)) or FRAME_SIZE
        return self._sizes[frame]

    def request_tokens(self, request: ChatRequest) -> tuple[int, int, int]:
        """(text tokens, image tokens, images) of one request."""
        from value_spectrum.agents.tokens import (
            MESSAGE_OVERHEAD,
            REQUEST_OVERHEAD,
            image_tokens,
            message_text,
            schema_text,
        )

        text = REQUEST_OVERHEAD + self.text.count(schema_text(request.response_format, request.tools))
        img = n_img = 0
        for message in request.messages:
            body, _ = message_text(message.get("content"))
            text += MESSAGE_OVERHEAD + self.text.count(body)
            for part in message.get("content") or () if not isinstance(message.get("content"), str) else ():
                if isinstance(part, dict) and part.get("type") == "image_url":
                    n_img += 1
                    w, h = self._size(str(part["image_url"]["url"]).removeprefix("file://"))
                    img += image_tokens(self.model, w, h)
        return text, img, n_img

    def _key(self, request: ChatRequest, frames: Sequence[Path]) -> str | None:
        """The response-cache key, or None when the request cannot be in the cache."""
        from value_spectrum.agents import formats
        from value_spectrum.agents.cache import cacheable, request_key
        from value_spectrum.agents.observe import data_url

        if self.cache_dir is None or not cacheable(request):
            return None
        if frames:
            if not all(f.is_file() for f in frames):
                return None  # keyframes never rendered: nothing was asked about them
            request = _with_images(request, data_url)
        rf = formats.shaped(request.response_format, self.mode)
        if rf is not request.response_format:
            request = ChatRequest(**{**request.__dict__, "response_format": rf})
        return request_key(self.model, self.config.api_base, request)

    def decision(self, persona: Persona | None, persona_id: str, video_id: str) -> tuple[int, int, int, str | None]:
        """(text tokens, image tokens, images, cache key) of one decision's first request."""
        hit = self._memo.get((persona_id, video_id))
        if hit is None:
            video = self.corpus.get(video_id)
            frames: tuple[Path, ...] = ()
            if self.config.modality == "frames":
                frames = tuple(self.corpus.keyframe_locations(video))
            obs = Observation.of(video, turn=0, keyframes=tuple(str(f) for f in frames), modality=self.config.modality)
            request = self.viewer.first_request(persona, obs, search=self.search, image_url=lambda p: f"file://{p}")
            text, img, n = self.request_tokens(request)
            hit = self._memo[(persona_id, video_id)] = (text, img, n, self._key(request, frames))
        return hit


def _with_images(request: ChatRequest, to_url: Callable[[str], str]) -> ChatRequest:
    """``request`` with every ``file://`` image placeholder replaced by ``to_url(path)``."""
    messages = []
    for m in request.messages:
        content = m.get("content")
        if isinstance(content, list):
            parts = []
            for part in content:
                url = part.get("image_url", {}).get("url", "") if isinstance(part, dict) else ""
                if isinstance(url, str) and url.startswith("file://"):
                    part = {**part, "image_url": {**part["image_url"], "url": to_url(url.removeprefix("file://"))}}
                parts.append(part)
            m = {**m, "content": parts}
        messages.append(m)
    return ChatRequest(**{**request.__dict__, "messages": tuple(messages)})


def _feed(config: RunConfig, corpus: Corpus, spec: SessionSpec, notes: list[str]) -> FeedPolicy:
    if spec.items:
        return make_feed("items", corpus.videos, items=spec.items)
    if config.feed in DECISION_FEEDS:
        note = f"feed {config.feed!r} follows the decisions; its picks are estimated with random ones"
        if note not in notes:
            notes.append(note)
        return make_feed("random", corpus.videos)
    return make_feed(config.feed, corpus.videos, feed_seed=spec.feed_seed)


def estimate(
    config: RunConfig | Plan,
    *,
    corpus: Corpus | None = None,
    personas: Sequence[Persona] | None = None,
    instrument: Instrument | None = None,
    cache_dir: Path | str | None = None,
) -> Estimate:
    """Estimate the calls, tokens and cost of a run without running it: no model is called, no
    file or folder is written, nothing is fetched.

    Args:
        config: the run's config (a simulate plan), or any :class:`Plan` (probe, preference).
        corpus: the corpus (default: ``load_corpus(config.corpus)``).
        personas: the personas (default: from ``config.personas``).
        instrument: the questionnaire of probe runs (default: ``config.instrument`` when
            ``probe_every`` is set).
        cache_dir: the response cache's folder or store URL (default: the config's
            ``gateway.cache_store``, else the user cache's folder; ignored with ``cache=False``).
    """
    plan = config if isinstance(config, Plan) else Plan(config=config)
    config = plan.config
    from value_spectrum.agents import pricing
    from value_spectrum.retrieval.corpus import load_corpus
    from value_spectrum.runner.services import resolve_personas

    corpus = corpus if corpus is not None else load_corpus(config.corpus)
    personas = tuple(personas) if personas is not None else resolve_personas(config.personas)
    by_id = {p.id: p for p in personas}
    specs = plan.sessions(tuple(by_id))
    if config.probe_every > 0 and instrument is None:
        from value_spectrum.personas.instruments import load_instrument

        instrument = load_instrument(config.instrument)
    if config.cache and cache_dir is None:
        cache_dir = config.gateway.cache_store
    if config.cache and cache_dir is None:
        from value_spectrum.retrieval.cache import cache_subdir

        cache_dir = cache_subdir("responses", create=False)
    notes: list[str] = []
    counters: dict[str, _Counter] = {}
    totals: dict[str, dict[str, int]] = {}
    keys: dict[str, list[str]] = {}
    for spec in specs:
        row = totals.setdefault(spec.model, dict(sessions=0, decisions=0, calls=0, text=0, img=0, images=0, out=0))
        row["sessions"] += 1
        steps = plan.steps_of(spec)
        picks = _picks(_feed(config, corpus, spec, notes), spec, steps)
        row["decisions"] += len(picks)
        if spec.model == REFERENCE:
            continue
        counter = counters.get(spec.model)
        if counter is None:
            counter = counters[spec.model] = _Counter(spec.model, config, corpus, cache_dir if config.cache else None)
        persona = None if spec.persona_id == PLAIN_PERSONA and config.strategy == "plain" else by_id[spec.persona_id]
        reply = counter.text.count(typical_reply(config.strategy, config.viewer_options))
        for vid in picks:
            text, img, n, key = counter.decision(persona, spec.persona_id, vid)
            row["calls"] += 1
            row["text"] += text + img
            row["img"] += img
            row["images"] += n
            row["out"] += reply
            if key is not None:
                keys.setdefault(spec.model, []).append(key)
        if instrument is not None and config.probe_every > 0:
            probes = len(picks) // config.probe_every
            rating = counter.text.count(RATING_REPLY)
            for item in instrument.items:
                request = counter.viewer.rating_request(persona, instrument, item)
                text, _, _ = counter.request_tokens(request)
                row["calls"] += probes
                row["text"] += probes * text
                row["out"] += probes * rating
                key = counter._key(request, ())
                if key is not None:
                    keys.setdefault(spec.model, []).extend([key] * probes)
    hits = _cache_hits(cache_dir if config.cache else None, keys, notes)
    models: list[ModelEstimate] = []
    for model, row in totals.items():
        llm = model != REFERENCE
        is_priced = llm and pricing.priced(model)
        cached = hits.get(model, 0)
        share = 1.0 - (cached / row["calls"] if row["calls"] else 0.0)
        cost: float | None = 0.0
        if llm:
            cost = round(pricing.cost_usd(model, round(row["text"] * share), round(row["out"] * share)), 8) if is_priced else None
        models.append(ModelEstimate(
            model=model, sessions=row["sessions"], decisions=row["decisions"], calls=row["calls"],
            cached_calls=cached, input_tokens=row["text"], image_tokens=row["img"], images=row["images"],
            output_tokens=row["out"], priced=is_priced or not llm, cost_usd=cost,
            tokenizer=counters[model].text.encoding if model in counters else "",
        ))
    if any(not c.text.exact for c in counters.values()):
        notes.append("no tokenizer file found: text counted as characters / 4")
    opts = config.viewer_options
    if counters and (opts.get("leave") or opts.get("boredom")):
        notes.append("viewers may leave the feed: every planned turn is counted, so this is an upper bound")
    if counters:
        notes.append("output tokens assume a reply of typical length; repair turns, search-tool rounds and "
                     "history lines are not counted")
    unpriced = tuple(m.model for m in models if m.cost_usd is None)
    return Estimate(
        models=tuple(models),
        sessions=len(specs),
        decisions=sum(m.decisions for m in models),
        calls=sum(m.calls for m in models),
        cached_calls=sum(m.cached_calls for m in models),
        input_tokens=sum(m.input_tokens for m in models),
        image_tokens=sum(m.image_tokens for m in models),
        output_tokens=sum(m.output_tokens for m in models),
        cost_usd=round(sum(m.cost_usd or 0.0 for m in models), 8),
        unpriced=unpriced,
        notes=tuple(notes),
    )


def _cache_hits(cache_dir: Path | str | None, keys: dict[str, list[str]], notes: list[str]) -> dict[str, int]:
    """Per model, how many of its planned requests the response cache answers: those already in
    it, and every repeat of a request earlier in the plan (the run caches the first; a later
    probe asks the same items, replayed sessions show a persona the same videos)."""
    if cache_dir is None or not keys:
        return {}
    from value_spectrum.agents.cache import cached_keys, describe_location

    found = cached_keys(cache_dir, {k for ks in keys.values() for k in ks})
    if found is None:
        notes.append(f"response cache {describe_location(cache_dir)} not readable: only repeats within the plan counted as hits")
        found = set()
    hits: dict[str, int] = {}
    for model, ks in keys.items():
        seen: set[str] = set()
        n = 0
        for k in ks:
            n += k in found or k in seen
            seen.add(k)
        hits[model] = n
    return hits
