"""What litellm's model map says about a model, without importing litellm.

litellm ships its price and capability map as one JSON file; ``import litellm`` costs seconds of
CPU, reading the file about 20 ms. The direct OpenAI-compatible path
(:mod:`value_spectrum.agents.direct`) reads the map here once per process and asks it for
prices, JSON-schema support, vision support and context size. When litellm is already imported
its live map (``litellm.model_cost``, which includes models registered at run time) is used
instead, so both paths price a reply the same way.

Example:
    >>> info = model_info("openai/gpt-4o-mini")
    >>> info is not None and info["input_cost_per_token"] > 0
    True
    >>> model_info("openai/my-local-alias-xyz") is None
    True
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
import threading
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MAP_FILE = "model_prices_and_context_window_backup.json"
"""The map litellm ships (and reads itself with ``LITELLM_LOCAL_MODEL_COST_MAP=True``)."""

_lock = threading.Lock()
_map: dict[str, Any] | None = None


def _shipped_map() -> dict[str, Any]:
    global _map
    with _lock:
        if _map is None:
            _map = {}
            spec = importlib.util.find_spec("litellm")
            roots = list(spec.submodule_search_locations or []) if spec is not None else []
            for root in roots:
                path = Path(root) / MAP_FILE
                if path.is_file():
                    try:
                        _map = json.loads(path.read_text(encoding="utf-8"))
                    except (OSError, ValueError) as exc:
                        logger.warning("litellm model map %s unreadable: %s", path, exc)
                    break
        return _map


def _cost_map() -> dict[str, Any]:
    litellm = sys.modules.get("litellm")
    live = getattr(litellm, "model_cost", None) if litellm is not None else None
    if isinstance(live, dict) and live:
        return live
    return _shipped_map()


def model_info(model: str) -> dict[str, Any] | None:
    """The map's entry for ``model`` (``provider/name`` or ``name``), or None when unknown."""
    table = _cost_map()
    entry = table.get(model)
    if entry is None and "/" in model:
        provider, _, name = model.partition("/")
        entry = table.get(name)
        if isinstance(entry, dict) and entry.get("litellm_provider") not in (None, provider, "openai", "text-completion-openai"):
            entry = None
    return entry if isinstance(entry, dict) else None


def priced(model: str) -> bool:
    """Whether the map has a positive per-token rate for ``model``."""
    info = model_info(model) or {}
    return any(
        isinstance(v, int | float) and not isinstance(v, bool) and v > 0
        for k, v in info.items()
        if k in ("input_cost_per_token", "output_cost_per_token")
    )


def cost_usd(model: str, prompt_tokens: int, completion_tokens: int) -> float:
    """Dollars for one call by the map's per-token rates (0 for unknown or free models)."""
    info = model_info(model) or {}
    rate_in = info.get("input_cost_per_token") or 0.0
    rate_out = info.get("output_cost_per_token") or 0.0
    try:
        return max(0.0, float(rate_in) * prompt_tokens + float(rate_out) * completion_tokens)
    except (TypeError, ValueError):
        return 0.0


def supports(model: str, capability: str) -> bool | None:
    """The map's ``supports_<capability>`` flag (``vision``, ``response_schema``), None when
    the model is unknown or the map says nothing."""
    info = model_info(model)
    if info is None:
        return None
    flag = info.get(f"supports_{capability}")
    return None if flag is None else bool(flag)


def context_tokens(model: str) -> int | None:
    """The model's input context in tokens, when the map knows it."""
    info = model_info(model) or {}
    for key in ("max_input_tokens", "max_tokens"):
        value = info.get(key)
        if isinstance(value, int) and value > 0:
            return value
    return None
