"""Writing proposed value labels into an imported corpus (``corpus label --write``).

:func:`write_labels` turns a :class:`~value_spectrum.retrieval.labelling.LabelReport` into
labels in ``corpus.jsonl`` (replaced atomically; authored labels kept unless ``overwrite``) and
records how they were made in ``labels-provenance.json`` beside it, so the card format stays
as it is. That file is also how a later write tells its own labels from authored ones.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from value_spectrum.records import Video
from value_spectrum.retrieval._files import atomic_write_text
from value_spectrum.retrieval.corpus import CORPUS_FILE, DEMO, Corpus, read_corpus_dir
from value_spectrum.retrieval.labelling import ItemLabels, LabelReport
from value_spectrum.values import ValueProfile

log = logging.getLogger(__name__)

PROVENANCE_FILE = "labels-provenance.json"
"""Written next to ``corpus.jsonl`` by :func:`write_labels`: how the labels were made."""

LabelSource = Literal["zero-shot", "retrieval", "both"]
"""Which labelling :func:`write_labels` writes (see :func:`proposed_labels`)."""
LABEL_SOURCES: tuple[LabelSource, ...] = ("zero-shot", "retrieval", "both")
DEFAULT_SOURCE: LabelSource = "zero-shot"
"""Zero-shot: every video gets a graded profile; retrieval leaves unretrieved videos out."""


class LabelWriteError(ValueError):
    """Labels could not be written; the message names the file and the reason."""


class LabelWriteResult(BaseModel):
    """What :func:`write_labels` did."""

    model_config = ConfigDict(frozen=True)

    corpus_file: str
    """The ``corpus.jsonl`` written (or left as it was)."""
    provenance_file: str
    """The provenance file next to it."""
    source: LabelSource
    """Which labelling was written."""
    written: int
    """Videos whose labels were set or changed."""
    unchanged: int
    """Videos that already carried exactly the proposed labels."""
    kept_authored: int
    """Videos whose authored labels were kept (no ``overwrite``)."""
    no_proposal: int
    """Videos the chosen source proposes nothing for (``retrieval``: no keyword retrieved them)."""
    cleared: int
    """Videos whose labels from an earlier write were removed because this source has none."""
    changed_files: bool
    """False when nothing needed writing (a re-run with the same settings)."""
    content_hash: str
    """The corpus content hash after writing (labels are part of it)."""
    labels: dict[str, dict[str, float] | None] = {}
    """Video id -> the ten value labels this write set (or found already set, ``unchanged``);
    None for labels it cleared. Videos whose authored labels were kept are not listed."""


def relevance_profile(soft: ValueProfile) -> ValueProfile:
    """Zero-shot probabilities as relevance in [0, 1]: each divided by the largest.

    The top value gets 1.0 and the others ``exp(-(s_top - s) / temperature)``, so the profile
    reads like authored labels (primary value at or above 0.5) instead of a distribution whose
    top is often below 0.5.
    """
    arr = soft.as_array()
    return ValueProfile.from_array((arr / arr.max()).round(4))


def proposed_labels(item: ItemLabels, source: LabelSource) -> ValueProfile | None:
    """The labels :func:`write_labels` writes for one video.

    * ``zero-shot``: :func:`relevance_profile` of the soft labels (every video).
    * ``retrieval``: 1.0 for the retrieved value, 0 elsewhere; None when no keyword retrieved
      the video.
    * ``both``: the mean of the two where retrieval labelled the video (the retrieved value is
      then the primary one), else the zero-shot profile.
    """
    zs = relevance_profile(item.zero_shot)
    if source == "zero-shot":
        return zs
    hit = item.retrieval
    if hit is None:
        return None if source == "retrieval" else zs
    onehot = ValueProfile.from_mapping({hit.value: 1.0}, default=0.0)
    if source == "retrieval":
        return onehot
    return ValueProfile.from_array(((zs.as_array() + onehot.as_array()) / 2).round(4))


def _read_provenance(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("items"), dict):
            raise ValueError("field 'items' missing or not an object")
    except (OSError, ValueError) as exc:
        raise LabelWriteError(
            f"{path}: unreadable ({str(exc).splitlines()[0]}); delete it to treat every "
            "labelled video as authored"
        ) from None
    return data


def _settings(doc: dict[str, Any]) -> dict[str, Any]:
    """The part of a provenance document that identifies the labelling (not its date)."""
    keys = ("source", "embedder", "k", "temperature", "keywords", "content_hash", "items")
    return {k: doc.get(k) for k in keys}


def write_labels(
    corpus_dir: str | Path,
    report: LabelReport,
    *,
    source: LabelSource = DEFAULT_SOURCE,
    overwrite: bool = False,
    keywords_file: str | Path | None = None,
    now: datetime | None = None,
) -> LabelWriteResult:
    """Write ``report``'s proposed labels into a corpus directory's ``corpus.jsonl``.

    Authored labels (any labels this function did not write, e.g. from an import sidecar) are
    kept unless ``overwrite``; labels from an earlier write are replaced (or cleared when the
    new source proposes nothing). ``corpus.jsonl`` is replaced atomically, lines of untouched
    videos byte for byte; ``labels-provenance.json`` next to it records the source, embedder,
    ``k``, temperature, keyword file, date and every written video's labels. A re-run with the
    same settings changes no file.

    Args:
        corpus_dir: A corpus directory (not the demo corpus, whose labels are authored).
        report: :func:`label_corpus` over this same corpus.
        source: Which labelling to write (see :func:`proposed_labels`).
        overwrite: Replace authored labels too.
        keywords_file: The keyword file the report used (None: the built-in one), for provenance.
        now: The time recorded (default: now, UTC).

    Raises:
        LabelWriteError: the demo corpus, a corpus that changed since ``report``, or an
            unreadable provenance file.
        CorpusError: ``corpus_dir`` is not a valid corpus directory.
    """
    if source not in LABEL_SOURCES:
        raise LabelWriteError(f"source: expected one of {', '.join(LABEL_SOURCES)}, got {source!r}")
    if str(corpus_dir) == DEMO:
        raise LabelWriteError(
            "the demo corpus's labels are authored and ship with the package; "
            "write labels into an imported corpus directory"
        )
    root = Path(corpus_dir)
    card_file, prov_file = root / CORPUS_FILE, root / PROVENANCE_FILE
    original = card_file.read_text(encoding="utf-8") if card_file.is_file() else ""
    corpus = read_corpus_dir(root)
    by_id = {it.id: it for it in report.items}
    if set(by_id) != set(corpus.ids):
        raise LabelWriteError(
            f"{card_file}: its videos differ from the labelled ones (changed since labelling?); "
            "label again"
        )
    previous = _read_provenance(prov_file)
    machine: dict[str, Any] = previous["items"] if previous else {}

    counts = dict.fromkeys(("written", "unchanged", "kept_authored", "no_proposal", "cleared"), 0)
    new_labels: dict[str, ValueProfile | None] = {}
    prov_items: dict[str, Any] = {}
    applied: dict[str, dict[str, float] | None] = {}
    for video in corpus:
        item, current = by_id[video.id], video.values
        ours = (
            current is not None
            and isinstance(machine.get(video.id), dict)
            and machine[video.id].get("labels") == current.as_dict()
        )
        proposal = proposed_labels(item, source)
        new: ValueProfile | None = current
        if current is not None and not ours and not overwrite:
            counts["kept_authored"] += 1
        elif proposal is None:
            counts["no_proposal"] += 1
            if ours:
                new = None
                counts["cleared"] += 1
                applied[video.id] = None
        else:
            new = proposal
            prov_items[video.id] = {
                "labels": proposal.as_dict(),
                "zero_shot_top1": item.zero_shot_top1.value,
                # the score rounded: the index's float32 search wobbles in the last digits
                "retrieval": None
                if item.retrieval is None
                else item.retrieval.model_dump(mode="json")
                | {"score": round(item.retrieval.score, 4)},
            }
            counts["unchanged" if new == current else "written"] += 1
            applied[video.id] = proposal.as_dict()
        new_labels[video.id] = new

    labelled = Corpus(
        corpus.name,
        [v.model_copy(update={"values": new_labels[v.id]}) for v in corpus],
        root=corpus.root,
    )
    doc: dict[str, Any] = {
        "version": 1,
        "written_at": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
        "corpus": corpus.name,
        "content_hash": labelled.content_hash(),
        "source": source,
        "embedder": report.embedder,
        "k": report.k,
        "temperature": report.temperature,
        "keywords": "built-in" if keywords_file is None else str(keywords_file),
        "overwrite": overwrite,
        "counts": counts,
        "items": prov_items,
    }
    corpus_changes = counts["written"] + counts["cleared"] > 0
    changed = corpus_changes or previous is None or _settings(previous) != _settings(doc)
    if corpus_changes and card_file.read_text(encoding="utf-8") != original:
        raise LabelWriteError(f"{card_file}: changed while labelling; label again")
    if changed:
        # provenance first: a crash between the two leaves our labels unwritten, never
        # our labels unlisted (which would make them look authored)
        atomic_write_text(prov_file, json.dumps(doc, indent=1) + "\n")
    if corpus_changes:
        lines = []
        for raw in original.splitlines():
            if not raw.strip():
                continue
            video = Video.model_validate_json(raw)
            if new_labels[video.id] == video.values:
                lines.append(raw)
            else:
                lines.append(
                    video.model_copy(update={"values": new_labels[video.id]}).model_dump_json()
                )
        atomic_write_text(card_file, "".join(f"{line}\n" for line in lines))
    log.info("labels for %s: %s", corpus.name, counts)
    return LabelWriteResult(
        corpus_file=str(card_file),
        provenance_file=str(prov_file),
        source=source,
        changed_files=changed,
        content_hash=labelled.content_hash(),
        labels=applied,
        **counts,
    )
