"""The model gateway: any model behind one :class:`~value_spectrum.agents.chat.ChatModel`.

Two transports, one behaviour. An OpenAI-compatible endpoint (``openai/...``,
``hosted_vllm/...``, or a bare name with ``api_base``) is called directly through the official
``openai`` client (:mod:`value_spectrum.agents.direct`: its retries, timeouts and connection
pool, our rate limits where asked), which costs about a quarter of litellm's CPU per call. Every
other provider goes through litellm's ``Router``. Whichever answers, the request sent, the cache
key, the usage and the recorded outcome are the same; ``direct=False`` forces the Router.

On the Router path (:mod:`value_spectrum.agents.router_transport`), retries, timeouts, fallbacks and
per-model rate limits are litellm's ``Router``'s, configured there; unpriced self-hosted models
are declared free on their deployment.

Keys are read from the environment by litellm (``OPENAI_API_KEY``, ...) or from the variable
named by ``api_key_env``; a key is never logged, stored, or put in :meth:`Gateway.describe`.
Deterministic requests (temperature 0) are answered from the on-disk
:class:`~value_spectrum.agents.cache.ResponseCache` when they were asked before.

litellm is imported on first use, never at import of this module.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from value_spectrum.agents import formats, shared_limits
from value_spectrum.agents.cache import ResponseCache, cacheable, request_key
from value_spectrum.agents.chat import (
    ChatRequest,
    ChatResponse,
    ModalityMismatch,
    ModelError,
    ModelRefusal,
    ToolCall,
)
from value_spectrum.agents.credentials import LOCAL_KEY, credentials_problem, redact
from value_spectrum.agents.formats import ResponseFormat
from value_spectrum.agents.router_transport import (
    FREE_PRICING,
    RouterTransport,
    known_schema_support,
)
from value_spectrum.records import Usage

logger = logging.getLogger(__name__)

__all__ = ["FREE_PRICING", "LOCAL_KEY", "Gateway", "credentials_problem"]

class Gateway:
    """One model string (plus fallbacks) behind the direct or the litellm transport.

    Args:
        model: a litellm model string: ``openai/gpt-4o``, ``anthropic/claude-...``,
            ``gemini/...``, ``ollama/llava``, or ``openai/<name>`` with ``api_base``.
        api_base: an OpenAI-compatible endpoint (vLLM, llama.cpp, Ollama, the test server).
        api_key_env: name of the environment variable holding the key (read once, here).
        timeout_s: per-attempt timeout.
        num_retries: retries of 5xx, timeouts and connection errors.
        rate_limit_retries: retries of 429s (rate limits need more patience than outages).
        rpm: requests per minute allowed to this model (None: unlimited).
        tpm: tokens per minute allowed (None: unlimited).
        max_parallel_requests: requests in flight at once (None: unlimited).
        fallbacks: model strings tried, in order, after the primary fails (same api_base).
        cache: answer deterministic requests from the response cache.
        cache_dir: where the cache lives (default: the user cache's ``responses`` folder).
        cache_store: the cache's store instead: a folder, ``sqlite:///FILE`` or
            ``postgresql://USER@HOST/DB`` shared by every worker and run
            (:func:`~value_spectrum.agents.cache.open_store`).
        structured: force (True) or forbid (False) JSON-schema ``response_format``; None asks
            ``litellm.supports_response_schema``.
        response_format: auto | json_schema | json_object | text: the structured-output mode
            (auto: JSON schema unless litellm's map says the model has none, then down
            :data:`~value_spectrum.agents.formats.MODES` on a rejection, remembered for the run).
        direct: call an OpenAI-compatible endpoint through the ``openai`` client (None: when
            the model string names one; False: always litellm's Router).
        params: extra completion parameters (e.g. ``{"top_p": 1}``).
    """

    def __init__(
        self,
        model: str,
        *,
        api_base: str | None = None,
        api_key_env: str | None = None,
        timeout_s: float = 120.0,
        num_retries: int = 3,
        rate_limit_retries: int = 10,
        rpm: int | None = None,
        tpm: int | None = None,
        max_parallel_requests: int | None = None,
        fallbacks: Sequence[str] = (),
        cache: bool = True,
        cache_dir: str | Path | None = None,
        cache_store: str | None = None,
        structured: bool | None = None,
        response_format: ResponseFormat = "auto",
        direct: bool | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        if not model or not model.strip():
            raise ValueError("model string must not be empty")
        self.name = model
        self.api_base = api_base
        self.api_key_env = api_key_env
        self._credentials: str | None = None
        self._api_key: str | None = None
        if api_key_env:
            self._api_key = os.environ.get(api_key_env) or None
            if self._api_key is None:
                raise ValueError(f"api_key_env {api_key_env!r}: environment variable is not set")
        elif api_base is not None:
            self._api_key = LOCAL_KEY
        self.timeout_s = float(timeout_s)
        self.num_retries = int(num_retries)
        self.rate_limit_retries = int(rate_limit_retries)
        self.rpm, self.tpm = rpm, tpm
        self.max_parallel_requests = max_parallel_requests
        self.fallbacks = tuple(fallbacks)
        self.params = dict(params or {})
        self._structured = structured
        if response_format not in ("auto", *formats.MODES):
            raise ValueError(f"response_format must be auto, {', '.join(formats.MODES)} (got {response_format!r})")
        self.response_format = response_format
        self._schema_support: bool | None = None
        self._mode: str | None = None  # the structured-output mode in use (formats.MODES)
        self.modality_problem: str | None = None  # set once the endpoint rejected images
        self._locks: dict[int, Any] = {}
        names = [model, *fallbacks]
        from value_spectrum.agents.direct import is_compatible

        compatible = all(is_compatible(n, api_base) for n in names)
        self.direct = compatible if direct is None else bool(direct and compatible)
        self._direct: Any = None
        self._litellm: RouterTransport | None = None
        self.cache: ResponseCache | None = None
        if cache:
            location = cache_store if cache_store is not None else cache_dir
            if location is None:
                from value_spectrum.retrieval.cache import cache_subdir

                location = cache_subdir("responses")
            self.cache = ResponseCache(location)

    # ---- configuration ------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """Settings for the manifest; the key's variable name at most, never the key."""
        return {
            "model": self.name,
            "api_base": self.api_base,
            "api_key_env": self.api_key_env,
            "timeout_s": self.timeout_s,
            "num_retries": self.num_retries,
            "rate_limit_retries": self.rate_limit_retries,
            "rpm": self.rpm,
            "tpm": self.tpm,
            "max_parallel_requests": self.max_parallel_requests,
            "fallbacks": list(self.fallbacks),
            "cache": self.cache.where if self.cache else None,
            "structured": self.supports_schema(),
            "transport": "openai" if self.direct else "litellm",
            "response_format": self.format_mode(),
        }

    def format_mode(self) -> str:
        """The structured-output mode requests are sent in now (json_schema | json_object | text):
        the ``response_format`` option, else the last that the endpoint accepted."""
        if self._mode is None:
            if self.response_format != "auto":
                self._mode = self.response_format
            elif self._structured is not None:
                self._mode = "json_schema" if self._structured else "text"
            else:
                self._mode = "json_schema" if self._known_schema_support() is not False else "json_object"
        return self._mode

    def _known_schema_support(self) -> bool | None:
        """What the provider's model map says about JSON-schema support (None: unknown model)."""
        if self._schema_support is None:
            if self.direct:
                from value_spectrum.agents import pricing

                known = pricing.supports(self.name, "response_schema")
                return known
            self._schema_support = known_schema_support(self.name)
        return self._schema_support

    def supports_schema(self) -> bool:
        """Whether a JSON-schema ``response_format`` is worth passing in (the gateway sends it in
        the mode of :meth:`format_mode`); False only in text mode."""
        return self.format_mode() != "text"

    @property
    def litellm_transport(self) -> RouterTransport:
        """The :class:`~value_spectrum.agents.router_transport.RouterTransport`, built on first use."""
        if self._litellm is None:
            self.format_mode()  # decided before the Router registers its deployments in litellm's map
            names = [self.name, *[f for f in self.fallbacks if f != self.name]]
            self._litellm = RouterTransport(
                names, api_base=self.api_base, api_key=self._api_key, timeout_s=self.timeout_s,
                num_retries=self.num_retries, rate_limit_retries=self.rate_limit_retries,
                rpm=self.rpm, tpm=self.tpm, max_parallel=self.max_parallel_requests,
            )
        return self._litellm

    def _check_credentials(self) -> None:
        """Raise :class:`ModelError` at once when the provider's key is missing (checked once)."""
        if self._credentials is None:
            self._credentials = credentials_problem(self.name, self.api_base, self.api_key_env) or ""
        if self._credentials:
            raise ModelError(self._credentials)

    @property
    def router(self) -> Any:
        """The litellm Router, built on first use."""
        return self.litellm_transport.router

    def _kwargs(self, request: ChatRequest) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            **self.params,
            "messages": [dict(m) for m in request.messages],
            "temperature": request.temperature,
            "drop_params": True,
        }
        if request.seed is not None:
            kwargs["seed"] = request.seed
        if request.max_tokens is not None:
            kwargs["max_tokens"] = request.max_tokens
        if request.response_format is not None:
            kwargs["response_format"] = request.response_format
        if request.tools:
            kwargs["tools"] = list(request.tools)
        return kwargs

    def _error(self, exc: BaseException) -> ModelError:
        from value_spectrum.agents.direct import Failed

        if isinstance(exc, Failed):
            failed = self._error(exc.error)
            failed.retries = exc.retries
            return failed
        if isinstance(exc, ModelError):
            return exc
        msg = " ".join(redact(f"{type(exc).__name__}: {exc}", [self._api_key or ""]).split())[:1000]
        names = {c.__name__ for c in type(exc).__mro__}
        code = str(getattr(exc, "code", "") or "")
        err = ModelRefusal(msg) if "ContentPolicyViolationError" in names or "content_filter" in code or "content_policy" in code else ModelError(msg)
        status = getattr(exc, "status_code", None)
        err.status = status if isinstance(status, int) else None
        attempted = getattr(exc, "num_retries", None)  # litellm stamps the retries its exhausted loop made
        err.retries = attempted if isinstance(attempted, int) and not isinstance(attempted, bool) else None
        return err

    # ---- calls --------------------------------------------------------------------------------
    @property
    def direct_client(self) -> Any:
        """The :class:`~value_spectrum.agents.direct.DirectClient`, built on first use."""
        if self._direct is None:
            from value_spectrum.agents.direct import DirectClient

            self._direct = DirectClient(
                api_base=self.api_base, api_key=self._api_key, timeout_s=self.timeout_s,
                num_retries=self.num_retries, rate_limit_retries=self.rate_limit_retries,
                rpm=self.rpm, tpm=self.tpm, max_parallel=self.max_parallel_requests,
            )
        return self._direct

    def _shape(self, request: ChatRequest) -> ChatRequest:
        """The request as sent: its response format in the current mode."""
        rf = formats.shaped(request.response_format, self.format_mode())
        return request if rf is request.response_format else dataclasses.replace(request, response_format=rf)

    async def _send(self, request: ChatRequest, *, retries: int | None = None) -> ChatResponse:
        """One reply from the transport, admitted by the run-wide limiter when one is installed
        (:mod:`~value_spectrum.agents.shared_limits`). Raises :class:`ModelError` only."""
        shared = shared_limits.installed()
        if shared is None or (self.rpm is None and self.tpm is None):
            return await self._send_one(request, retries=retries)
        key = shared_limits.limit_key(self.name, self.api_base)
        await shared.admit(key, self.rpm, self.tpm)
        response = await self._send_one(request, retries=retries)
        shared.spent(key, self.tpm, response.usage.prompt_tokens + response.usage.completion_tokens)
        return response

    async def _send_one(self, request: ChatRequest, *, retries: int | None = None) -> ChatResponse:
        """One reply from the transport (fallbacks in order). Raises :class:`ModelError` only."""
        kwargs = self._kwargs(request)
        if not self.direct:
            try:
                return await self.litellm_transport.complete(kwargs, retries=retries)
            except Exception as exc:  # every provider failure becomes one error type
                raise self._error(exc) from None
        kwargs.pop("drop_params", None)
        names = [self.name, *[f for f in self.fallbacks if f != self.name]]
        resent = 0  # requests to the models that failed before (each fallback re-sends)
        for i, name in enumerate(names):
            try:
                response: ChatResponse = await self.direct_client.complete(name, kwargs, retries=retries)
            except Exception as exc:
                err = self._error(exc)
                resent += (err.retries or 0) + 1
                if i + 1 == len(names) or isinstance(err, ModelRefusal) or (err.status is not None and err.status < 429):
                    raise _counted(err, resent - 1) from None
                logger.info("%s failed (%s); falling back to %s", name, err, names[i + 1])
                continue
            return _resent(response, resent) if resent else response
        raise AssertionError("unreachable")

    def _lock(self) -> Any:
        """This event loop's lock for working out what the endpoint accepts (one at a time)."""
        import asyncio

        loop = asyncio.get_running_loop()
        lock = self._locks.get(id(loop))
        if lock is None or lock[0] is not loop:
            lock = self._locks[id(loop)] = (loop, asyncio.Lock())
        return lock[1]

    async def _answer(self, request: ChatRequest) -> tuple[ChatRequest, ChatResponse]:
        """The reply and the request that got it: on a rejection, the response format walked
        down and the images tested (see :mod:`value_spectrum.agents.formats`)."""
        sent = self._shape(request)
        try:
            return sent, await self._send(sent)
        except ModelError as exc:
            if isinstance(exc, ModelRefusal) or not formats.is_rejection(exc):
                raise
            first = exc
        resent = (first.retries or 0) + 1  # every request before the answer is a re-send
        async with self._lock():
            if self.modality_problem and formats.has_images(request):
                raise _counted(ModalityMismatch(self.modality_problem), resent - 1)
            again = self._shape(request)
            if again != sent:  # another call found the mode that works meanwhile
                try:
                    return again, _resent(await self._send(again), resent)
                except ModelError as exc:
                    raise _counted(exc, resent + (exc.retries or 0)) from None
            if sent.response_format is not None and self.response_format == "auto":
                for mode in formats.lower_modes(self.format_mode()):
                    trial = dataclasses.replace(request, response_format=formats.shaped(request.response_format, mode))
                    try:
                        response = await self._send(trial, retries=0)
                    except ModelError as exc:
                        resent += (exc.retries or 0) + 1
                        continue
                    logger.warning("%s rejected response_format %s; using %s for the rest of the run",
                                   self.name, self.format_mode(), mode)
                    self._mode = mode
                    return trial, _resent(response, resent)
            if formats.has_images(request):
                try:
                    probe = await self._send(formats.without_images(request), retries=0)
                except ModelError as exc:
                    raise _counted(first, resent + (exc.retries or 0)) from None
                resent += (probe.usage.retries or 0) + 1
                self.modality_problem = formats.modality_line(self.name, self.api_base or "the provider", str(first))
                logger.info("%s", self.modality_problem)
                raise _counted(ModalityMismatch(self.modality_problem), resent - 1) from None
        raise _counted(first, resent - 1)

    async def aclose(self) -> None:
        """Close the direct path's connections of the running event loop (a later call opens
        new ones)."""
        if self._direct is not None:
            await self._direct.aclose()

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """One reply through the transport (or the cache). Raises :class:`ModelError` only."""
        if self.modality_problem and formats.has_images(request):
            raise ModalityMismatch(self.modality_problem)
        key = None
        shaped = self._shape(request)
        if self.cache is not None and cacheable(request):
            key = request_key(self.name, self.api_base, shaped)  # once for the lookup and the store
            hit = await self.cache.aget(self.name, self.api_base, request, key=key)
            if hit is not None:
                return hit
        self._check_credentials()
        sent, response = await self._answer(request)
        if key is not None and self.cache is not None and (response.text.strip() or response.tool_calls):
            if sent != shaped:  # answered in a lower response-format mode
                key = request_key(self.name, self.api_base, sent)
            await self.cache.aput(self.name, self.api_base, sent, response, key=key)
        return response

    async def stream(self, request: ChatRequest) -> AsyncIterator[str | ToolCall | Usage]:
        """Text deltas as they come, then any tool calls, then one :class:`Usage`.

        Not cached (a chat is interactive). Raises :class:`ModelError` only.
        """
        self._check_credentials()
        request = self._shape(request)
        kwargs = self._kwargs(request)
        if self.direct:
            kwargs.pop("drop_params", None)
            try:
                async for item in self.direct_client.stream(self.name, kwargs):
                    yield item
            except Exception as exc:
                raise self._error(exc) from None
            return
        try:
            async for item in self.litellm_transport.stream(kwargs):
                yield item
        except Exception as exc:
            raise self._error(exc) from None


def _resent(response: ChatResponse, more: int) -> ChatResponse:
    """``response`` with ``more`` requests re-sent before it counted in its usage."""
    retries = (response.usage.retries or 0) + more
    return dataclasses.replace(response, usage=response.usage.model_copy(update={"retries": retries}))


def _counted(err: ModelError, retries: int) -> ModelError:
    """``err`` carrying ``retries`` requests re-sent before it."""
    err.retries = retries
    return err
