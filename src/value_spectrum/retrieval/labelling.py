"""Value labels by retrieval, as the paper did, and zero-shot soft labels.

Two labellings of a corpus, both from the same index and embedder:

* **Keyword retrieval** (the paper's method): every value has at least 8 keywords
  (``data/value_keywords.yaml``, written for this project); each keyword retrieves its top
  ``k`` videos; a retrieved video gets the value of the keyword that retrieved it. When several
  keywords retrieve the same video, the one with the highest similarity wins. Videos no
  keyword retrieves get no retrieval label (``coverage`` says how many did).
* **Zero-shot soft labels**: each value's prototype is the normalised mean of the vectors of
  its description and its keywords; a video's similarities to the ten prototypes, divided by a
  temperature and softmaxed, form a :class:`~value_spectrum.values.ValueProfile`.

Where the corpus has authored labels (the demo corpus), :func:`label_corpus` reports how well
both agree with them. :func:`~value_spectrum.retrieval.label_writing.write_labels` writes the
proposed labels into an imported corpus (``corpus label --write``).
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from value_spectrum._yaml import AliasBomb, BoundedSafeLoader
from value_spectrum.retrieval.corpus import Corpus
from value_spectrum.retrieval.embedders.base import Embedder, l2_normalise
from value_spectrum.retrieval.index import VideoIndex
from value_spectrum.values import VALUE_IDS, VALUES, Value, ValueProfile

log = logging.getLogger(__name__)

DEFAULT_K = 5
"""Videos retrieved per keyword (the paper's choice)."""
DEFAULT_TEMPERATURE = 0.05
"""Softmax temperature of the zero-shot labels (cosine similarities differ by a few hundredths)."""
MIN_KEYWORDS = 8


class ValueSpec(BaseModel):
    """A value's description and search keywords."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    description: str = Field(min_length=1)
    """What a video that serves the value shows."""
    keywords: tuple[str, ...]
    """Search phrases; at least :data:`MIN_KEYWORDS`."""

    @field_validator("keywords")
    @classmethod
    def _enough(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(v) < MIN_KEYWORDS:
            raise ValueError(f"needs at least {MIN_KEYWORDS} keywords, got {len(v)}")
        return v


class ValueKeywords(BaseModel):
    """All ten values' keywords."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = 1
    """Version of the keyword file."""
    values: dict[Value, ValueSpec]
    """One entry per value."""

    @field_validator("values")
    @classmethod
    def _all_ten(cls, v: dict[Value, ValueSpec]) -> dict[Value, ValueSpec]:
        missing = [x.value for x in VALUES if x not in v]
        if missing:
            raise ValueError(f"missing values: {', '.join(missing)}")
        return v


def load_value_keywords(path: str | Path | None = None) -> ValueKeywords:
    """Read a keyword file (default: the one shipped in the package).

    Raises:
        ValueError: naming the file and the offending field.
    """
    if path is None:
        text = (
            resources.files("value_spectrum.retrieval")
            .joinpath("data/value_keywords.yaml")
            .read_text("utf-8")
        )
        where = "value_keywords.yaml"
    else:
        text, where = Path(path).read_text(encoding="utf-8"), str(path)
    try:
        return ValueKeywords.model_validate(yaml.load(text, Loader=BoundedSafeLoader))  # noqa: S506 (safe)
    except AliasBomb as exc:
        raise ValueError(f"{where}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{where}: invalid YAML: {' '.join(str(exc).split())[:200]}") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise ValueError(f"{where}: field {field!r}: {err['msg']}") from None


class KeywordHit(BaseModel):
    """The retrieval label of one video."""

    model_config = ConfigDict(frozen=True)

    value: Value
    """Value of the keyword that retrieved the video (best similarity on collisions)."""
    keyword: str
    """That keyword."""
    score: float
    """Its cosine similarity to the video."""


class ItemLabels(BaseModel):
    """Both labellings of one video, and its authored primary value if any."""

    model_config = ConfigDict(frozen=True)

    id: str
    """Video id."""
    retrieval: KeywordHit | None
    """Keyword-retrieval label; None when no keyword retrieved the video."""
    zero_shot: ValueProfile
    """Softmaxed similarity to each value's prototype (sums to 1)."""
    zero_shot_top1: Value
    """The highest zero-shot value."""
    authored_primary: str | None
    """The corpus's own primary value (None: unlabelled or near-neutral)."""


class LabelReport(BaseModel):
    """Labels for a corpus and their agreement with authored labels."""

    model_config = ConfigDict(frozen=True)

    corpus: str
    """Corpus name."""
    embedder: dict[str, Any]
    """Embedder description."""
    k: int
    """Videos per keyword."""
    temperature: float
    """Softmax temperature."""
    n_items: int
    """Videos in the corpus."""
    n_authored: int
    """Videos with an authored primary value."""
    top1_agreement: float | None
    """Share of authored videos whose zero-shot top-1 equals the authored primary (None: none)."""
    per_value: dict[str, float | None]
    """Per authored primary value: the share whose zero-shot top-1 agrees."""
    retrieval_precision: float | None
    """Share of (keyword, retrieved authored video) pairs whose authored primary equals the
    keyword's value."""
    retrieval_agreement: float | None
    """Share of retrieval-labelled authored videos whose label equals the authored primary."""
    coverage: float
    """Share of videos that got a retrieval label."""
    items: list[ItemLabels]
    """Per-video labels, in corpus order."""


def value_prototypes(embedder: Embedder, keywords: ValueKeywords) -> np.ndarray:
    """``(10, dim)``: per value, the normalised mean of its description and keyword vectors."""
    rows = []
    for v in VALUES:
        spec = keywords.values[v]
        vecs = embedder.embed_texts([spec.description, *spec.keywords])
        rows.append(vecs.mean(axis=0))
    return l2_normalise(np.stack(rows))


def soft_labels(
    vectors: np.ndarray, prototypes: np.ndarray, temperature: float = DEFAULT_TEMPERATURE
) -> np.ndarray:
    """Row-wise softmax of cosine similarity / temperature: ``(n, 10)``, rows sum to 1."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature!r}")
    logits = (l2_normalise(vectors) @ prototypes.T) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    out: np.ndarray = p / p.sum(axis=1, keepdims=True)
    return out


def keyword_retrieval(
    index: VideoIndex, embedder: Embedder, keywords: ValueKeywords, k: int = DEFAULT_K
) -> tuple[dict[str, KeywordHit], list[tuple[Value, str, str, float]]]:
    """Each keyword retrieves its top ``k``; each video keeps its best-scoring keyword.

    Returns:
        ``(labels, pairs)``: video id -> :class:`KeywordHit`, and every (value, keyword, id,
        score) retrieval, collisions included.
    """
    pairs: list[tuple[Value, str, str, float]] = []
    labels: dict[str, KeywordHit] = {}
    for v in VALUES:
        kws = list(keywords.values[v].keywords)
        for kw, vec in zip(kws, embedder.embed_texts(kws), strict=True):
            for hit in index.query(vec, k=k):
                pairs.append((v, kw, hit.id, hit.score))
                best = labels.get(hit.id)
                if best is None or hit.score > best.score:
                    labels[hit.id] = KeywordHit(value=v, keyword=kw, score=hit.score)
    return labels, pairs


def _share(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def label_corpus(
    corpus: Corpus,
    index: VideoIndex,
    embedder: Embedder,
    *,
    k: int = DEFAULT_K,
    temperature: float = DEFAULT_TEMPERATURE,
    keywords: ValueKeywords | None = None,
) -> LabelReport:
    """Label every video both ways and measure agreement with the authored labels.

    The video vectors are read from ``index`` (built with ``embedder``), not recomputed.
    """
    kw = keywords or load_value_keywords()
    ids = list(corpus.ids)
    vectors = index.get_vectors(ids)
    probs = soft_labels(vectors, value_prototypes(embedder, kw), temperature)
    retrieved, pairs = keyword_retrieval(index, embedder, kw, k)

    items: list[ItemLabels] = []
    per_value_hits = dict.fromkeys(VALUE_IDS, 0)
    per_value_total = dict.fromkeys(VALUE_IDS, 0)
    ret_agree = ret_total = 0
    for row, vid in enumerate(ids):
        video = corpus.get(vid)
        top1 = VALUES[int(np.argmax(probs[row]))]
        authored = video.primary_value
        rl = retrieved.get(vid)
        items.append(
            ItemLabels(
                id=vid,
                retrieval=rl,
                zero_shot=ValueProfile.from_array(probs[row].round(6)),
                zero_shot_top1=top1,
                authored_primary=authored,
            )
        )
        if authored is not None:
            per_value_total[authored] += 1
            per_value_hits[authored] += int(top1.value == authored)
            if rl is not None:
                ret_total += 1
                ret_agree += int(rl.value.value == authored)
    authored_pairs = [
        (v, corpus.get(i).primary_value)
        for v, _, i, _ in pairs
        if i in corpus and corpus.get(i).primary_value is not None
    ]
    n_auth = sum(per_value_total.values())
    return LabelReport(
        corpus=corpus.name,
        embedder=embedder.describe(),
        k=k,
        temperature=temperature,
        n_items=len(ids),
        n_authored=n_auth,
        top1_agreement=_share(sum(per_value_hits.values()), n_auth),
        per_value={v: _share(per_value_hits[v], per_value_total[v]) for v in VALUE_IDS},
        retrieval_precision=_share(sum(a == b for a, b in authored_pairs), len(authored_pairs)),
        retrieval_agreement=_share(ret_agree, ret_total),
        coverage=round(len(retrieved) / len(ids), 4) if ids else 0.0,
        items=items,
    )
