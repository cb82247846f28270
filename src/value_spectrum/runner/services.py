"""The services of a run: corpus, personas, viewers, feed policies, search tool, probe hook; and
one :class:`SessionContext` per planned session.

Services are passed explicitly: whatever a user gives (a corpus, personas, a viewer factory, a
feed policy object or registry, a probe hook) reaches every executor: the local one uses this
object, the Ray executor ships the user's parts to its workers (:attr:`Services.given`).

Heavy things (litellm, the embedder, the index) load only when the config needs them.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from value_spectrum.agents.base import DescribesSessions, SearchTool, Viewer
from value_spectrum.graphs.feeds import (
    USER_PREFIX,
    FeedFactory,
    FeedPolicy,
    check_feed_name,
    make_feed,
)
from value_spectrum.graphs.session import ProbeHook, SessionContext, StepHook
from value_spectrum.personas.model import Persona
from value_spectrum.personas.prompts import USER_STRATEGY, PromptStrategy, strategy_name
from value_spectrum.personas.questionnaire import Instrument
from value_spectrum.retrieval.corpus import Corpus
from value_spectrum.runner.config import RunConfig
from value_spectrum.runner.plan import PLAIN_PERSONA, SessionSpec

logger = logging.getLogger(__name__)

ViewerFactory = Callable[[SessionSpec], Viewer]
"""Builds the viewer of one session (tests and users plug in their own)."""


def resolve_personas(specs: tuple[str, ...]) -> tuple[Persona, ...]:
    """Personas from ids and files; every built-in persona when ``specs`` is empty.

    Raises:
        ValueError: an unknown id, a bad file, or two personas with one id.
    """
    from value_spectrum.personas.loading import get_persona, load_builtin_personas, load_personas

    if not specs:
        return tuple(load_builtin_personas())
    out: list[Persona] = []
    for spec in specs:
        path = Path(spec)
        if path.is_file():
            out.extend(load_personas(path))
        else:
            out.append(get_persona(spec))
    seen: set[str] = set()
    for p in out:
        if p.id in seen:
            raise ValueError(f"persona id {p.id!r} given twice (--personas)")
        seen.add(p.id)
    return tuple(out)


def instrument_digest(instrument: Instrument) -> dict[str, str]:
    """``{"id", "digest"}`` of an instrument: the digest covers every item and the scale, so an
    edited file is another instrument."""
    text = instrument.model_dump_json()
    return {"id": instrument.id, "digest": hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]}


class Services:
    """Everything the sessions of one run share.

    Args:
        config: the run.
        corpus: a corpus (default: ``load_corpus(config.corpus)``).
        personas: the personas (default: from ``config.personas``).
        viewer_factory: builds each session's viewer (default: reference viewer per session,
            one shared ``make_viewer`` per LLM model, built with ``config.gateway``'s settings, so
            its Router's rate limits cover all sessions).
        embeddings: video vectors for the adaptive feed (default: from the index built with
            ``config.embedder``).
        search: the search tool (default: the index's search when the feed is ``search``).
        probe: the probe hook (default: ``agents.ask_questionnaire`` with ``config.instrument``
            when ``probe_every``).
        feed: a user's feed policy object (``config.feed`` must then be ``user:<its name>``).
        feeds: more named feed factories, beside the built-in ones.
        strategy: a user's prompt strategy, a callable ``persona -> Prompt``
            (``config.strategy`` must then be ``user:<its name>``).

    Raises:
        ValueError: an unknown persona, feed or instrument; a user feed without its object.
    """

    def __init__(
        self,
        config: RunConfig,
        *,
        corpus: Corpus | None = None,
        personas: tuple[Persona, ...] | None = None,
        viewer_factory: ViewerFactory | None = None,
        embeddings: Mapping[str, np.ndarray] | None = None,
        search: SearchTool | None = None,
        probe: ProbeHook | None = None,
        feed: FeedPolicy | None = None,
        feeds: Mapping[str, FeedFactory] | None = None,
        strategy: PromptStrategy | None = None,
    ) -> None:
        from value_spectrum.retrieval.corpus import load_corpus

        self.given: dict[str, Any] = {
            k: v
            for k, v in dict(corpus=corpus, personas=personas, viewer_factory=viewer_factory,
                             embeddings=embeddings, search=search, probe=probe, feed=feed,
                             feeds=feeds, strategy=strategy).items()
            if v is not None
        }
        """What the caller passed (shipped to remote executors; the rest is rebuilt there)."""
        self.config = config
        self._registry = dict(feeds or {})
        check_feed_name(config.feed, self._registry)
        self._user_feed = feed
        if feed is not None and config.feed != f"{USER_PREFIX}{feed.name}":
            raise ValueError(f"feed: a policy object needs config.feed = {USER_PREFIX + feed.name!r}, got {config.feed!r}")
        if feed is None and config.feed.startswith(USER_PREFIX):
            raise ValueError(f"feed {config.feed!r} was a user's policy object; pass the object itself (feed=...)")
        self._strategy = strategy
        if strategy is not None and config.strategy != strategy_name(strategy):
            raise ValueError(f"strategy: a strategy object needs config.strategy = {strategy_name(strategy)!r}, "
                             f"got {config.strategy!r}")
        if strategy is None and config.strategy.startswith(USER_STRATEGY):
            raise ValueError(f"strategy {config.strategy!r} was a user's strategy; pass the callable itself (strategy=...)")
        self.corpus = corpus if corpus is not None else load_corpus(config.corpus)
        self.personas = personas if personas is not None else resolve_personas(config.personas)
        self._persona_by_id = {p.id: p for p in self.personas}
        self.labels = {v.id: v.values for v in self.corpus if v.values is not None}
        self._viewer_factory = viewer_factory
        self._shared_viewers: dict[str, Viewer] = {}
        self.embedder_info: dict[str, Any] = {}
        self._index: Any = None
        self._embeddings = embeddings
        if config.feed == "adaptive" and embeddings is None:
            self._embeddings = self._index_embeddings()
        self.search = search
        if search is None and config.feed == "search":
            self.search = self._index_search()
        self.instrument: Instrument | None = None
        if config.probe_every > 0:
            from value_spectrum.personas.instruments import load_instrument

            self.instrument = load_instrument(config.instrument)
        self.probe = probe
        if probe is None and self.instrument is not None:
            self.probe = _questionnaire_probe(self.instrument)
        self._feeds: dict[int | None, FeedPolicy] = {}

    # ---- index-backed services -------------------------------------------------------------
    def _opened_index(self) -> Any:
        if self._index is None:
            from value_spectrum.retrieval.building import open_index

            self._index = open_index(self.corpus, self.config.embedder)
            self.embedder_info = dict(self._index.embedder.describe())
        return self._index

    def _index_embeddings(self) -> dict[str, np.ndarray]:
        opened = self._opened_index()
        ids = list(self.corpus.ids)
        vectors = opened.index.get_vectors(ids)
        return {i: np.asarray(vectors[n]) for n, i in enumerate(ids)}

    def _index_search(self) -> SearchTool:
        from value_spectrum.retrieval.search import VideoSearch

        opened = self._opened_index()
        return VideoSearch(opened.index, opened.embedder, opened.corpus)

    # ---- per session ------------------------------------------------------------------------
    @property
    def persona_ids(self) -> tuple[str, ...]:
        """Persona ids, in the given order."""
        return tuple(p.id for p in self.personas)

    def instrument_identity(self) -> dict[str, str]:
        """The probe instrument's id and digest ({} without probes)."""
        return {} if self.instrument is None else instrument_digest(self.instrument)

    def persona(self, spec: SessionSpec) -> Persona | None:
        """The persona of a session (None for the plain strategy)."""
        if spec.persona_id == PLAIN_PERSONA and self.config.strategy == "plain":
            return None
        return self._persona_by_id[spec.persona_id]

    def viewer(self, spec: SessionSpec) -> Viewer:
        """The viewer of a session."""
        if self._viewer_factory is not None:
            return self._viewer_factory(spec)
        from value_spectrum.agents import REFERENCE, make_viewer

        opts = dict(self.config.viewer_options)
        if spec.model == REFERENCE:
            # per session: the reference viewer's draws are keyed on its seed
            return make_viewer(REFERENCE, labels=self.labels, seed=spec.seed, **opts)
        if spec.model not in self._shared_viewers:
            opts.setdefault("strategy", self._strategy or self.config.strategy)
            opts.setdefault("modality", self.config.modality)
            opts.setdefault("temperature", self.config.temperature)
            opts.setdefault("cache", self.config.cache)
            if self.config.api_base is not None:
                opts.setdefault("api_base", self.config.api_base)
            for key, value in self.config.gateway.options().items():
                opts.setdefault(key, value)
            self._shared_viewers[spec.model] = make_viewer(spec.model, **opts)
        return self._shared_viewers[spec.model]

    def feed(self, spec: SessionSpec) -> FeedPolicy:
        """The feed policy of a session (replay: one per session index; items: its own list)."""
        if spec.items:
            return make_feed("items", self.corpus.videos, items=spec.items)
        if self._user_feed is not None:
            return self._user_feed
        key = spec.index if self.config.feed == "replay" else None
        if key not in self._feeds:
            self._feeds[key] = make_feed(
                self.config.feed,
                self.corpus.videos,
                registry=self._registry,
                embeddings=self._embeddings,
                feed_seed=spec.feed_seed,
            )
        return self._feeds[key]

    def context(
        self, spec: SessionSpec, *, max_steps: int | None = None, on_step: StepHook | None = None
    ) -> SessionContext:
        """The runtime context of a session's graph."""
        viewer = self.viewer(spec)
        return SessionContext(
            viewer=viewer,
            corpus=self.corpus,
            persona=self.persona(spec),
            feed=self.feed(spec),
            seed=spec.seed,
            max_steps=self.config.steps if max_steps is None else max_steps,
            search=self.search,
            probe=self.probe,
            probe_every=self.config.probe_every,
            modality=self.config.modality,
            render_keyframes=viewer.wants_images,
            max_consecutive_errors=self.config.max_consecutive_errors,
            record_latency=self.config.record_latency,
            on_step=on_step,
        )

    def response_formats(self) -> dict[str, str]:
        """Model -> the structured-output mode its shared viewer's gateway ended in."""
        from value_spectrum.agents.gateway import Gateway
        from value_spectrum.agents.llm_viewer import LLMViewer

        return {
            name: viewer.model.format_mode()
            for name, viewer in self._shared_viewers.items()
            if isinstance(viewer, LLMViewer) and isinstance(viewer.model, Gateway)
        }

    def viewer_extra(self, viewer: Viewer, persona: Persona | None = None) -> dict[str, Any]:
        """Provenance of a viewer for ``Trajectory.extra``: its ``describe()``, or for a viewer
        that also records what it was given for this persona (the reference viewer's
        ``describe_session``), that."""
        if isinstance(viewer, DescribesSessions):
            return {"viewer": viewer.describe_session(persona)}
        return {"viewer": viewer.describe()}


def _questionnaire_probe(instrument: Instrument) -> ProbeHook:
    """The default probe: ``instrument`` through ``agents.ask_questionnaire``."""

    async def probe(persona: Persona | None, viewer: Viewer, after_turn: int) -> Any:
        from value_spectrum.agents import ask_questionnaire

        return await ask_questionnaire(viewer, persona, instrument, after_turn=after_turn)

    return probe
