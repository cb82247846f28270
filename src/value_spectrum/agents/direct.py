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

Every request re-sent for a call is counted in its ``Usage.retries``: the client's own retries
(``retries_taken`` of the raw response, or the ``x-stainless-retry-count`` it stamps on the last
request of a failed call) plus our 429 rounds and malformed-body re-asks. A call that fails
raises :class:`Failed` carrying that count. Rate-limit waits send nothing and are not counted.

The reply comes back as the same :class:`~value_spectrum.agents.chat.ChatResponse` the litellm
path builds, priced by litellm's model map (:mod:`value_spectrum.agents.pricing`). One client
per event loop (its connection pool belongs to the loop that opened it). ``openai`` is imported
on first use.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
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


class Failed(Exception):
    """A call that got no reply: ``error`` is the ``openai`` client's last exception (the gateway
    maps it), ``retries`` the requests re-sent before giving up."""

    def __init__(self, error: BaseException, retries: int) -> None:
        super().__init__(str(error))
        self.error = error
        self.retries = max(0, retries)


class Malformed(ValueError):
    """A reply body that is not a JSON object, after ``retries_taken`` retries of the client."""

    def __init__(self, message: str, retries_taken: int) -> None:
        super().__init__(message)
        self.retries_taken = retries_taken


def sent_in_round(exc: BaseException) -> int:
    """Requests one round of the client sent before ``exc``: its retries plus the first (the
    ``x-stainless-retry-count`` header the client stamps on every attempt, read from the last
    request; :class:`Malformed` carries its own); 0 when nothing was sent."""
    if isinstance(exc, Malformed):
        return exc.retries_taken + 1
    request = getattr(exc, "request", None)
    if request is None:
        return 0
    try:
        return int(request.headers.get("x-stainless-retry-count") or 0) + 1
    except (TypeError, ValueError, AttributeError):
        return 1


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
        from openai import AsyncOpenAI

        api_key = self._api_key
        if api_key is None and self.api_base is not None and not os.environ.get("OPENAI_API_KEY"):
            api_key = "not-needed"
        # our own pool (the client's defaults): the SDK's wrapper would schedule its own close on
        # whichever loop runs when it is collected, failing on a pool of a loop that has ended
        client = AsyncOpenAI(base_url=self.api_base, api_key=api_key, timeout=self.timeout_s, max_retries=self.num_retries,
                             http_client=_http_client())
        closer = _close_with_loop(client)
        self._clients = {k: v for k, v in self._clients.items() if not v[0].is_closed()}
        self._clients[key] = (loop, client, closer)
        return client

    async def aclose(self) -> None:
        """Close the running loop's client (its connections)."""
        found = self._clients.pop(id(asyncio.get_running_loop()), None)
        if found is not None:
            await found[2].aclose()

    async def _create(self, model: str, kwargs: dict[str, Any], retries: int | None = None) -> tuple[Any, int]:
        """One streamed ``chat.completions.create`` with the limits and the extra retries around
        it (``retries``: the client's retries of this call, None: ``num_retries``), and the
        requests re-sent."""
        client = self.client()
        if retries is not None:
            client = client.with_options(max_retries=retries)

        async def once() -> tuple[Any, int]:
            raw = await client.chat.completions.with_raw_response.create(model=wire_name(model), **kwargs)
            return raw.parse(), int(raw.retries_taken)

        return await self._retrying(model, retries, once)

    async def _post(self, model: str, kwargs: dict[str, Any], retries: int | None = None) -> tuple[dict[str, Any], int]:
        """One chat completion as its JSON body, and how many retries the client took.

        The request body is ``kwargs`` as given (already plain JSON: the SDK's TypedDict
        transform of ``create``, a recursive walk of every message and schema, costs about a
        quarter of a call's CPU and changes nothing here); the reply is read with one
        ``json.loads`` rather than built into SDK models. The client's retries, timeouts and
        errors are those of ``create``: ``post`` is the SDK's own request path.
        """
        from openai._constants import RAW_RESPONSE_HEADER
        from openai.types.chat import ChatCompletion

        body = {"model": wire_name(model), **kwargs}
        options: dict[str, Any] = {"headers": {RAW_RESPONSE_HEADER: "true"}, "security": {"bearer_auth": True}}
        if retries is not None:
            options["max_retries"] = retries
        client = self.client()

        async def once() -> tuple[dict[str, Any], int]:
            raw = await client.post("/chat/completions", cast_to=ChatCompletion, body=body, options=options)
            taken = int(raw.retries_taken)
            try:
                data = json.loads(raw.http_response.content)
            except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
                raise Malformed(f"reply body is not JSON: {exc}", taken) from exc
            if not isinstance(data, dict):
                raise Malformed(f"reply body is not a JSON object: {str(data)[:40]}", taken)
            return data, taken

        return await self._retrying(model, retries, once)

    async def _retrying(self, model: str, retries: int | None, call: Callable[[], Awaitable[tuple[Any, int]]]) -> tuple[Any, int]:
        """``call`` (a reply and the client's retries) with the limits and the extra retries
        around it (see the module docstring): the reply and every request re-sent. Raises
        :class:`Failed`."""
        import openai

        tries_429 = 0
        malformed = 0
        round_no = 0
        resent = 0  # requests of the rounds before
        while True:
            await self.limits.admit(model)
            sem = self.limits.slot()
            try:
                if sem is None:
                    reply, taken = await call()
                else:
                    async with sem:
                        reply, taken = await call()
                return reply, resent + taken
            except openai.RateLimitError as exc:
                resent += sent_in_round(exc)
                tries_429 += self.num_retries + 1  # the client retried num_retries times already
                if retries is not None or tries_429 > self.rate_limit_retries:
                    raise Failed(exc, resent - 1) from exc
            except (Malformed, json.JSONDecodeError, openai.APIResponseValidationError) as exc:
                resent += sent_in_round(exc)
                malformed += 1
                if malformed > (self.num_retries if retries is None else retries):
                    raise Failed(exc, resent - 1) from exc
                logger.info("%s: malformed reply body; asking again", model)
            except Exception as exc:
                raise Failed(exc, resent + sent_in_round(exc) - 1) from exc
            await _sleep(_backoff(round_no))
            round_no += 1

    async def complete(self, model: str, kwargs: dict[str, Any], *, retries: int | None = None) -> ChatResponse:
        """One reply, its usage counting the requests re-sent. Raises :class:`Failed`."""
        data, resent = await self._post(model, kwargs, retries)
        response = to_response(data, model, resent)
        self.limits.spent(response.usage.prompt_tokens + response.usage.completion_tokens)
        return response

    async def stream(self, model: str, kwargs: dict[str, Any]) -> AsyncIterator[str | ToolCall | Usage]:
        """Text deltas, then the assembled tool calls, then one :class:`Usage`."""
        stream, resent = await self._create(model, {**kwargs, "stream": True, "stream_options": {"include_usage": True}})
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
        yield Usage(prompt_tokens=prompt, completion_tokens=completion, cost_usd=reply_cost(model, served, prompt, completion),
                    retries=resent)


