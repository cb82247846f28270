"""Store URLs shared by the checkpoint store (``--checkpoints``) and the response cache
(``--cache-store``): which name a PostgreSQL database, and how to name one in a message without
its password. Depends on nothing in the package.

Example:
    >>> is_postgres("postgres://vs@db/runs"), is_postgres("runs/cache")
    (True, False)
    >>> describe_postgres("postgresql://vs:secret@db.internal:5432/runs")
    'PostgreSQL vs@db.internal:5432/runs'
    >>> describe_safe("postgresql://vs:secret@db/runs")
    'postgresql://vs:***@db/runs'
"""

from __future__ import annotations

from urllib.parse import urlsplit

POSTGRES_SCHEMES = frozenset({"postgresql", "postgres"})
"""URL schemes that name a PostgreSQL database."""


def is_postgres(url: str | None) -> bool:
    """Whether ``url`` names a PostgreSQL database."""
    return url is not None and urlsplit(url).scheme.lower() in POSTGRES_SCHEMES


def describe_postgres(url: str) -> str:
    """``PostgreSQL user@host:port/db``: where, without the password."""
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    return f"PostgreSQL {user}{parts.hostname or 'localhost'}{port}{parts.path or '/'}"


def describe_safe(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()
