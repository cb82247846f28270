"""A persona chat thread: the chat graph, a SQLite checkpointer, and the feed, search and probe
actions the terminal chat offers. The terminal front end (``value-spectrum chat``) is a thin
loop over this class; users can drive it from Python the same way.

Example:
    >>> import asyncio
    >>> from value_spectrum.agents.fake import ScriptedModel
    >>> from value_spectrum.personas import get_persona
    >>> async def demo(tmp):
    ...     async with ChatSession(get_persona("family_oriented"), ScriptedModel(["Hi! I'm here."]),
    ...                            db_path=tmp / "chat.sqlite", search=None) as chat:
    ...         return [e async for e in chat.send("hello")]
    >>> # asyncio.run(demo(Path("/tmp")))  -> [{'delta': 'Hi!'}, {'delta': " I'm"}, ...]
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from value_spectrum._private import private_file
from value_spectrum.agents.base import SearchTool, Viewer
from value_spectrum.agents.chat import StreamingChatModel
from value_spectrum.graphs.chat import ChatContext, ChatState, build_chat_graph, user_turn
from value_spectrum.graphs.feeds import FeedState, derive_seed, make_feed
from value_spectrum.personas.model import Persona
from value_spectrum.personas.questionnaire import Instrument
from value_spectrum.records import Modality, Observation, Outcome, Probe, Step, Video
from value_spectrum.retrieval.corpus import Corpus

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeedReaction:
    """One video the persona saw during ``/feed`` and what it did."""

    video: Video
    """The video shown."""
    step: Step
    """The recorded step (outcome, reason, raw reply)."""


class ChatSession:
    """One chat thread with a persona.

    Args:
        persona: Who the model plays.
        model: The talking model (None: no talking, e.g. the reference viewer offline).
        db_path: The SQLite file that keeps threads.
        thread: Thread name; the same name resumes the conversation.
        search: The video search tool (None: no search).
        corpus: Videos for ``feed`` (None: ``feed`` is unavailable).
        viewer_factory: Builds the viewer that reacts to feed videos; called again after a model
            switch.
        feed: Feed policy name (``random``, ``balanced``, ``search``...).
        seed: Seed of the feed draws (each draw derives from seed, thread and turn).
        modality: What feed viewers see of each video (frames | caption | title).
        max_tokens: Reply cap of chat requests.
        context_tokens: The model's context window (older turns are left out of requests).
        temperature: Sampling temperature of chat replies.
    """

    def __init__(
        self,
        persona: Persona,
        model: StreamingChatModel | None,
        *,
        db_path: Path,
        thread: str = "default",
        search: SearchTool | None = None,
        corpus: Corpus | None = None,
        viewer_factory: Callable[[], Viewer] | None = None,
        feed: str = "random",
        seed: int = 0,
        modality: Modality = "frames",
        max_tokens: int | None = 512,
        context_tokens: int = 4096,
        temperature: float = 0.7,
    ) -> None:
        self.persona = persona
        self.model = model
        self.db_path = db_path
        self.thread = thread
        self.search = search
        self.corpus = corpus
        self.viewer_factory = viewer_factory
        self.feed_name = feed
        self.seed = seed
        self.modality: Modality = modality
        self.max_tokens = max_tokens
        self.context_tokens = context_tokens
        self.temperature = temperature
        self._viewer: Viewer | None = None
        self._conn: Any = None
        self._graph: Any = None

    # ---- lifecycle ----------------------------------------------------------------------
    async def __aenter__(self) -> ChatSession:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Open the checkpointer and compile the graph."""
        import aiosqlite
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        private_file(self.db_path)  # threads hold whole conversations: owner-only
        self._conn = await aiosqlite.connect(str(self.db_path))
        self._graph = build_chat_graph(AsyncSqliteSaver(self._conn))

    async def close(self) -> None:
        """Close the checkpointer's connection."""
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    @property
    def _config(self) -> dict[str, Any]:
        return {"configurable": {"thread_id": self.thread}}

    def _context(self) -> ChatContext:
        if self.model is None:
            raise RuntimeError("no chat model: pick one with /model or --model")
        return ChatContext(model=self.model, persona=self.persona, search=self.search, temperature=self.temperature,
                           max_tokens=self.max_tokens, context_tokens=self.context_tokens)

    # ---- state --------------------------------------------------------------------------
    async def state(self) -> ChatState:
        """The thread's saved state (empty for a new thread)."""
        snapshot = await self._graph.aget_state(self._config)
        values: ChatState = snapshot.values or ChatState()
        return values

    async def check_persona(self) -> str | None:
        """The persona id a resumed thread was started with, when it differs from this one."""
        saved = (await self.state()).get("persona_id")
        return saved if saved and saved != self.persona.id else None

    async def _append(self, **updates: list[dict[str, Any]]) -> None:
        await self._graph.aupdate_state(
            self._config, {"persona_id": self.persona.id, **updates}, as_node="agent"
        )

    # ---- talking ------------------------------------------------------------------------
    async def send(self, text: str) -> AsyncIterator[dict[str, Any]]:
        """Send a user message; yields stream events: ``{"delta"}``, ``{"search", "cards"}``,
        ``{"usage"}``, ``{"error"}``."""
        ctx = self._context()
        async for _mode, event in self._graph.astream(
            user_turn(text, self.persona.id), self._config, context=ctx, stream_mode=["custom"]
        ):
            yield event

    # ---- browsing -----------------------------------------------------------------------
    def viewer(self) -> Viewer:
        """The viewer that reacts to feed videos (built on first use)."""
        if self._viewer is None:
            if self.viewer_factory is None:
                raise RuntimeError("no viewer for the feed")
            self._viewer = self.viewer_factory()
        return self._viewer

    def set_model(self, model: StreamingChatModel | None, viewer_factory: Callable[[], Viewer]) -> None:
        """Switch the model (same thread); the next feed uses a viewer of the new model."""
        self.model = model
        self.viewer_factory = viewer_factory
        self._viewer = None

    async def feed(self, n: int, modality: Modality | None = None) -> AsyncIterator[FeedReaction]:
        """Show the persona ``n`` more videos (in ``modality``, default the session's); each
        reaction is saved in the thread as it happens, so an interrupted feed keeps what was
        decided. A model that turns out to take no images ends the feed after that reaction."""
        if self.corpus is None:
            raise RuntimeError("no corpus for the feed")
        viewer = self.viewer()
        policy = make_feed(self.feed_name, list(self.corpus))
        state = await self.state()
        decisions = list(state.get("decisions", []))
        seen = [d["video_id"] for d in decisions]
        liked = [d["video_id"] for d in decisions if d["outcome"] == Outcome.LIKE.value]
        queue: list[str] = []
        shown = modality or self.modality
        for _ in range(n):
            turn = len(seen)
            rng = random.Random(derive_seed(self.seed, self.thread, turn))
            vid = policy.next(FeedState(turn=turn, seen=tuple(seen), liked=tuple(liked),
                                        search_queue=tuple(queue)), rng)
            if vid is None:
                return
            video = self.corpus.get(vid)
            frames = tuple(str(p) for p in self.corpus.keyframe_paths(video)) if shown == "frames" else ()
            obs = Observation.of(video, turn=turn, keyframes=frames, modality=shown)
            reply = await viewer.decide(self.persona, obs, search=self.search)
            step = Step(
                turn=turn, video_id=vid, outcome=reply.outcome, decision=reply.decision,
                raw=reply.raw, error=reply.error, searches=reply.searches, usage=reply.usage,
            )
            seen.append(vid)
            if step.outcome is Outcome.LIKE:
                liked.append(vid)
            record = {**step.model_dump(mode="json"), "title": video.title, "model": viewer.name}
            await self._append(decisions=[record])
            yield FeedReaction(video=video, step=step)
            if shown == "frames" and getattr(getattr(viewer, "model", None), "modality_problem", None):
                return

    async def probe(self, instrument: Instrument, items: Sequence[Any] | None = None) -> Probe:
        """Ask the questionnaire now (in character) and save the answers in the thread."""
        from value_spectrum.agents.probing import ask_questionnaire

        state = await self.state()
        probe = await ask_questionnaire(
            self.viewer(), self.persona, instrument, items,
            after_turn=len(state.get("decisions", [])),
        )
        await self._append(probes=[probe.model_dump(mode="json")])
        return probe

    # ---- export -------------------------------------------------------------------------
    async def transcript(self) -> dict[str, Any]:
        """The whole thread as one JSON-able object."""
        state = await self.state()
        return {
            "thread": self.thread,
            "persona_id": self.persona.id,
            "model": getattr(self.model, "name", None),
            "viewer": self.viewer().name if self.viewer_factory is not None else None,
            "messages": state.get("messages", []),
            "decisions": state.get("decisions", []),
            "probes": state.get("probes", []),
        }

    async def save(self, path: Path) -> Path:
        """Write :meth:`transcript` as JSON (atomically, readable by the owner only)."""
        data = json.dumps(await self.transcript(), indent=2, ensure_ascii=False)
        tmp = path.with_name(path.name + ".tmp")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.unlink(missing_ok=True)
        private_file(tmp)
        tmp.write_text(data + "\n", encoding="utf-8")
        tmp.replace(path)
        return path
