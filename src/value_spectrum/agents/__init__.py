"""One decision: persona + observation -> Decision.

Viewers: :class:`ReferenceViewer` (value-utility model, no LLM), :class:`LLMViewer` (any litellm
model), :class:`ScriptedViewer` (a scripted fake model for tests). :func:`make_viewer` builds one
from a model string. Nothing here imports litellm or LangGraph at import time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from value_spectrum.agents.base import SearchTool, Viewer, ViewerReply
from value_spectrum.agents.chat import (
    ChatModel,
    ChatRequest,
    ChatResponse,
    ModelError,
    ModelRefusal,
    ToolCall,
)
from value_spectrum.agents.fake import ScriptedModel, ScriptedViewer, scripted_model, tool_call
from value_spectrum.agents.llm_viewer import LLMViewer
from value_spectrum.agents.parsing import ParseFailure, parse_decision, parse_rating
from value_spectrum.agents.probing import ask_questionnaire
from value_spectrum.agents.reference import ReferenceViewer
from value_spectrum.values import ValueProfile

REFERENCE = "reference"
"""The model string of the reference viewer."""
REFERENCE_ONLY = frozenset({"beta", "bias", "noise", "boredom"})
"""Viewer options only the reference viewer has: a model viewer in the same run ignores them
(``leave`` and ``dwell`` mean the same to both)."""


def make_viewer(model: str, *, labels: Mapping[str, ValueProfile] | None = None, **opts: Any) -> Viewer:
    """A viewer for a model string: ``"reference"`` gives a :class:`ReferenceViewer` (needs
    ``labels``; options beta, bias, noise, seed, boredom, leave, dwell), anything else an
    :class:`LLMViewer` (options as its constructor's; the reference-only ones in
    :data:`REFERENCE_ONLY` are left out, so one run's options serve both).

    Raises:
        ValueError: ``"reference"`` without labels.
    """
    if model == REFERENCE:
        if labels is None:
            raise ValueError("make_viewer('reference') needs labels: video id -> ValueProfile")
        return ReferenceViewer(labels, **opts)
    return LLMViewer(model, **{k: v for k, v in opts.items() if k not in REFERENCE_ONLY})


__all__ = [
    "REFERENCE",
    "REFERENCE_ONLY",
    "ChatModel",
    "ChatRequest",
    "ChatResponse",
    "LLMViewer",
    "ModelError",
    "ModelRefusal",
    "ParseFailure",
    "ReferenceViewer",
    "ScriptedModel",
    "ScriptedViewer",
    "SearchTool",
    "ToolCall",
    "Viewer",
    "ViewerReply",
    "ask_questionnaire",
    "make_viewer",
    "parse_decision",
    "parse_rating",
    "scripted_model",
    "tool_call",
]
