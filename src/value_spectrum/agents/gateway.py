"""The model gateway: any model behind one :class:`~value_spectrum.agents.chat.ChatModel`.

Two transports, one behaviour. An OpenAI-compatible endpoint (``openai/...``,
``hosted_vllm/...``, or a bare name with ``api_base``) is called directly through the official
``openai`` client (:mod:`value_spectrum.agents.direct`: its retries, timeouts and connection
pool, our rate limits where asked), which costs about a quarter of litellm's CPU per call. Every
other provider goes through litellm's ``Router``. Whichever answers, the request sent, the cache
key, the usage and the recorded outcome are the same; ``direct=False`` forces the Router.

On the Router path, retries with backoff (429, 5xx, timeouts, malformed bodies), timeouts, fallbacks and per-model
rate limits are litellm's ``Router``'s, configured here, not a loop of ours:

* ``num_retries`` retries of server errors and timeouts; ``rate_limit_retries`` retries of 429s
  (litellm's ``RetryPolicy``), with the Router's exponential backoff and jitter;
* ``timeout_s`` per attempt;
* ``rpm`` / ``tpm`` set on the deployment; with either set the Router routes by usage and a
  request over the limit waits for the next minute's window (``usage-based-routing-v2`` with the
  Router's scheduler); each wait uses one of ``rate_limit_retries``, so keep that at least
  ``concurrency / rpm``;
* ``max_parallel_requests``: the most requests in flight to the deployment at once;
* ``fallbacks``: other model strings tried in order when the first keeps failing.

Keys are read from the environment by litellm (``OPENAI_API_KEY``, ...) or from the variable
named by ``api_key_env``; a key is never logged, stored, or put in :meth:`Gateway.describe`.
Deterministic requests (temperature 0) are answered from the on-disk
:class:`~value_spectrum.agents.cache.ResponseCache` when they were asked before.

A model served from ``api_base`` that litellm's cost map does not know (a local vLLM,
llama.cpp or Ollama model, the test server) is declared free on its deployment (every per-token
rate 0). Its calls cost 0 either way, but without a price litellm runs its zero-cost diagnostic,
a scan of the pricing entry, twice per call: about a third of litellm's CPU time per call
(``benchmarks/bench_gateway.py``). A reply from another model than the one asked for (a proxy
serving a priced model under an alias) is still priced by the model that answered.

litellm is imported on first use, never at import of this module.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
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
from value_spectrum.agents.formats import ResponseFormat
from value_spectrum.records import Usage

logger = logging.getLogger(__name__)

LOCAL_KEY = "not-needed"
"""Placeholder key sent to a keyless OpenAI-compatible server (the OpenAI client insists on one)."""

FREE_PRICING: dict[str, float] = {
    "input_cost_per_token": 0.0,
    "output_cost_per_token": 0.0,
    "cache_read_input_token_cost": 0.0,
    "cache_creation_input_token_cost": 0.0,
}
"""Deployment prices of an unpriced self-hosted model (see the module docstring)."""


_served: dict[str, bool] = {}


def _served_priced(model: str) -> bool:
    """Whether litellm prices ``model`` (a reply's model name; memoized per name)."""
    known = _served.get(model)
    if known is None:
        known = _served[model] = not _unpriced(model)
    return known


def _unpriced(model: str) -> bool:
    """Whether litellm's cost map has no positive rate for ``model`` (no entry, or only zeros:
    the entry an earlier Router registered from :data:`FREE_PRICING` counts as unpriced)."""
    import litellm

    try:
        info = litellm.get_model_info(model=model)
    except Exception:  # litellm raises a plain Exception subclass for unmapped models
        return True
    for key, value in dict(info).items():
        if "cost" not in key and "pricing" not in key:
            continue
        if isinstance(value, dict | list | tuple) and value:
            return False  # tiered or nested pricing: priced
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return False
    return True


def _redact(text: str, secrets: Sequence[str]) -> str:
    for s in secrets:
        if s and len(s) >= 6:
            text = text.replace(s, "***")
    return re.sub(r"\b(sk-[A-Za-z0-9_\-]{6})[A-Za-z0-9_\-]+", r"\1***", text)


KEYLESS_PREFIXES = ("ollama/", "ollama_chat/")
"""Providers that need no key (litellm reaches a local Ollama unless OLLAMA_API_BASE says
otherwise)."""


def credentials_problem(model: str, api_base: str | None = None, api_key_env: str | None = None) -> str | None:
    """One line saying how to reach ``model`` when its provider's key is missing, else None.

    A request without credentials fails inside the provider client, which litellm reports as a
    server error and retries; checking first turns minutes of retries into one clear line.
    """
    if api_base or api_key_env or model.startswith(KEYLESS_PREFIXES):
        return None
    if model.startswith("openai/"):  # the direct path: the openai client's own variables
        if os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"):
            return None
        return (
            f"no credentials for {model}: set OPENAI_API_KEY, or point --api-base at an "
            "OpenAI-compatible server (e.g. --model openai/NAME --api-base http://127.0.0.1:8000/v1)"
        )
    try:
        import litellm

        env = litellm.validate_environment(model=model)
    except Exception as exc:  # an unknown provider prefix, for instance
        return f"cannot use model {model!r} ({exc}); use a litellm model string, or --api-base URL"
    missing = env.get("missing_keys") or []
    if env.get("keys_in_environment") or not missing:
        return None
    return (
        f"no credentials for {model}: set {' or '.join(missing)}, or point --api-base at an "
        "OpenAI-compatible server (e.g. --model openai/NAME --api-base http://127.0.0.1:8000/v1)"
    )


class Gateway:
    """A litellm Router around one model string (plus fallbacks).

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
        self._router: Any = None
        self._free: set[str] = set()  # deployments declared free (FREE_PRICING)
        self.cache: ResponseCache | None = None
        if cache:
            if cache_dir is None:
                from value_spectrum.retrieval.cache import cache_subdir

                cache_dir = cache_subdir("responses")
            self.cache = ResponseCache(cache_dir)

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
            "cache": str(self.cache.path) if self.cache else None,
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
            import litellm

            try:
                if litellm.get_model_info(model=self.name) is None:
                    return None
            except Exception:  # unknown models: try the schema, degrade on a rejection
                return None
            try:
                self._schema_support = bool(litellm.supports_response_schema(model=self.name))
            except Exception:
                return None
        return self._schema_support

    def supports_schema(self) -> bool:
        """Whether a JSON-schema ``response_format`` is worth passing in (the gateway sends it in
        the mode of :meth:`format_mode`); False only in text mode."""
        return self.format_mode() != "text"

    def _deployment(self, name: str) -> dict[str, Any]:
        params: dict[str, Any] = {"model": name}
        if self.api_base is not None:
            params["api_base"] = self.api_base
        if self._api_key is not None:
            params["api_key"] = self._api_key
        if self.rpm is not None:
            params["rpm"] = self.rpm
        if self.tpm is not None:
            params["tpm"] = self.tpm
        if self.max_parallel_requests is not None:
            params["max_parallel_requests"] = self.max_parallel_requests
        if self.api_base is not None and _unpriced(name):
            logger.info("%s is not in litellm's cost map; its calls are recorded at cost 0", name)
            params.update(FREE_PRICING)
            self._free.add(name)
        return {"model_name": name, "litellm_params": params}

    def _check_credentials(self) -> None:
        """Raise :class:`ModelError` at once when the provider's key is missing (checked once)."""
        if self._credentials is None:
            self._credentials = credentials_problem(self.name, self.api_base, self.api_key_env) or ""
        if self._credentials:
            raise ModelError(self._credentials)

    @property
    def router(self) -> Any:
        """The litellm Router, built on first use."""
        if self._router is None:
            from litellm import Router  # type: ignore[attr-defined]
            from litellm.types.router import RetryPolicy

            # decided before the Router registers its deployments in litellm's model map
            self.format_mode()
            names = [self.name, *[f for f in self.fallbacks if f != self.name]]
            options: dict[str, Any] = {
                "model_list": [self._deployment(n) for n in names],
                "num_retries": self.num_retries,
                "timeout": self.timeout_s,
                "retry_policy": RetryPolicy(
                    RateLimitErrorRetries=self.rate_limit_retries,
                    TimeoutErrorRetries=self.num_retries,
                    InternalServerErrorRetries=self.num_retries,
                    BadRequestErrorRetries=0,
                    AuthenticationErrorRetries=0,
                    ContentPolicyViolationErrorRetries=0,
                ),
            }
            if len(names) > 1:
                options["fallbacks"] = [{self.name: names[1:]}]
            if self.rpm is not None or self.tpm is not None:
                # usage-based routing through the Router's scheduler: a request over the limit
                # sleeps until the next minute's window (one rate-limit retry per window)
                options["routing_strategy"] = "usage-based-routing-v2"
                options["default_priority"] = 0
            self._router = Router(**options)
        return self._router

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
        if isinstance(exc, ModelError):
            return exc
        msg = " ".join(_redact(f"{type(exc).__name__}: {exc}", [self._api_key or ""]).split())[:1000]
        names = {c.__name__ for c in type(exc).__mro__}
        code = str(getattr(exc, "code", "") or "")
        err = ModelRefusal(msg) if "ContentPolicyViolationError" in names or "content_filter" in code or "content_policy" in code else ModelError(msg)
        status = getattr(exc, "status_code", None)
        err.status = status if isinstance(status, int) else None
        return err

    def _priced(self, response: ChatResponse, raw: Any) -> ChatResponse:
        """``response`` priced by the model that answered, when a deployment declared free was
        answered by a model litellm prices (a proxy behind ``api_base`` serving, say,
        ``gpt-4o-mini`` under another name): litellm would have priced that by the reply's
        model had the deployment not been declared free."""
        if response.usage.cost_usd or not self._free or response.usage.cached:
            return response
        served = response.model
        if not served or any(served == n or n.endswith("/" + served) for n in self._free):
            return response  # the self-hosted model itself: free
        if not _served_priced(served):
            return response
        try:
            import litellm

            cost = float(litellm.completion_cost(completion_response=raw, model=served) or 0.0)
        except Exception:  # unpriceable after all: free, as before
            return response
        if not cost > 0:
            return response
        return dataclasses.replace(response, usage=response.usage.model_copy(update={"cost_usd": cost}))

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
            if retries is not None:
                kwargs["num_retries"] = retries
            try:
                raw = await self.router.acompletion(model=self.name, **kwargs)
            except Exception as exc:  # every provider failure becomes one error type
                raise self._error(exc) from None
            return self._priced(_to_response(raw, self.name), raw)
        kwargs.pop("drop_params", None)
        names = [self.name, *[f for f in self.fallbacks if f != self.name]]
        for i, name in enumerate(names):
            try:
                return await self.direct_client.complete(name, kwargs, retries=retries)  # type: ignore[no-any-return]
            except Exception as exc:
                err = self._error(exc)
                if i + 1 == len(names) or isinstance(err, ModelRefusal) or (err.status is not None and err.status < 429):
                    raise err from None
                logger.info("%s failed (%s); falling back to %s", name, err, names[i + 1])
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
        async with self._lock():
            if self.modality_problem and formats.has_images(request):
                raise ModalityMismatch(self.modality_problem)
            again = self._shape(request)
            if again != sent:  # another call found the mode that works meanwhile
                return again, await self._send(again)
            if sent.response_format is not None and self.response_format == "auto":
                for mode in formats.lower_modes(self.format_mode()):
                    trial = dataclasses.replace(request, response_format=formats.shaped(request.response_format, mode))
                    try:
                        response = await self._send(trial, retries=0)
                    except ModelError:
                        continue
                    logger.warning("%s rejected response_format %s; using %s for the rest of the run",
                                   self.name, self.format_mode(), mode)
                    self._mode = mode
                    return trial, response
            if formats.has_images(request):
                try:
                    await self._send(formats.without_images(request), retries=0)
                except ModelError:
                    raise first from None
                self.modality_problem = formats.modality_line(self.name, self.api_base or "the provider", str(first))
                logger.info("%s", self.modality_problem)
                raise ModalityMismatch(self.modality_problem) from None
        raise first

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
            hit = self.cache.get(self.name, self.api_base, request, key=key)
            if hit is not None:
                return hit
        self._check_credentials()
        sent, response = await self._answer(request)
        if key is not None and self.cache is not None and (response.text.strip() or response.tool_calls):
            if sent != shaped:  # answered in a lower response-format mode
                key = request_key(self.name, self.api_base, sent)
            self.cache.put(self.name, self.api_base, sent, response, key=key)
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
        import litellm

        chunks: list[Any] = []
        try:
            stream = await self.router.acompletion(
                model=self.name, stream=True, stream_options={"include_usage": True}, **kwargs
            )
            async for chunk in stream:
                chunks.append(chunk)
                if chunk.choices and chunk.choices[0].delta and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content
        except Exception as exc:
            raise self._error(exc) from None
        try:
            built = litellm.stream_chunk_builder(chunks, messages=kwargs["messages"])
        except Exception as exc:  # the text was already delivered; only the totals are lost
            logger.info("stream of %s: could not assemble usage: %s", self.name, exc)
            built = None
        if built is not None:
            full = self._priced(_to_response(built, self.name), built)
            for call in full.tool_calls:
                yield call
            yield full.usage
        else:
            yield Usage()


def _cost(raw: Any) -> float:
    hidden = getattr(raw, "_hidden_params", None) or {}
    cost = hidden.get("response_cost")
    if cost is None:
        try:
            import litellm

            cost = litellm.completion_cost(completion_response=raw)
        except Exception:  # unpriced models (local servers) cost 0
            cost = 0.0
    try:
        return max(0.0, float(cost or 0.0))
    except (TypeError, ValueError):
        return 0.0


def _to_response(raw: Any, fallback_name: str) -> ChatResponse:
    """A litellm ``ModelResponse`` as a :class:`ChatResponse`."""
    choice = raw.choices[0] if getattr(raw, "choices", None) else None
    message = getattr(choice, "message", None)
    text = getattr(message, "content", None) or ""
    calls = []
    for i, c in enumerate(getattr(message, "tool_calls", None) or []):
        fn = getattr(c, "function", None)
        calls.append(
            ToolCall(
                id=str(getattr(c, "id", None) or f"call_{i}"),
                name=str(getattr(fn, "name", "") or ""),
                arguments=str(getattr(fn, "arguments", "") or ""),
            )
        )
    u = getattr(raw, "usage", None)
    usage = Usage(
        prompt_tokens=int(getattr(u, "prompt_tokens", 0) or 0),
        completion_tokens=int(getattr(u, "completion_tokens", 0) or 0),
        cost_usd=_cost(raw),
    )
    return ChatResponse(
        text=str(text),
        tool_calls=tuple(calls),
        usage=usage,
        finish_reason=str(getattr(choice, "finish_reason", "") or ""),
        model=str(getattr(raw, "model", None) or fallback_name),
    )
