"""Embedder registry: a plain name -> factory dict, and the ``auto`` choice.

``auto`` picks OpenCLIP when its weights are on this machine (checked without network) and the
offline text embedder otherwise, logging one line that says which and why. Heavy imports happen
inside the factories.

Example:
    >>> e = make_embedder("fake", dim=8)
    >>> e.name
    'fake-hash-8'
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from value_spectrum.retrieval.embedders.base import Embedder, EmbedderError

log = logging.getLogger(__name__)

EmbedderKind = Literal["auto", "clip", "text", "fake"]
"""Names accepted by :func:`make_embedder` and ``--embedder``."""
EMBEDDER_KINDS: tuple[str, ...] = ("auto", "clip", "text", "fake")


def _fake(**opts: Any) -> Embedder:
    from value_spectrum.retrieval.embedders.fake import HashingEmbedder

    return HashingEmbedder(dim=int(opts.get("dim") or 64), seed=int(opts.get("seed") or 0))


def _text(**opts: Any) -> Embedder:
    from value_spectrum.retrieval.embedders.text import TextEmbedder

    return TextEmbedder(opts.get("model_path"))


def _clip(**opts: Any) -> Embedder:
    from value_spectrum.retrieval.embedders.clip import (
        DEFAULT_MODEL,
        DEFAULT_PRETRAINED,
        ClipEmbedder,
    )

    return ClipEmbedder(
        opts.get("model") or DEFAULT_MODEL,
        # "" means "no pretrained tag" (random init or a local-dir/checkpoint model)
        opts.get("pretrained", DEFAULT_PRETRAINED),
        checkpoint=opts.get("checkpoint"),
    )


FACTORIES: Mapping[str, Callable[..., Embedder]] = {"fake": _fake, "text": _text, "clip": _clip}
"""Concrete embedder kinds. ``auto`` resolves to ``clip`` or ``text``."""


def choose_auto(
    model: str | None = None, pretrained: str | None = None, checkpoint: str | Path | None = None
) -> tuple[str, str]:
    """Resolve ``auto`` to ``"clip"`` or ``"text"``, without network access.

    Returns:
        ``(kind, reason)``.
    """
    from value_spectrum.retrieval.embedders.clip import (
        DEFAULT_MODEL,
        DEFAULT_PRETRAINED,
        weights_available,
    )

    ok, why = weights_available(
        model or DEFAULT_MODEL, pretrained or DEFAULT_PRETRAINED, checkpoint
    )
    if ok:
        return "clip", f"{why}: using OpenCLIP"
    return "text", f"{why}: using the offline text embedder (all-MiniLM-L6-v2)"


def make_embedder(kind: str = "auto", **options: Any) -> Embedder:
    """Build an embedder by kind.

    Args:
        kind: ``auto``, ``clip``, ``text`` or ``fake``.
        **options: For ``clip``: ``model``, ``pretrained``, ``checkpoint``; for ``fake``: ``dim``,
            ``seed``; for ``text``: ``model_path``. ``None`` values mean "default".

    Raises:
        ValueError: an unknown kind, listing the valid ones.
        EmbedderError: the embedder cannot be built (missing weights, ...).
    """
    opts = {k: v for k, v in options.items() if v is not None}
    if kind == "auto":
        kind, why = choose_auto(opts.get("model"), opts.get("pretrained"), opts.get("checkpoint"))
        log.info("embedder auto -> %s (%s)", kind, why)
    try:
        factory = FACTORIES[kind]
    except KeyError:
        raise ValueError(
            f"unknown embedder {kind!r}; expected one of: {', '.join(EMBEDDER_KINDS)}"
        ) from None
    if kind != "clip":
        opts = {k: v for k, v in opts.items() if k not in {"model", "pretrained", "checkpoint"}}
    return factory(**opts)


def embedder_from_description(desc: Mapping[str, Any]) -> Embedder:
    """Rebuild the embedder that :meth:`Embedder.describe` described (e.g. from index metadata).

    Raises:
        EmbedderError: the description names no known kind.
    """
    kind = str(desc.get("kind", ""))
    if kind not in FACTORIES:
        raise EmbedderError(f"cannot rebuild embedder from description {dict(desc)!r}")
    options = dict(desc.get("options") or {})
    return make_embedder(kind, **options)
