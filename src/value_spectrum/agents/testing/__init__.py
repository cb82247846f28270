"""Test helpers shipped in the package: a local OpenAI-compatible server with fault injection
(:class:`TestServer`), and :func:`fast_retries`, which shortens the Router's retry backoff.

Names are loaded on first use, so ``python -m value_spectrum.agents.testing.server`` runs the
server module exactly once.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from value_spectrum.agents.testing.retries import fast_retries
    from value_spectrum.agents.testing.server import (
        Fault,
        ServerReply,
        TestServer,
        count_images,
        default_reply,
    )

_WHERE = {
    "fast_retries": "retries",
    "Fault": "server",
    "ServerReply": "server",
    "TestServer": "server",
    "count_images": "server",
    "default_reply": "server",
}

__all__ = ["Fault", "ServerReply", "TestServer", "count_images", "default_reply", "fast_retries"]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        module = importlib.import_module(f"value_spectrum.agents.testing.{_WHERE[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
