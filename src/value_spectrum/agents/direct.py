"""The direct path to OpenAI-compatible endpoints: the official ``openai.AsyncOpenAI`` client.

A model string ``openai/NAME`` or ``hosted_vllm/NAME`` (or a bare ``NAME`` with an
``api_base``) speaks the OpenAI chat-completions protocol, so the gateway sends it straight
through the ``openai`` client instead of litellm's Router: the client's own retries
(429, 408, 409, 5xx, timeouts, connection errors, with exponential backoff honouring
``Retry-After``), per-attempt timeout and connection pool. litellm's Router costs about 12 ms of
CPU per call on top of that (``benchmarks/bench_gateway.py``).

Added here, and only where asked:

* ``rpm`` / ``tpm`` / ``max_parallel_requests`` (:class:`Limits`): a request over a
  per-minute limit waits for the window to free up; each wait uses one of
  ``rate_limit_retries`` (as on the Router path), and past them the call fails;
* ``rate_limit_retries`` beyond ``num_retries``: a 429 that outlasts the client's own retries is
  asked again, ``num_retries + 1`` attempts per round;
* a malformed (non-JSON) reply body is asked again up to ``num_retries`` times (the client
  does not retry a 200 it cannot parse).

The reply comes back as the same :class:`~value_spectrum.agents.chat.ChatResponse` the litellm
path builds, priced by litellm's model map (:mod:`value_spectrum.agents.pricing`). One client
per event loop (its connection pool belongs to the loop that opened it). ``openai`` is imported
on first use.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import os
import random
import time
from collections.abc import AsyncIterator
from typing import Any

from value_spectrum.agents import pricing
from value_spectrum.agents.chat import ChatResponse, ModelError, ToolCall
from value_spectrum.records import Usage

logger = logging.getLogger(__name__)

COMPATIBLE_PREFIXES = ("openai/", "hosted_vllm/")
"""Model-string prefixes that name an OpenAI-compatible endpoint."""

MAX_BACKOFF_S: float | None = None
"""Upper bound on every wait of this module (rate-limit windows, extra retry rounds); None: no
bound. :func:`~value_spectrum.agents.testing.fast_retries` sets it for tests."""


def is_compatible(model: str, api_base: str | None) -> bool:
    """Whether ``model`` (with ``api_base``) is an OpenAI-compatible endpoint the direct path
    can call: ``openai/...``, ``hosted_vllm/...`` (with an api base, given or in
    ``HOSTED_VLLM_API_BASE``), or a name without provider prefix served from ``api_base``."""
    if model.startswith("openai/"):
        return True
    if model.startswith("hosted_vllm/"):
        return bool(api_base or os.environ.get("HOSTED_VLLM_API_BASE"))
    return api_base is not None and "/" not in model


def wire_name(model: str) -> str:
    """The model name the endpoint is asked for (the provider prefix removed)."""
    for prefix in COMPATIBLE_PREFIXES:
        if model.startswith(prefix):
            return model[len(prefix):]
    return model


async def _sleep(seconds: float) -> None:
    bound = MAX_BACKOFF_S
    await asyncio.sleep(seconds if bound is None else min(seconds, bound))


def _backoff(round_no: int) -> float:
    return float(min(0.5 * 2**round_no, 8.0) * (1 - 0.25 * random.random()))


class Limits:
    """Per-minute request and token limits and a cap on requests in flight.

    Windows are sliding 60-second ones shared by every caller in the process. The in-flight cap is
    one semaphore per event loop.
    """

    WINDOW_S = 60.0

    def __init__(self, *, rpm: int | None, tpm: int | None, max_parallel: int | None, waits: int) -> None:
        self.rpm, self.tpm, self.max_parallel, self.waits = rpm, tpm, max_parallel, waits
        self._starts: collections.deque[float] = collections.deque()
        self._tokens: collections.deque[tuple[float, int]] = collections.deque()
        self._sems: dict[int, asyncio.Semaphore] = {}

    @property
    def active(self) -> bool:
        """Whether any limit is set."""
        return self.rpm is not None or self.tpm is not None or self.max_parallel is not None

    def _wait_s(self, now: float) -> float:
        """Seconds until a request may start (0: now)."""
        edge = now - self.WINDOW_S
        while self._starts and self._starts[0] <= edge:
            self._starts.popleft()
        while self._tokens and self._tokens[0][0] <= edge:
            self._tokens.popleft()
        wait = 0.0
        if self.rpm is not None and len(self._starts) >= self.rpm:
            wait = max(wait, self._starts[0] + self.WINDOW_S - now)
        if self.tpm is not None and sum(n for _, n in self._tokens) >= self.tpm:
            wait = max(wait, self._tokens[0][0] + self.WINDOW_S - now)
        return wait

    async def admit(self, model: str) -> None:
        """Wait until the per-minute limits allow one more request (and count it)."""
        if self.rpm is None and self.tpm is None:
            return
        for _ in range(self.waits + 1):
            now = time.monotonic()
            wait = self._wait_s(now)
            if wait <= 0:
                self._starts.append(now)
                return
            logger.info("%s: rate limit reached; waiting %.1fs for the next window", model, wait)
            await _sleep(wait)
        if self._wait_s(time.monotonic()) <= 0:
            self._starts.append(time.monotonic())
            return
        raise ModelError(
            f"RateLimitError: {model}: over the limit of {self.rpm or '-'} requests / {self.tpm or '-'} tokens per "
            f"minute after {self.waits} waits (raise --rate-limit-retries to wait longer)"
        )

    def spent(self, tokens: int) -> None:
        """Count the tokens of a finished request against ``tpm``."""
        if self.tpm is not None and tokens > 0:
            self._tokens.append((time.monotonic(), tokens))

    def slot(self) -> asyncio.Semaphore | None:
        """This event loop's in-flight semaphore (None: unlimited)."""
        if self.max_parallel is None:
            return None
        key = id(asyncio.get_running_loop())
        sem = self._sems.get(key)
        if sem is None:
            sem = self._sems[key] = asyncio.Semaphore(self.max_parallel)
        return sem


