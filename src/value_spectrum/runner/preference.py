"""The paper's preference benchmark as a plan: a fixed item list per value, each asked the paper's
question (the ``plain`` strategy: like it? why? describe it) or, with a persona, the persona's
like/skip question.

Items per value come from keyword retrieval over the corpus index, as the paper did (each value's
keywords retrieve their top videos; an item retrieved by two values' keywords is asked for both);
when the index cannot be opened (or ``source="authored"``), from the corpus's authored primary
values, with a warning saying so.

Example:
    >>> # items, how = select_items(load_corpus(None), per_value=5, source="authored")
"""

from __future__ import annotations

import logging
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any, Literal, cast, get_args

from value_spectrum.records import Modality
from value_spectrum.retrieval.corpus import Corpus
from value_spectrum.runner.config import GatewayConfig, RunConfig
from value_spectrum.runner.plan import Plan
from value_spectrum.values import VALUE_IDS

logger = logging.getLogger(__name__)

ItemSource = Literal["auto", "retrieval", "authored"]
"""How items are chosen."""
ITEM_SOURCES: tuple[str, ...] = get_args(ItemSource)


def check_item_source(items: str) -> ItemSource:
    """``items`` as an :data:`ItemSource`.

    Raises:
        ValueError: not one of :data:`ITEM_SOURCES` (names the option and the value).
    """
    if items not in ITEM_SOURCES:
        raise ValueError(f"--items: unknown item source {items!r}; choose {', '.join(ITEM_SOURCES[:-1])} "
                         f"or {ITEM_SOURCES[-1]}")
    return cast(ItemSource, items)
DEFAULT_PER_VALUE = 50
"""Items per value (the paper's about 50)."""


def select_items(
    corpus: Corpus,
    *,
    per_value: int,
    source: ItemSource = "auto",
    embedder: str = "auto",
    seed: int = 0,
    build_index: bool = True,
) -> tuple[dict[str, list[str]], str]:
    """Video ids per value, and how they were chosen (``keyword-retrieval (...)`` or
    ``authored``).

    Keyword retrieval orders each value's retrieved videos by similarity; authored selection
    takes a seeded sample of the videos whose authored primary value it is. ``build_index=False``
    (a dry run) only queries a temporary copy of an index that is already built, and falls back
    to the authored values when there is none, whatever ``source`` says.

    Raises:
        Exception: ``source="retrieval"`` and the index cannot be opened (or built).
    """
    if source in ("auto", "retrieval"):
        try:
            from value_spectrum.retrieval.labelling import keyword_retrieval, load_value_keywords

            with tempfile.TemporaryDirectory(prefix="vs-dry-index-") as scratch:
                opened = _opened(corpus, embedder, None if build_index else Path(scratch))
                _, pairs = keyword_retrieval(opened.index, opened.embedder, load_value_keywords())
                name = opened.embedder.describe().get("name", embedder)
                del opened  # the scratch copy goes with the block
            best: dict[str, dict[str, float]] = {v: {} for v in VALUE_IDS}
            for value, _kw, vid, score in pairs:
                scores = best[value.value]
                scores[vid] = max(score, scores.get(vid, -1.0))
            items = {v: [i for i, _ in sorted(s.items(), key=lambda kv: -kv[1])][:per_value] for v, s in best.items()}
            return items, f"keyword-retrieval ({name})"
        except Exception as exc:  # retrieval is optional: fall back, and say so
            if not build_index:
                logger.warning("dry run: %s; items estimated from the corpus's authored primary values (the real run "
                               "builds the index and retrieves by keyword: per-value counts may differ)",
                               str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__)
            elif source == "retrieval":
                raise
            else:
                logger.warning(
                    "keyword retrieval unavailable (%s); using the corpus's authored primary values instead",
                    str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__,
                )
    rng = random.Random(seed)
    out: dict[str, list[str]] = {}
    for v in VALUE_IDS:
        pool = [video.id for video in corpus if video.primary_value == v]
        rng.shuffle(pool)
        out[v] = pool[:per_value]
    return out, "authored"


def _opened(corpus: Corpus, embedder: str, scratch: Path | None) -> Any:
    """The corpus's index, opened and built as usual; or, with a ``scratch`` folder (a dry run),
    a copy of the index as it is, never built: Chroma writes to an index it only opens and
    queries, and a dry run leaves the user's files alone.

    Raises:
        FileNotFoundError: a dry run, and the index is not built yet.
    """
    from value_spectrum.retrieval.building import default_index_dir, open_index

    if scratch is None:
        return open_index(corpus, embedder)
    from value_spectrum.retrieval.embedders import make_embedder

    emb = make_embedder(embedder)
    path = default_index_dir(corpus, emb.name)
    if not path.is_dir():
        raise FileNotFoundError(f"the {emb.name} index of corpus {corpus.name!r} is not built yet")
    copy = scratch / path.name
    shutil.copytree(path, copy)
    return open_index(corpus, emb, path=copy, build=False)


def preference_plan(
    corpus: Corpus,
    model: str,
    *,
    persona: str | None = None,
    per_value: int = DEFAULT_PER_VALUE,
    modality: Modality = "frames",
    corpus_spec: str | None = None,
    items: ItemSource = "auto",
    embedder: str = "auto",
    seed: int = 0,
    concurrency: int = 8,
    api_base: str | None = None,
    gateway: GatewayConfig | None = None,
    out: Any = None,
    build_index: bool = True,
) -> Plan:
    """The plan of a preference benchmark over ``corpus`` (``build_index=False``: as
    :func:`select_items`, for a dry run).

    Raises:
        ValueError: an unknown item source; no value has an item (an empty or unlabelled corpus).
    """
    chosen, how = select_items(corpus, per_value=per_value, source=check_item_source(items), embedder=embedder, seed=seed,
                               build_index=build_index)
    chosen = {v: ids for v, ids in chosen.items() if ids}
    if not chosen:
        raise ValueError(
            f"corpus {corpus.name!r}: no item for any value (no retrieval hits, no authored primary values); "
            "label it (value-spectrum corpus label) or use another --corpus"
        )
    config = RunConfig(
        personas=(persona,) if persona else (),
        models=(model,),
        api_base=api_base,
        steps=max(len(v) for v in chosen.values()),
        feed="items",
        modality=modality,
        strategy="simple" if persona else "plain",
        seed=seed,
        concurrency=concurrency,
        corpus=corpus_spec,
        embedder=embedder,  # type: ignore[arg-type]
        out=out,
        gateway=gateway or GatewayConfig(),
    )
    return Plan(config=config, kind="preference", items={v: tuple(ids) for v, ids in chosen.items()},
                item_source=how, per_value=per_value)
