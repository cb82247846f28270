"""Entry points for LangGraph's own tooling (``langgraph dev``, LangGraph Studio, the LangGraph
API): the feed-session graph and the chat graph with a context made of plain JSON fields, each
with a default, so a run needs no Python objects.

``langgraph.json`` at the repository root names :func:`session_graph` and :func:`chat_graph`.
The server builds the context from a run's ``context`` object (:class:`StudioSession` /
:class:`StudioChat`); each node turns it into the services the real graphs take (viewer, corpus,
feed, chat model) and runs the real graph (:func:`~value_spectrum.graphs.session.build_session_graph`,
:func:`~value_spectrum.graphs.chat.build_chat_graph`) inside it.

Defaults: the demo corpus and the reference viewer (offline, no key). ``VALUE_SPECTRUM_MODEL``
and ``VALUE_SPECTRUM_API_BASE`` in the server's environment choose a model instead; a run's
``context`` overrides both. Without a chat model the chat graph answers with one scripted line
saying how to choose one.

Example (from the repository root)::

    pip install "langgraph-cli[inmem]"
    langgraph dev --no-browser            # then POST /threads, /threads/{id}/runs/wait
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from value_spectrum.graphs.chat import ChatState, user_turn
from value_spectrum.graphs.session import SessionState

__all__ = ["StudioChat", "StudioSession", "chat_graph", "session_graph"]

DEFAULT_PERSONA = "family_oriented"
"""The persona a run plays unless its context names another."""
MODEL_ENV = "VALUE_SPECTRUM_MODEL"
"""Environment variable naming the default model (read when a run starts)."""
API_BASE_ENV = "VALUE_SPECTRUM_API_BASE"
"""Environment variable naming the default OpenAI-compatible endpoint."""


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


@dataclass
class StudioSession:
    """The context of one feed session run through the LangGraph API (JSON fields only)."""

    persona: str = DEFAULT_PERSONA
    """Built-in persona id."""
    model: str | None = None
    """litellm model string or 'reference'; default ``$VALUE_SPECTRUM_MODEL`` or 'reference'."""
    api_base: str | None = None
    """OpenAI-compatible endpoint; default ``$VALUE_SPECTRUM_API_BASE``."""
    steps: int = 5
    """Decisions in the session."""
    seed: int = 0
    """Session seed."""
    feed: str = "random"
    """Feed policy (random | balanced; adaptive and search need the index)."""
    modality: str = "frames"
    """frames | caption | title."""
    strategy: str = "simple"
    """Prompt strategy."""
    corpus: str | None = None
    """Corpus directory; None for the demo corpus."""


@dataclass
class StudioChat:
    """The context of one chat turn run through the LangGraph API (JSON fields only)."""

    persona: str = DEFAULT_PERSONA
    """Built-in persona id."""
    model: str | None = None
    """litellm model string; default ``$VALUE_SPECTRUM_MODEL``; none: a scripted reply."""
    api_base: str | None = None
    """OpenAI-compatible endpoint; default ``$VALUE_SPECTRUM_API_BASE``."""
    temperature: float = 0.7
    """Sampling temperature."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Unused; room for front ends."""


def _session_context(ctx: StudioSession) -> Any:
    """The real graph's :class:`~value_spectrum.graphs.session.SessionContext` for ``ctx``."""
    from value_spectrum.runner.config import RunConfig
    from value_spectrum.runner.plan import build_plan
    from value_spectrum.runner.services import Services

    model = ctx.model or _env(MODEL_ENV) or "reference"
    config = RunConfig(
        personas=(ctx.persona,),
        models=(model,),
        api_base=ctx.api_base or _env(API_BASE_ENV),
        steps=ctx.steps,
        seed=ctx.seed,
        feed=ctx.feed,
        modality=ctx.modality,  # type: ignore[arg-type]
        strategy=ctx.strategy,  # type: ignore[arg-type]
        corpus=ctx.corpus,
        embedder="fake",
    )
    services = Services(config)
    (spec, *_) = build_plan(config, services.persona_ids)
    return services.context(spec)


async def _run_session(state: SessionState, runtime: Runtime[StudioSession]) -> dict[str, Any]:
    """Run the real session graph to its end; a finished thread is left as it is."""
    if state.get("done"):
        return {}
    from value_spectrum.graphs.session import build_session_graph, initial_state

    context = _session_context(runtime.context or StudioSession())
    final: dict[str, Any] = await build_session_graph().ainvoke(initial_state(), context=context)
    return final


def session_graph() -> CompiledStateGraph[Any, Any, Any, Any]:
    """The feed-session graph for ``langgraph dev``: one node that plays a whole session
    (``steps`` decisions) and leaves its steps, probes and status in the thread's state."""
    builder: StateGraph[Any, Any, Any, Any] = StateGraph(
        SessionState, context_schema=StudioSession
    )
    builder.add_node("session", _run_session)
    builder.add_edge(START, "session")
    builder.add_edge("session", END)
    return builder.compile(name="feed_session")


def _chat_context(ctx: StudioChat) -> Any:
    from value_spectrum.graphs.chat import ChatContext
    from value_spectrum.personas import get_persona

    persona = get_persona(ctx.persona)
    name = ctx.model or _env(MODEL_ENV)
    model: Any
    if name is None or name == "reference":
        from value_spectrum.agents.fake import ScriptedModel

        model = ScriptedModel(
            [
                f"(scripted) I am {persona.name}. Set `model` in the run's context, or "
                f"{MODEL_ENV} in the server's environment, to talk to a real model."
            ],
            cycle=True,
        )
    else:
        from value_spectrum.agents.gateway import Gateway

        model = Gateway(name, api_base=ctx.api_base or _env(API_BASE_ENV))
    return ChatContext(model=model, persona=persona, temperature=ctx.temperature)


async def _run_chat(state: ChatState, runtime: Runtime[StudioChat]) -> dict[str, Any]:
    """One chat turn: the real chat graph answers the last user message."""
    from value_spectrum.graphs.chat import build_chat_graph

    ctx = runtime.context or StudioChat()
    messages = list(state.get("messages", []))
    if not messages or messages[-1].get("role") != "user":
        return {}
    before = len(messages)
    start = {**user_turn("", ctx.persona), "messages": messages}
    final = await build_chat_graph().ainvoke(start, context=_chat_context(ctx))
    return {"persona_id": ctx.persona, "messages": final["messages"][before:]}


def chat_graph() -> CompiledStateGraph[Any, Any, Any, Any]:
    """The chat graph for ``langgraph dev``: send ``{"messages": [{"role": "user", "content":
    "..."}]}``; the persona answers (searching the demo corpus is not offered here)."""
    builder: StateGraph[Any, Any, Any, Any] = StateGraph(ChatState, context_schema=StudioChat)
    builder.add_node("chat", _run_chat)
    builder.add_edge(START, "chat")
    builder.add_edge("chat", END)
    return builder.compile(name="persona_chat")
