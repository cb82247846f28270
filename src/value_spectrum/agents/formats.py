"""Structured output that degrades, and requests that carry images.

A decision asks for a JSON-schema ``response_format``. Not every endpoint takes one: llama.cpp's
server and many local aliases reject ``json_schema`` (some with HTTP 500), some accept only
``{"type": "json_object"}``. The gateway walks :data:`MODES` down on such a rejection, remembers
the first mode that answered for the rest of the run, and records it in the manifest; the
decision contract (:mod:`value_spectrum.agents.parsing`) reads a plain-text reply as well.

Example:
    >>> schema = {"type": "json_schema", "json_schema": {"name": "reply", "schema": {}}}
    >>> shaped(schema, "json_object")
    {'type': 'json_object'}
    >>> shaped(schema, "text") is None
    True
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from value_spectrum.agents.chat import ChatRequest, ModelError

ResponseFormat = Literal["auto", "json_schema", "json_object", "text"]
"""The ``--response-format`` choices: auto walks :data:`MODES` down from the best supported."""

MODES: tuple[str, ...] = ("json_schema", "json_object", "text")
"""Structured-output modes, most to least structured."""


def merge_modes(*found: dict[str, str]) -> dict[str, str]:
    """Model -> mode over several gateways of one run (the workers'), each model's least
    structured: the mode that the run's requests ended in somewhere."""

    def rank(mode: str) -> int:
        return MODES.index(mode) if mode in MODES else -1

    merged: dict[str, str] = {}
    for modes in found:
        for model, mode in modes.items():
            merged[model] = max(merged.get(model, mode), mode, key=rank)
    return merged


REJECTION_STATUSES = frozenset({400, 415, 422, 500, 501})
"""HTTP statuses with which an endpoint rejects what a request asked for (a 500 too: llama.cpp
answers an unsupported request with one); outages (502-504), limits (429), timeouts (408) and
auth or routing errors (401, 403, 404) are not rejections."""


def shaped(response_format: dict[str, Any] | None, mode: str) -> dict[str, Any] | None:
    """``response_format`` as sent in ``mode``."""
    if response_format is None or mode == "text":
        return None
    if mode == "json_object":
        return {"type": "json_object"}
    return response_format


def lower_modes(mode: str) -> tuple[str, ...]:
    """The modes below ``mode``, in order."""
    return MODES[MODES.index(mode) + 1:] if mode in MODES else ()


def is_rejection(exc: ModelError) -> bool:
    """Whether the endpoint refused the request's content or options (not an outage)."""
    return exc.status in REJECTION_STATUSES


def has_images(request: ChatRequest) -> bool:
    """Whether any message carries an ``image_url`` part."""
    for m in request.messages:
        content = m.get("content")
        if isinstance(content, list) and any(isinstance(p, dict) and p.get("type") == "image_url" for p in content):
            return True
    return False


def without_images(request: ChatRequest, *, max_tokens: int = 1) -> ChatRequest:
    """The same request with every image part removed (text parts joined into one string), no
    ``response_format`` and a tiny reply cap: a probe of whether the images were the problem."""
    messages = []
    for m in request.messages:
        content = m.get("content")
        if isinstance(content, list):
            texts = [str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text"]
            m = {**m, "content": "\n\n".join(texts) or "."}
        messages.append(m)
    return dataclasses.replace(request, messages=tuple(messages), response_format=None, max_tokens=max_tokens, tools=())


def modality_line(model: str, where: str, detail: str) -> str:
    """The one line that names the model, what happened and the fix."""
    return (
        f"{model} does not accept images ({where} rejected the image content: {detail[:160]}); "
        "show it text instead: --modality caption (or --modality title)"
    )
