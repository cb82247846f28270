"""Before a run shows a model images: does it take them?

:func:`modality_problem` answers in one line, or None:

* where the provider's model map (litellm's) says the model has no vision support, at once and
  without a request;
* for a self-hosted endpoint (``api_base``) the map does not know, with one tiny request (an
  8 x 8 image, a one-token reply) through the same :class:`~value_spectrum.agents.gateway.Gateway`
  the run uses; a rejection that a text-only request does not get is a mismatch
  (:class:`~value_spectrum.agents.chat.ModalityMismatch`). Any other failure is left to the run,
  which reports it as usual.

Example:
    >>> modality_problem("reference", None, "frames") is None
    True
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
from typing import Any

from value_spectrum.agents.chat import ChatRequest, ModalityMismatch, ModelError

logger = logging.getLogger(__name__)

FIX = "--modality caption (or --modality title)"
"""What to pass instead."""


def _tiny_png() -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 120, 40)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def known_without_vision(model: str) -> bool:
    """Whether litellm's model map says ``model`` takes no images."""
    from value_spectrum.agents import pricing

    return pricing.supports(model, "vision") is False


def modality_problem(model: str, api_base: str | None, modality: str | None, **gateway: Any) -> str | None:
    """:func:`amodality_problem` outside an event loop."""
    return asyncio.run(amodality_problem(model, api_base, modality, **gateway))


async def amodality_problem(model: str, api_base: str | None, modality: str | None, **gateway: Any) -> str | None:
    """One line naming the model and the fix when ``model`` cannot take the images that
    ``modality`` (frames, or None: each video's own) shows it; else None.

    ``gateway``: the run's Gateway options (timeout, retries, ...); the response cache is not
    used.
    """
    if model == "reference" or modality not in (None, "frames"):
        return None
    if known_without_vision(model):
        return f"{model} takes no images (litellm's model map: supports_vision is false); show it text: {FIX}"
    if api_base is None:
        return None
    from value_spectrum.agents.gateway import Gateway

    opts = {k: v for k, v in gateway.items() if k not in ("cache", "cache_dir", "cache_store", "fallbacks")}
    opts.setdefault("num_retries", 1)
    try:
        gw = Gateway(model, api_base=api_base, cache=False, **opts)
    except (TypeError, ValueError) as exc:
        logger.info("preflight of %s skipped: %s", model, exc)
        return None
    request = ChatRequest(
        messages=({"role": "user", "content": [
            {"type": "text", "text": "Reply with the word OK."},
            {"type": "image_url", "image_url": {"url": _tiny_png()}},
        ]},),
        max_tokens=1,
        purpose="preflight",
    )
    try:
        await gw.complete(request)
    except ModalityMismatch as exc:
        return str(exc)
    except ModelError as exc:  # not a modality problem: the run reports it as it happens
        logger.info("preflight of %s: %s", model, exc)
    finally:
        await gw.aclose()
    return None
