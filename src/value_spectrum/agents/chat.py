"""The chat-model seam: one request in, one response out.

:class:`ChatModel` is what an :class:`~value_spectrum.agents.llm_viewer.LLMViewer` talks to.
The litellm gateway (:mod:`value_spectrum.agents.gateway`) implements it for every provider;
the scripted fake (:mod:`value_spectrum.agents.fake`) implements it for tests. Both feed the same
parsing path, so a test of the fake exercises the real decision contract.

A model raises :class:`ModelError` (never anything else) when no reply could be had after its
own retries; the viewer records that as an ``error`` outcome.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from value_spectrum.records import Usage

Message = dict[str, Any]
"""One OpenAI-format chat message: ``{"role": ..., "content": str | list[part], ...}``."""


@dataclass(frozen=True)
class ToolCall:
    """A tool call the model asked for."""

    id: str
    """The provider's call id (echoed back in the tool message)."""
    name: str
    """Function name."""
    arguments: str
    """JSON-encoded arguments, as the model wrote them (may be malformed)."""


@dataclass(frozen=True)
class ChatRequest:
    """Everything that determines a reply (and so the response cache key)."""

    messages: tuple[Message, ...]
    """The conversation, system prompt first."""
    temperature: float = 0.0
    """Sampling temperature; 0 makes the request cacheable."""
    seed: int | None = None
    """Provider seed, when the provider honours one."""
    max_tokens: int | None = None
    """Reply length cap."""
    response_format: dict[str, Any] | None = None
    """A JSON-schema ``response_format`` (only sent where the provider supports it)."""
    tools: tuple[dict[str, Any], ...] = ()
    """OpenAI-format tool definitions."""
    purpose: str = "decide"
    """decide | repair | rate | chat | tool: lets fakes and logs tell requests apart."""


@dataclass(frozen=True)
class ChatResponse:
    """One reply."""

    text: str = ""
    """The assistant's text (empty when it only called tools)."""
    tool_calls: tuple[ToolCall, ...] = ()
    """Tool calls requested."""
    usage: Usage = field(default_factory=Usage)
    """Tokens, cost, and whether it came from the cache."""
    finish_reason: str = ""
    """stop | length | tool_calls | content_filter | ..."""
    model: str = ""
    """The model that actually answered (after fallbacks)."""


class ModelError(RuntimeError):
    """No reply after retries (provider error, timeout, rate limit, exhausted script)."""

    status: int | None = None
    """The HTTP status of the provider's last answer, when there was one."""
    retries: int | None = None
    """Requests re-sent before giving up (None: the transport did not say)."""


class ModalityMismatch(ModelError):
    """The model rejects content of the modality it was shown (images to a text-only model).

    Every further request of that kind to the same model fails at once with this error; the
    message names the model and the fix (``--modality caption``)."""


class ModelRefusal(ModelError):
    """The provider blocked the request or the reply (a content filter): recorded as ``refused``."""


@runtime_checkable
class ChatModel(Protocol):
    """Anything that answers chat requests."""

    name: str
    """The model string recorded in trajectories."""

    def supports_schema(self) -> bool:
        """True when ``response_format`` JSON schemas are honoured."""
        ...

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """One reply. Raises :class:`ModelError` only."""
        ...


@runtime_checkable
class StreamingChatModel(ChatModel, Protocol):
    """A chat model that can also stream text deltas (for the terminal chat)."""

    def stream(self, request: ChatRequest) -> AsyncIterator[str | ToolCall | Usage]:
        """Text deltas as they arrive, then any :class:`ToolCall` the model asked for (complete),
        then one final :class:`Usage`."""
        ...


def add_usage(a: Usage, b: Usage) -> Usage:
    """Sum two usages; ``cached`` only when both were cached."""
    return Usage(
        prompt_tokens=a.prompt_tokens + b.prompt_tokens,
        completion_tokens=a.completion_tokens + b.completion_tokens,
        cost_usd=a.cost_usd + b.cost_usd,
        cached=a.cached and b.cached,
    )