class DirectClient:
    """Chat completions through ``openai.AsyncOpenAI`` (one client per event loop).

    Args:
        api_base: the endpoint (None: the client's default, ``OPENAI_BASE_URL`` or OpenAI's).
        api_key: the key (None: the client reads ``OPENAI_API_KEY``).
        timeout_s: per-attempt timeout.
        num_retries: the client's ``max_retries``.
        rate_limit_retries: retries of 429s and rate-limit waits in all.
        rpm, tpm, max_parallel: the :class:`Limits`.
    """

    def __init__(
        self,
        *,
        api_base: str | None,
        api_key: str | None,
        timeout_s: float,
        num_retries: int,
        rate_limit_retries: int,
        rpm: int | None = None,
        tpm: int | None = None,
        max_parallel: int | None = None,
    ) -> None:
        self.api_base = api_base or (os.environ.get("HOSTED_VLLM_API_BASE") or None)
        self._api_key = api_key
        self.timeout_s = timeout_s
        self.num_retries = num_retries
        self.rate_limit_retries = rate_limit_retries
        self.limits = Limits(rpm=rpm, tpm=tpm, max_parallel=max_parallel, waits=rate_limit_retries)
        self._clients: dict[int, Any] = {}

    def client(self) -> Any:
        """The ``AsyncOpenAI`` client of the running event loop."""
        loop = asyncio.get_running_loop()
        key = id(loop)
        found = self._clients.get(key)
        if found is not None and found[0] is loop:
            return found[1]
        from openai import AsyncOpenAI, DefaultAsyncHttpxClient

        api_key = self._api_key
        if api_key is None and self.api_base is not None and not os.environ.get("OPENAI_API_KEY"):
            api_key = "not-needed"
        # our own pool (the client's defaults): the SDK's wrapper would schedule its own close on
        # whichever loop runs when it is collected, failing on a pool of a loop that has ended
        client = AsyncOpenAI(base_url=self.api_base, api_key=api_key, timeout=self.timeout_s, max_retries=self.num_retries,
                             http_client=DefaultAsyncHttpxClient())
        self._clients = {k: v for k, v in self._clients.items() if not v[0].is_closed()}
        self._clients[key] = (loop, client)
        return client

    async def aclose(self) -> None:
        """Close the running loop's client (its connections)."""
        found = self._clients.pop(id(asyncio.get_running_loop()), None)
        if found is not None:
            await found[1].close()

    async def _create(self, model: str, kwargs: dict[str, Any], retries: int | None = None) -> Any:
        """One ``chat.completions.create`` with the limits and the extra retries around it
        (``retries``: the client's retries of this call, None: ``num_retries``)."""
        import openai

        def client() -> Any:
            c = self.client()
            return c if retries is None else c.with_options(max_retries=retries)

        tries_429 = 0
        malformed = 0
        round_no = 0
        while True:
            await self.limits.admit(model)
            sem = self.limits.slot()
            try:
                if sem is None:
                    return await client().chat.completions.create(model=wire_name(model), **kwargs)
                async with sem:
                    return await client().chat.completions.create(model=wire_name(model), **kwargs)
            except openai.RateLimitError:
                tries_429 += self.num_retries + 1  # the client retried num_retries times already
                if retries is not None or tries_429 > self.rate_limit_retries:
                    raise
            except (json.JSONDecodeError, openai.APIResponseValidationError):
                malformed += 1
                if malformed > (self.num_retries if retries is None else retries):
                    raise
                logger.info("%s: malformed reply body; asking again", model)
            await _sleep(_backoff(round_no))
            round_no += 1

    async def complete(self, model: str, kwargs: dict[str, Any], *, retries: int | None = None) -> ChatResponse:
        """One reply. Raises the ``openai`` client's exceptions (the gateway maps them)."""
        raw = await self._create(model, kwargs, retries)
        response = to_response(raw, model)
        self.limits.spent(response.usage.prompt_tokens + response.usage.completion_tokens)
        return response

    async def stream(self, model: str, kwargs: dict[str, Any]) -> AsyncIterator[str | ToolCall | Usage]:
        """Text deltas, then the assembled tool calls, then one :class:`Usage`."""
        stream = await self._create(model, {**kwargs, "stream": True, "stream_options": {"include_usage": True}})
        calls: dict[int, dict[str, str]] = {}
        usage: Any = None
        served = model
        async for chunk in stream:
            served = getattr(chunk, "model", None) or served
            if getattr(chunk, "usage", None) is not None:
                usage = chunk.usage
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta
            if delta is None:
                continue
            if delta.content:
                yield delta.content
            for tc in delta.tool_calls or []:
                slot = calls.setdefault(int(tc.index or 0), {"id": "", "name": "", "arguments": ""})
                if tc.id:
                    slot["id"] = tc.id
                fn = tc.function
                if fn is not None:
                    slot["name"] += fn.name or ""
                    slot["arguments"] += fn.arguments or ""
        for i, c in sorted(calls.items()):
            yield ToolCall(id=c["id"] or f"call_{i}", name=c["name"], arguments=c["arguments"])
        prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion = int(getattr(usage, "completion_tokens", 0) or 0)
        self.limits.spent(prompt + completion)
        yield Usage(prompt_tokens=prompt, completion_tokens=completion, cost_usd=reply_cost(model, served, prompt, completion))


