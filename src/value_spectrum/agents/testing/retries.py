"""Make the litellm Router's retry backoff tiny, for tests and benchmarks of fault handling.

The Router computes its exponential backoff (about 0.5 s doubling, with jitter) in its own core
and sleeps through its host's ``sleep``; :func:`fast_retries` caps that sleep. Retries still
happen, in the same number and order; only the waiting is shortened.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from typing import Any

logger = logging.getLogger(__name__)


@contextmanager
def fast_retries(max_sleep_s: float = 0.01) -> Iterator[bool]:
    """Within the block, every Router backoff sleeps at most ``max_sleep_s``.

    Yields:
        True when the cap is in place; False when this litellm version has no such hook (then
        backoff keeps its normal length, and tests are only slower).
    """
    try:
        from litellm.router_python_host import PythonHost
    except ImportError:
        logger.warning("fast_retries: litellm has no router_python_host; backoff unchanged")
        yield False
        return
    original = PythonHost.sleep

    def capped(self: Any, seconds: float) -> Awaitable[None]:
        return asyncio.sleep(min(float(seconds), max_sleep_s))

    PythonHost.sleep = capped  # type: ignore[method-assign]
    try:
        yield True
    finally:
        PythonHost.sleep = original  # type: ignore[method-assign]
