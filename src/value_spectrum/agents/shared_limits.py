"""A run-wide rate limiter the gateway asks before every model request, when one is installed.

Locally every :class:`~value_spectrum.agents.gateway.Gateway` keeps its own per-minute windows,
which is the whole run in one process. A run spread over many processes (the Ray executor)
installs one limiter per worker process that asks a single shared bucket
(:mod:`value_spectrum.runner.ray_limits`), so ``--rpm`` / ``--tpm`` hold for the whole run.
The gateway's own per-process limits still apply beside it (they never allow more).

Example:
    >>> installed() is None
    True
"""

from __future__ import annotations

from typing import Protocol


class SharedLimiter(Protocol):
    """A limiter shared by every worker of a run."""

    async def admit(self, key: str, rpm: int | None, tpm: int | None) -> None:
        """Wait until one more request to ``key`` (model and API base) is allowed."""
        ...

    def spent(self, key: str, tpm: int | None, tokens: int) -> None:
        """Count a finished request's tokens against ``key``'s ``tpm``."""
        ...


_installed: SharedLimiter | None = None


def install(limiter: SharedLimiter | None) -> None:
    """Make ``limiter`` this process's run-wide limiter (None removes it)."""
    global _installed
    _installed = limiter


def installed() -> SharedLimiter | None:
    """This process's run-wide limiter, if any."""
    return _installed


def limit_key(model: str, api_base: str | None) -> str:
    """The bucket of a model at an endpoint (runs sharing a key share its bucket)."""
    return f"{api_base or '-'}|{model}"
