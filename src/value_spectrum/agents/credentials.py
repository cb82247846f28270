"""Provider keys: whether a model can be reached at all, and keys kept out of error text.

A request without credentials fails inside the provider client, which litellm reports as a
server error and retries; :func:`credentials_problem` turns minutes of retries into one clear line
before anything is sent. :func:`redact` removes a key (and anything shaped like an OpenAI key)
from a provider's error message before it is logged or recorded.

Example:
    >>> redact("bad key sk-abcdefghijklmnop", [])
    'bad key sk-abcdef***'
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

LOCAL_KEY = "not-needed"
"""Placeholder key sent to a keyless OpenAI-compatible server (the OpenAI client insists on one)."""

KEYLESS_PREFIXES = ("ollama/", "ollama_chat/")
"""Providers that need no key (litellm reaches a local Ollama unless OLLAMA_API_BASE says
otherwise)."""

_KEY_SHAPE = re.compile(r"\b(sk-[A-Za-z0-9_\-]{6})[A-Za-z0-9_\-]+")


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret of 6 characters or more, and every ``sk-...`` key, masked."""
    for s in secrets:
        if s and len(s) >= 6:
            text = text.replace(s, "***")
    return _KEY_SHAPE.sub(r"\1***", text)


def credentials_problem(model: str, api_base: str | None = None, api_key_env: str | None = None) -> str | None:
    """One line saying how to reach ``model`` when its provider's key is missing, else None."""
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
