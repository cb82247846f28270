"""The user cache directory: rendered demo media, the demo index and other files that can be
rebuilt at any time.

The location is ``$VALUE_SPECTRUM_CACHE`` when that variable is set, otherwise the platform's
user cache directory (``~/.cache/value-spectrum`` on Linux). The variable is read on every call,
never at import, so tests and users can redirect the cache at any moment.

The cache folder and the folders made in it are owner-only (0700): the response cache and chat
threads inside hold prompts and replies.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from value_spectrum._private import private_dir

CACHE_ENV = "VALUE_SPECTRUM_CACHE"
"""Environment variable that overrides the cache location."""

APP_NAME = "value-spectrum"
"""Application name given to :mod:`platformdirs`."""


def cache_dir(*, create: bool = False) -> Path:
    """The user cache directory.

    Args:
        create: Make the directory (and its parents) when it does not exist.

    Returns:
        ``$VALUE_SPECTRUM_CACHE`` if set and not empty, else ``user_cache_dir("value-spectrum")``.
    """
    override = os.environ.get(CACHE_ENV, "").strip()
    path = Path(override).expanduser() if override else Path(platformdirs.user_cache_dir(APP_NAME))
    if create:
        private_dir(path)
    return path


def cache_subdir(name: str, *, create: bool = True) -> Path:
    """A named folder inside the cache (``demo-media``, ``index``, ...), created by default."""
    path = cache_dir() / name
    if create:
        private_dir(cache_dir())
        private_dir(path)
    return path