def reply_cost(model: str, served: str | None, prompt: int, completion: int) -> float:
    """Dollars of one reply: by the model asked for when litellm prices it, else by the model
    that answered (a proxy serving a priced model under an alias), else 0."""
    for name in (model, served):
        if name and pricing.priced(name):
            return pricing.cost_usd(name, prompt, completion)
    return 0.0


def to_response(data: dict[str, Any], model: str, retries: int = 0) -> ChatResponse:
    """A chat-completion JSON body as a :class:`ChatResponse` (``retries``: requests re-sent to
    get it)."""
    choices = data.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    message = choice.get("message")
    message = message if isinstance(message, dict) else {}
    calls = tuple(
        ToolCall(id=str(c.get("id") or f"call_{i}"), name=str(fn.get("name") or ""), arguments=str(fn.get("arguments") or ""))
        for i, c in enumerate(message.get("tool_calls") or [])
        if isinstance(c, dict) and isinstance(fn := c.get("function"), dict)
    )
    u = data.get("usage")
    u = u if isinstance(u, dict) else {}
    prompt = int(u.get("prompt_tokens") or 0)
    completion = int(u.get("completion_tokens") or 0)
    served = str(data.get("model") or model)
    return ChatResponse(
        text=str(message.get("content") or ""),
        tool_calls=calls,
        usage=Usage(prompt_tokens=prompt, completion_tokens=completion, cost_usd=reply_cost(model, served, prompt, completion),
                    retries=retries),
        finish_reason=str(choice.get("finish_reason") or ""),
        model=served,
    )


def _http_client() -> Any:
    """The SDK's aiohttp transport where aiohttp is installed (``openai``'s documented choice
    "for improved concurrency performance": about half the CPU per call of its httpx pool at
    32 requests in flight, ``benchmarks/bench_gateway.py``), else its httpx one."""
    from openai import DefaultAioHttpClient, DefaultAsyncHttpxClient

    try:
        return DefaultAioHttpClient()
    except RuntimeError:  # aiohttp missing: "install the package with the aiohttp extra"
        return DefaultAsyncHttpxClient()


async def _closing(client: Any) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        await client.close()


def _close_with_loop(client: Any) -> AsyncGenerator[None, None]:
    """An async generator, started, whose ``finally`` closes ``client``.

    ``asyncio.run`` (and ``loop.shutdown_asyncgens``) closes every async generator still open
    when the loop ends, so the client's connections are closed on the loop that opened them
    however the caller's code ends; an aiohttp session left open would warn at exit. Keep the
    generator referenced (the loop holds it weakly); ``aclose()`` closes it sooner."""
    gen = _closing(client)
    step: Any = gen.__anext__()  # registers it with the running loop's async-generator hooks
    with contextlib.suppress(StopIteration):
        step.send(None)  # runs it to its ``yield`` (nothing before it awaits)
    return gen
