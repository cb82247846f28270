"""Make retry backoff tiny, for tests and benchmarks of fault handling: litellm's Router's, the
``openai`` client's (the direct path) and the direct path's rate-limit waits.

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
    from openai._base_client import BaseClient

    from value_spectrum.agents import direct

    openai_timeout = BaseClient._calculate_retry_timeout
    bound = direct.MAX_BACKOFF_S

    def openai_capped(self: Any, *args: Any, **kwargs: Any) -> float:
        return min(float(openai_timeout(self, *args, **kwargs)), max_sleep_s)

    BaseClient._calculate_retry_timeout = openai_capped  # type: ignore[method-assign]
    direct.MAX_BACKOFF_S = max_sleep_s
    try:
        try:
            from litellm.router_python_host import PythonHost
        except ImportError:
            logger.warning("fast_retries: litellm has no router_python_host; Router backoff unchanged")
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
    finally:
        BaseClient._calculate_retry_timeout = openai_timeout  # type: ignore[method-assign]
        direct.MAX_BACKOFF_S = bound
