"""Checks before a run writes anything, the same from Python and the CLI: every model's provider
is known and reachable with the credentials at hand, gateway options are given only with a model
that calls one, a reference viewer has labels to choose by, the feed can show as many videos as
the sessions ask for, a model shown frames takes images, and ``max_cost`` can stop each model.

Example:
    >>> # warnings = await preflight(plan, services)   # raises RunCheckError with one line
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from value_spectrum.runner.plan import Plan

if TYPE_CHECKING:
    from value_spectrum.runner.config import GatewayConfig
    from value_spectrum.runner.services import Services

logger = logging.getLogger(__name__)

REFERENCE = "reference"
"""The reference viewer's model string (``agents.REFERENCE``)."""
REPEATING_FEEDS: frozenset[str] = frozenset()
"""Built-in feeds that may show a video twice (none: every built-in feed never repeats)."""


class RunCheckError(ValueError):
    """A run that cannot do what was asked; one line saying what and how to fix it."""


class ModalityCheckError(RunCheckError):
    """A model that takes no images in a plan that shows it frames; the line names the model and
    the fix (``--modality caption``). The CLI exits 1: the job cannot be done as asked."""


def unused_gateway_option(gateway: GatewayConfig, models: Sequence[str]) -> str | None:
    """The first :class:`~value_spectrum.runner.config.GatewayConfig` field given when no model
    calls a provider (every model is ``reference``); else None."""
    given = list(gateway.options())
    if given and all(m == REFERENCE for m in models):
        return given[0]
    return None


async def modality_check(config_models: Sequence[str], api_base: str | None, modality: str | None,
                         gateway: GatewayConfig) -> None:
    """Raise :class:`ModalityCheckError` when a model that will be shown frames takes no images
    (litellm's map says so, or a self-hosted endpoint rejects one tiny image request)."""
    from value_spectrum.agents.preflight import amodality_problem

    for model in dict.fromkeys(m for m in config_models if m != REFERENCE):
        problem = await amodality_problem(model, api_base, modality, **gateway.options())
        if problem:
            raise ModalityCheckError(problem)


def model_problem(model: str, api_base: str | None) -> str | None:
    """One line when ``model`` names no provider litellm knows, or its provider's key is missing.

    An OpenAI-compatible model (the direct path) is known without importing litellm (seconds of
    CPU at every start)."""
    from value_spectrum.agents.credentials import credentials_problem
    from value_spectrum.agents.direct import is_compatible

    if is_compatible(model, api_base):
        return credentials_problem(model, api_base)
    import litellm

    try:
        litellm.get_llm_provider(model=model, api_base=api_base)
    except Exception:  # litellm raises its own BadRequestError for an unknown provider
        return (
            f"unknown model or provider {model!r}: give a litellm model string such as "
            "'openai/gpt-4o-mini' or 'anthropic/claude-3-5-haiku-latest', or 'openai/NAME' with "
            "--api-base URL for an OpenAI-compatible server, or 'reference'"
        )
    return credentials_problem(model, api_base)


def unpriced(model: str) -> bool:
    """True when litellm has no price for ``model`` (its turns count as $0)."""
    from value_spectrum.agents import pricing
    from value_spectrum.agents.direct import is_compatible

    if is_compatible(model, None):  # priced from litellm's map read without importing litellm
        return not pricing.priced(model)
    import litellm

    try:
        info = litellm.get_model_info(model)
    except Exception:  # litellm raises its own error types for unmapped models
        return True
    return not (info.get("input_cost_per_token") or info.get("output_cost_per_token"))


async def preflight(plan: Plan, services: Services) -> list[str]:
    """Check a plan against its services before anything is written.

    Returns:
        Warnings (also logged): models ``max_cost`` cannot stop.

    Raises:
        RunCheckError: an unknown model or provider, missing credentials, a gateway option with
            only the reference viewer, a reference viewer on an unlabelled corpus, or sessions
            longer than the corpus (feeds never repeat a video).
        ModalityCheckError: a model shown frames that takes no images (one tiny request to a
            self-hosted endpoint finds out).
    """
    config = plan.config
    llms = [m for m in config.models if m != REFERENCE]
    unused = unused_gateway_option(config.gateway, config.models)
    if unused is not None:
        raise RunCheckError(f"gateway.{unused}: only used with model viewers (a model other than 'reference')")
    if services.given.get("viewer_factory") is None:
        for m in llms:
            problem = model_problem(m, config.api_base)
            if problem:
                raise RunCheckError(problem)
        if REFERENCE in config.models and not services.labels:
            raise RunCheckError(
                f"--model reference chooses by the videos' value labels, and corpus {services.corpus.name!r} has "
                "none; label it (see `value-spectrum corpus label`) or use an LLM viewer"
            )
    if plan.kind != "preference" and config.feed not in REPEATING_FEEDS:
        n = len(services.corpus.videos)
        if config.steps > n and services.given.get("feed") is None:
            raise RunCheckError(
                f"--steps: {config.steps} is more than the {n} videos of corpus {services.corpus.name!r}; a feed "
                f"never shows a video twice, so every session would end after {n}. Pass --steps {n} or less, "
                "or a bigger corpus (--corpus DIR)"
            )
    if services.given.get("viewer_factory") is None:
        await modality_check(llms, config.api_base, config.modality, config.gateway)
    warnings: list[str] = []
    if config.max_cost is not None:
        for m in llms:
            if unpriced(m):
                warnings.append(
                    f"--max-cost: litellm has no price for {m}; its turns count as $0 and the budget will not "
                    "stop them (tokens are still counted)"
                )
    for w in warnings:
        logger.warning("%s", w)
    return warnings
