"""Counting a request's tokens before sending it, offline: text with OpenAI's tokenizers, images by
each provider's published formula.

Used by the dry run (:mod:`value_spectrum.runner.estimate`). Nothing here touches the network,
writes a file or imports litellm (whose import fetches a price map unless told not to):

* text is counted with ``tiktoken``'s ``o200k_base`` (GPT-4o and later) or ``cl100k_base`` (every
  other model), read from the copies litellm ships (its ``tokenizers`` folder) and parsed here, so
  tiktoken never downloads or caches anything. Other providers' tokenizers differ by some percent:
  the count is an estimate for them. When no copy is found, characters / 4 stands in
  (:attr:`TextCounter.exact` False).
* images: OpenAI's tile formula (85 + 170 per 512-pixel tile after scaling; gpt-4o-mini's
  multiplied rates), Anthropic's ``width * height / 750``, Gemini's 258 per 768-pixel tile. Other
  providers (a local server, say) are counted with OpenAI's formula.

Example:
    >>> counter = text_counter("openai/gpt-4o")
    >>> 0 < counter.count("Would you like this video?") < 12
    True
    >>> image_tokens("openai/gpt-4o", 1024, 1024)
    765
    >>> image_tokens("anthropic/claude-3-5-haiku-latest", 750, 1000)
    1000
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import logging
import math
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

ENCODING_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
"""Where tiktoken would download an encoding; litellm's copies are named by its SHA-1."""
O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o")
"""Model names (after the provider prefix) tokenised with ``o200k_base``."""
MESSAGE_OVERHEAD = 4
"""Tokens a chat message costs beyond its content (role and separators, OpenAI's accounting)."""
REQUEST_OVERHEAD = 3
"""Tokens every request costs beyond its messages (the reply's priming)."""

_lock = threading.Lock()


def _bundle_dir() -> Path | None:
    """litellm's folder of tiktoken files, found without importing litellm."""
    spec = importlib.util.find_spec("litellm")
    for root in (spec.submodule_search_locations or []) if spec is not None else []:
        folder = Path(root) / "litellm_core_utils" / "tokenizers"
        if folder.is_dir():
            return folder
    return None


def _ranks(path: Path) -> dict[bytes, int]:
    """A ``.tiktoken`` file: one ``base64(token) rank`` per line."""
    ranks: dict[bytes, int] = {}
    for line in path.read_bytes().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


@lru_cache(maxsize=4)
def _encoding(name: str) -> Any:
    """tiktoken's encoding ``name`` built from litellm's copy; None when unavailable."""
    folder = _bundle_dir()
    if folder is None:
        return None
    url = ENCODING_URL.format(name=name)
    path = folder / hashlib.sha1(url.encode(), usedforsecurity=False).hexdigest()
    if not path.is_file():
        return None
    try:
        import tiktoken
        import tiktoken_ext.openai_public as public

        ranks = _ranks(path)
        # the constructor knows the pattern and special tokens; its loader would download,
        # so it is handed the ranks read above instead (under a lock: the module is shared)
        with _lock:
            loader = public.load_tiktoken_bpe
            public.load_tiktoken_bpe = lambda *_a, **_k: ranks  # type: ignore[assignment]
            try:
                params = getattr(public, name)()
            finally:
                public.load_tiktoken_bpe = loader  # type: ignore[assignment]
        params.pop("explicit_n_vocab", None)
        return tiktoken.Encoding(**params)
    except (ImportError, AttributeError, OSError, ValueError, TypeError) as exc:
        logger.info("tokenizer %s unavailable (%s); counting characters / 4", name, exc)
        return None


def encoding_name(model: str) -> str:
    """``o200k_base`` for GPT-4o and later OpenAI models, ``cl100k_base`` otherwise."""
    name = model.rpartition("/")[2].lower()
    return "o200k_base" if name.startswith(O200K_PREFIXES) else "cl100k_base"


@dataclass(frozen=True)
class TextCounter:
    """Counts the tokens of text for one model."""

    encoding: str
    """The tokenizer's name (``o200k_base``, ``cl100k_base``) or ``chars/4``."""
    exact: bool
    """True when a real tokenizer counts (exact for OpenAI models, close for others)."""
    _enc: Any = None

    def count(self, text: str) -> int:
        """Tokens in ``text``."""
        if not text:
            return 0
        if self._enc is None:
            return max(1, math.ceil(len(text) / 4))
        return len(self._enc.encode(text, disallowed_special=()))


def text_counter(model: str) -> TextCounter:
    """The counter for ``model``'s text."""
    name = encoding_name(model)
    enc = _encoding(name)
    return TextCounter(name, True, enc) if enc is not None else TextCounter("chars/4", False)


def image_tokens(model: str, width: int, height: int) -> int:
    """Input tokens one image of ``width`` x ``height`` pixels costs ``model`` (high detail)."""
    provider, _, name = model.rpartition("/")
    name = name.lower()
    if "claude" in name:
        scale = min(1.0, 1568 / max(width, height, 1))
        return math.ceil(width * scale * height * scale / 750)
    if provider in ("gemini", "vertex_ai") or name.startswith("gemini"):
        if width <= 384 and height <= 384:
            return 258
        return 258 * math.ceil(width / 768) * math.ceil(height / 768)
    scale = min(1.0, 2048 / max(width, height, 1))
    w, h = width * scale, height * scale
    scale = min(1.0, 768 / max(min(w, h), 1))
    tiles = math.ceil(w * scale / 512) * math.ceil(h * scale / 512)
    if "gpt-4o-mini" in name:
        return 2833 + 5667 * tiles
    return 85 + 170 * tiles


def message_text(content: Any) -> tuple[str, int]:
    """The text of one message's content and how many images it holds."""
    if isinstance(content, str):
        return content, 0
    texts: list[str] = []
    images = 0
    for part in content or ():
        if isinstance(part, dict) and part.get("type") == "image_url":
            images += 1
        elif isinstance(part, dict):
            texts.append(str(part.get("text", "")))
    return "\n\n".join(texts), images


def schema_text(response_format: dict[str, Any] | None, tools: tuple[dict[str, Any], ...] = ()) -> str:
    """What a response format and tools add to a request, as text to count (providers put both
    into the prompt)."""
    parts = [json.dumps(response_format, sort_keys=True)] if response_format else []
    parts.extend(json.dumps(t, sort_keys=True) for t in tools)
    return "\n".join(parts)