def reply_cost(model: str, served: str | None, prompt: int, completion: int) -> float:
    """Dollars of one reply: by the model asked for when litellm prices it, else by the model
    that answered (a proxy serving a priced model under an alias), else 0."""
    for name in (model, served):
        if name and pricing.priced(name):
            return pricing.cost_usd(name, prompt, completion)
    return 0.0


def to_response(raw: Any, model: str) -> ChatResponse:
    """An ``openai`` ``ChatCompletion`` as a :class:`ChatResponse`."""
    choice = raw.choices[0] if getattr(raw, "choices", None) else None
    message = getattr(choice, "message", None)
    calls = tuple(
        ToolCall(id=str(c.id or f"call_{i}"), name=str(c.function.name or ""), arguments=str(c.function.arguments or ""))
        for i, c in enumerate(getattr(message, "tool_calls", None) or [])
        if getattr(c, "function", None) is not None
    )
    u = getattr(raw, "usage", None)
    prompt = int(getattr(u, "prompt_tokens", 0) or 0)
    completion = int(getattr(u, "completion_tokens", 0) or 0)
    served = str(getattr(raw, "model", None) or model)
    return ChatResponse(
        text=str(getattr(message, "content", None) or ""),
        tool_calls=calls,
        usage=Usage(prompt_tokens=prompt, completion_tokens=completion, cost_usd=reply_cost(model, served, prompt, completion)),
        finish_reason=str(getattr(choice, "finish_reason", "") or ""),
        model=served,
    )
