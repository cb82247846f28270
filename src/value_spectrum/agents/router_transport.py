"""The litellm transport: every provider that does not speak the OpenAI protocol directly.

Retries with backoff (429, 5xx, timeouts, malformed bodies), timeouts, fallbacks and per-model
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

The requests the Router re-sent for a reply are read from what litellm reports
(:func:`router_retries`) into ``Usage.retries``; a failed call's from the retries litellm stamps
on its exception.

A model served from ``api_base`` that litellm's cost map does not know (a local vLLM,
llama.cpp or Ollama model, the test server) is declared free on its deployment (every per-token
rate 0, :data:`FREE_PRICING`). Its calls cost 0 either way, but without a price litellm runs its
zero-cost diagnostic, a scan of the pricing entry, twice per call: about a third of litellm's CPU
time per call (``benchmarks/bench_gateway.py``). A reply from another model than the one asked
for (a proxy serving a priced model under an alias) is still priced by the model that answered.

litellm is imported on first use, never at import of this module.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from value_spectrum.agents.chat import ChatResponse, ToolCall
from value_spectrum.records import Usage

logger = logging.getLogger(__name__)

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
        known = _served[model] = not unpriced(model)
    return known


def unpriced(model: str) -> bool:
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


def known_schema_support(model: str) -> bool | None:
    """What litellm's model map says about JSON-schema support of ``model`` (None: unknown)."""
    import litellm

    try:
        if litellm.get_model_info(model=model) is None:
            return None
    except Exception:  # unknown models: try the schema, degrade on a rejection
        return None
    try:
        return bool(litellm.supports_response_schema(model=model))
    except Exception:
        return None


class RouterTransport:
    """A litellm ``Router`` over one model and its fallbacks (built on first use).

    Args:
        names: the model first, then its fallbacks (no repeats).
        api_base, api_key: where and with what key (None: litellm's defaults).
        timeout_s, num_retries, rate_limit_retries, rpm, tpm, max_parallel: see the module
            docstring.

    Raises whatever litellm raises; the gateway maps it to one error type.
    """

    def __init__(
        self,
        names: Sequence[str],
        *,
        api_base: str | None,
        api_key: str | None,
        timeout_s: float,
        num_retries: int,
        rate_limit_retries: int,
        rpm: int | None,
        tpm: int | None,
        max_parallel: int | None,
    ) -> None:
        self.names = tuple(names)
        self.api_base, self._api_key = api_base, api_key
        self.timeout_s, self.num_retries, self.rate_limit_retries = timeout_s, num_retries, rate_limit_retries
        self.rpm, self.tpm, self.max_parallel = rpm, tpm, max_parallel
        self.free: set[str] = set()
        """Deployments declared free (:data:`FREE_PRICING`)."""
        self._router: Any = None

    def deployment(self, name: str) -> dict[str, Any]:
        """The Router's deployment entry for ``name``."""
        params: dict[str, Any] = {"model": name}
        if self.api_base is not None:
            params["api_base"] = self.api_base
        if self._api_key is not None:
            params["api_key"] = self._api_key
        if self.rpm is not None:
            params["rpm"] = self.rpm
        if self.tpm is not None:
            params["tpm"] = self.tpm
        if self.max_parallel is not None:
            params["max_parallel_requests"] = self.max_parallel
        if self.api_base is not None and unpriced(name):
            logger.info("%s is not in litellm's cost map; its calls are recorded at cost 0", name)
            params.update(FREE_PRICING)
            self.free.add(name)
        return {"model_name": name, "litellm_params": params}

    @property
    def router(self) -> Any:
        """The litellm Router, built on first use."""
        if self._router is None:
            from litellm import Router  # type: ignore[attr-defined]
            from litellm.types.router import RetryPolicy

            options: dict[str, Any] = {
                "model_list": [self.deployment(n) for n in self.names],
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
            if len(self.names) > 1:
                options["fallbacks"] = [{self.names[0]: list(self.names[1:])}]
            if self.rpm is not None or self.tpm is not None:
                # usage-based routing through the Router's scheduler: a request over the limit
                # sleeps until the next minute's window (one rate-limit retry per window)
                options["routing_strategy"] = "usage-based-routing-v2"
                options["default_priority"] = 0
            self._router = Router(**options)
        return self._router

    async def complete(self, kwargs: dict[str, Any], *, retries: int | None = None) -> ChatResponse:
        """One reply (``retries``: the Router's retries of this call, None: its default)."""
        if retries is not None:
            kwargs = {**kwargs, "num_retries": retries}
        raw = await self.router.acompletion(model=self.names[0], **kwargs)
        return self.priced(to_response(raw, self.names[0]), raw)

    async def stream(self, kwargs: dict[str, Any]) -> AsyncIterator[str | ToolCall | Usage]:
        """Text deltas, then the assembled tool calls, then one :class:`Usage`."""
        import litellm

        chunks: list[Any] = []
        stream = await self.router.acompletion(
            model=self.names[0], stream=True, stream_options={"include_usage": True}, **kwargs
        )
        retried = router_retries(stream)
        async for chunk in stream:
            chunks.append(chunk)
            if chunk.choices and chunk.choices[0].delta and chunk.choices[0].delta.content:
                yield chunk.choices[0].delta.content
        try:
            built = litellm.stream_chunk_builder(chunks, messages=kwargs["messages"])
        except Exception as exc:  # the text was already delivered; only the totals are lost
            logger.info("stream of %s: could not assemble usage: %s", self.names[0], exc)
            built = None
        if built is None:
            yield Usage(retries=retried)
            return
        full = self.priced(to_response(built, self.names[0]), built)
        for call in full.tool_calls:
            yield call
        yield full.usage.model_copy(update={"retries": retried})

    def priced(self, response: ChatResponse, raw: Any) -> ChatResponse:
        """``response`` priced by the model that answered, when a deployment declared free was
        answered by a model litellm prices (a proxy behind ``api_base`` serving, say,
        ``gpt-4o-mini`` under another name): litellm would have priced that by the reply's
        model had the deployment not been declared free."""
        if response.usage.cost_usd or not self.free or response.usage.cached:
            return response
        served = response.model
        if not served or any(served == n or n.endswith("/" + served) for n in self.free):
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


def router_retries(raw: Any) -> int | None:
    """Requests the Router re-sent for a reply: litellm's ``x-litellm-attempted-retries`` (of
    the deployment that answered) plus one per fallback hop (``x-litellm-attempted-fallbacks``);
    None when litellm says neither. The retries of a model that failed before a fallback
    answered are not reported by litellm, so they are not counted."""
    hidden = getattr(raw, "_hidden_params", None)
    headers = hidden.get("additional_headers") if isinstance(hidden, dict) else None
    if not isinstance(headers, dict):
        return None
    counts = [headers.get("x-litellm-attempted-retries"), headers.get("x-litellm-attempted-fallbacks")]
    known = [c for c in counts if isinstance(c, int) and not isinstance(c, bool)]
    return sum(known) if known else None


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


def to_response(raw: Any, fallback_name: str) -> ChatResponse:
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
        retries=router_retries(raw),
    )
    return ChatResponse(
        text=str(text),
        tool_calls=tuple(calls),
        usage=usage,
        finish_reason=str(getattr(choice, "finish_reason", "") or ""),
        model=str(getattr(raw, "model", None) or fallback_name),
    )
