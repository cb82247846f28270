"""Build the services of a batch from its :class:`RunConfig`: corpus, personas, viewers, feed
policies, search tool, probe hook; and one :class:`SessionContext` per planned session.

Heavy things (litellm, the embedder, the index) load only when the config needs them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from value_spectrum.agents.base import SearchTool, Viewer
from value_spectrum.graphs.feeds import FeedPolicy, make_feed
from value_spectrum.graphs.session import ProbeHook, SessionContext, StepHook
from value_spectrum.personas.model import Persona
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


class Services:
    """Everything the sessions of one batch share.

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
        probe: the probe hook (default: ``agents.ask_questionnaire`` when ``probe_every``).
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
    ) -> None:
        from value_spectrum.retrieval.corpus import load_corpus

        self.config = config
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
        self.probe = probe
        if probe is None and config.probe_every > 0:
            self.probe = _questionnaire_probe()
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

    def _index_search(self) -> SearchTool | None:
        try:
            from value_spectrum.retrieval import search as search_mod
        except ImportError:
            logger.warning("retrieval.search is not available; the search feed runs without a search tool")
            return None
        opened = self._opened_index()
        maker = getattr(search_mod, "VideoSearch", None)
        if maker is None:
            return None
        tool: SearchTool = maker(opened.index, opened.embedder, opened.corpus)
        return tool

    # ---- per session ------------------------------------------------------------------------
    @property
    def persona_ids(self) -> tuple[str, ...]:
        """Persona ids, in the given order."""
        return tuple(p.id for p in self.personas)

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
            opts.setdefault("strategy", self.config.strategy)
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
        """The feed policy of a session (replay: one per session index)."""
        key = spec.index if self.config.feed == "replay" else None
        if key not in self._feeds:
            self._feeds[key] = make_feed(
                self.config.feed,
                self.corpus.videos,
                embeddings=self._embeddings,
                feed_seed=spec.feed_seed,
            )
        return self._feeds[key]

    def context(self, spec: SessionSpec, *, on_step: StepHook | None = None) -> SessionContext:
        """The runtime context of a session's graph."""
        viewer = self.viewer(spec)
        return SessionContext(
            viewer=viewer,
            corpus=self.corpus,
            persona=self.persona(spec),
            feed=self.feed(spec),
            seed=spec.seed,
            max_steps=self.config.steps,
            search=self.search,
            probe=self.probe,
            probe_every=self.config.probe_every,
            modality=self.config.modality,
            render_keyframes=getattr(viewer, "name", "") != "reference",
            max_consecutive_errors=self.config.max_consecutive_errors,
            record_latency=self.config.record_latency,
            on_step=on_step,
        )

    def response_formats(self) -> dict[str, str]:
        """Model -> the structured-output mode its shared viewer's gateway ended in."""
        modes: dict[str, str] = {}
        for name, viewer in self._shared_viewers.items():
            mode = getattr(getattr(viewer, "model", None), "format_mode", None)
            if callable(mode):
                modes[name] = str(mode())
        return modes

    def viewer_extra(self, viewer: Viewer, persona: Persona | None = None) -> dict[str, Any]:
        """Provenance of a viewer for ``Trajectory.extra`` (a viewer with ``describe_session``,
        such as the reference viewer, also records what it was given for this persona)."""
        describe = getattr(viewer, "describe_session", None)
        if not callable(describe):
            plain = getattr(viewer, "describe", None)
            describe = (lambda _p: plain()) if callable(plain) else None
        if describe is not None:
            try:
                return {"viewer": describe(persona)}
            except Exception:  # provenance must never break a session
                logger.debug("viewer.describe() failed", exc_info=True)
        return {}


def _questionnaire_probe() -> ProbeHook:
    """The default probe: the built-in instrument through ``agents.ask_questionnaire``."""
    from value_spectrum.personas.instruments import load_instrument

    instrument = load_instrument(None)

    async def probe(persona: Persona | None, viewer: Viewer, after_turn: int) -> Any:
        from value_spectrum import agents

        ask = getattr(agents, "ask_questionnaire", None)
        if ask is None:
            raise RuntimeError("agents.ask_questionnaire is not available in this version")
        return await ask(viewer, persona, instrument, after_turn=after_turn)

    return probe
