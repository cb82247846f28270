"""A scripted fake model, shipped for our tests and for users' own (like inspect's ``mockllm``).

:class:`ScriptedModel` plays a list of replies in order. Each entry is

* a string: the reply text;
* a :class:`~value_spectrum.agents.chat.ChatResponse` (e.g. from :func:`tool_call`);
* a callable ``request -> str | ChatResponse`` (sync or async), to answer from the request;
* an exception (instance or class): raised as the provider error it stands for.

Past the end of the script it raises :class:`ModelError` (or, with ``cycle=True``, starts over).
It records every request, so a test can check what the model was shown.

:class:`ScriptedViewer` is an :class:`~value_spectrum.agents.llm_viewer.LLMViewer` over a
scripted model: replies go through the same parsing, repair and outcome path as a real model's.

Example:
    >>> import asyncio
    >>> from value_spectrum.records import Observation
    >>> viewer = ScriptedViewer(["I'm not sure.", "No."], strategy="plain")
    >>> reply = asyncio.run(viewer.decide(None, Observation(turn=0, video_id="v", modality="title")))
    >>> reply.outcome.value, len(viewer.model.requests)
    ('skip', 2)
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from value_spectrum.agents.chat import ChatRequest, ChatResponse, ModelError, ToolCall
from value_spectrum.agents.llm_viewer import LLMViewer
from value_spectrum.records import Usage

Reply = str | ChatResponse | BaseException | type[BaseException] | Callable[[ChatRequest], Any]
"""One scripted entry."""


def tool_call(name: str = "search_videos", call_id: str = "call_0", **arguments: Any) -> ChatResponse:
    """A scripted reply that calls a tool, e.g. ``tool_call(query="family dinner")``."""
    return ChatResponse(
        tool_calls=(ToolCall(id=call_id, name=name, arguments=json.dumps(arguments)),),
        finish_reason="tool_calls",
    )


def _words(request: ChatRequest) -> int:
    n = 0
    for m in request.messages:
        content = m.get("content")
        if isinstance(content, str):
            n += len(content.split())
        elif isinstance(content, list):
            n += sum(len(str(p.get("text", "")).split()) for p in content if isinstance(p, dict))
    return n


class ScriptedModel:
    """Plays scripted replies in order; see the module docstring.

    Args:
        replies: the script.
        name: the model string to record.
        cycle: start over at the end instead of raising.
        schema: whether to claim ``response_format`` support (to test both request shapes).
        delay_s: seconds to sleep before each reply (for concurrency tests).
    """

    def __init__(
        self,
        replies: Sequence[Reply],
        *,
        name: str = "scripted",
        cycle: bool = False,
        schema: bool = False,
        delay_s: float = 0.0,
    ) -> None:
        self.replies = list(replies)
        self.name = name
        self.cycle = cycle
        self.schema = schema
        self.delay_s = delay_s
        self.requests: list[ChatRequest] = []
        self._next = 0

    def supports_schema(self) -> bool:
        """As configured."""
        return self.schema

    def describe(self) -> dict[str, Any]:
        """For the manifest."""
        return {"model": self.name, "scripted_replies": len(self.replies), "cycle": self.cycle}

    @property
    def remaining(self) -> int:
        """Replies not yet played (ignoring ``cycle``)."""
        return max(0, len(self.replies) - self._next)

    async def _entry(self, request: ChatRequest) -> ChatResponse:
        self.requests.append(request)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self._next >= len(self.replies):
            if not self.cycle or not self.replies:
                raise ModelError(f"scripted model {self.name!r}: script exhausted after {len(self.replies)} replies")
            self._next = 0
        entry: Any = self.replies[self._next]
        self._next += 1
        if isinstance(entry, BaseException) or (isinstance(entry, type) and issubclass(entry, BaseException)):
            raise entry
        if callable(entry) and not isinstance(entry, ChatResponse):
            entry = entry(request)
            if inspect.isawaitable(entry):
                entry = await entry
        if isinstance(entry, ChatResponse):
            return entry
        if not isinstance(entry, str):
            raise TypeError(f"scripted reply must be str or ChatResponse, got {type(entry).__name__}")
        usage = Usage(prompt_tokens=_words(request), completion_tokens=len(entry.split()))
        return ChatResponse(text=entry, usage=usage, finish_reason="stop", model=self.name)

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """The next scripted reply."""
        return await self._entry(request)

    async def stream(self, request: ChatRequest) -> AsyncIterator[str | ToolCall | Usage]:
        """The next scripted reply, word by word, then its tool calls, then its usage."""
        response = await self._entry(request)
        if response.text:
            words = response.text.split(" ")
            for i, w in enumerate(words):
                yield w if i == 0 else " " + w
        for call in response.tool_calls:
            yield call
        yield response.usage


def scripted_model(replies: Sequence[Reply], **options: Any) -> ScriptedModel:
    """A :class:`ScriptedModel` (a function alias, for symmetry with :func:`make_viewer`)."""
    return ScriptedModel(replies, **options)


class ScriptedViewer(LLMViewer):
    """An :class:`LLMViewer` over a :class:`ScriptedModel`.

    Args:
        replies: the script.
        name: model string to record.
        cycle: start the script over at the end.
        schema: claim structured-output support.
        delay_s: per-reply delay.
        **options: :class:`LLMViewer` options (strategy, modality, history_turns, ...).
    """

    model: ScriptedModel

    def __init__(
        self,
        replies: Sequence[Reply],
        *,
        name: str = "scripted",
        cycle: bool = False,
        schema: bool = False,
        delay_s: float = 0.0,
        **options: Any,
    ) -> None:
        super().__init__(ScriptedModel(replies, name=name, cycle=cycle, schema=schema, delay_s=delay_s), **options)
