"""Loading questionnaire instruments: the project's own portrait items, or a user's file.

The built-in instrument, ``vs-portrait-v1``, holds items written for this toolkit (MIT
licensed, not psychometrically validated). Instruments whose item texts belong to others (such
as PVQ-RR) are not shipped; users who hold the rights load them from a YAML or JSON file of the
same shape (see ``docs/personas.md``).

Example:
    >>> inst = load_instrument(None)
    >>> inst.id, inst.scale_min, inst.scale_max
    ('vs-portrait-v1', 1, 6)
    >>> len(inst.items_for("benevolence")) >= 3
    True
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from value_spectrum.personas._files import (
    DataFileError,
    field_path,
    read_data,
    show_value,
    validation_message,
)
from value_spectrum.personas.questionnaire import Instrument
from value_spectrum.values import VALUE_IDS, parse_value

BUILTIN_INSTRUMENT_ID = "vs-portrait-v1"
"""Id of the default instrument: the toolkit's own portrait items."""

INSTRUMENT_DIR = Path(__file__).parent / "data" / "instruments"
"""Where built-in instrument files live."""


class InstrumentError(DataFileError):
    """An instrument file or id is wrong. The message is one line naming file, field and value."""


def _normalise_items(items: Any, source: str) -> Any:
    """Check item values and ids by hand, so messages point at ``items[i].field``."""
    if not isinstance(items, list):
        return items  # pydantic reports the wrong type
    out: list[Any] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            out.append(item)
            continue
        fixed = dict(item)
        if "value" in fixed:
            raw = fixed["value"]
            try:
                fixed["value"] = parse_value(str(raw)).value
            except ValueError:
                key = str(raw).strip().lower().replace("-", "_").replace(" ", "_")
                close = difflib.get_close_matches(key, VALUE_IDS, n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise InstrumentError(
                    f"{source}: field {field_path(['items', i, 'value'])!r}: unknown value name "
                    f"{str(raw)!r}{hint} (expected one of: {', '.join(VALUE_IDS)})"
                ) from None
        item_id = fixed.get("id")
        if isinstance(item_id, str):
            if item_id in seen:
                raise InstrumentError(
                    f"{source}: field {field_path(['items', i, 'id'])!r}: duplicate item id "
                    f"{item_id!r} (first at items[{seen[item_id]}])"
                )
            seen[item_id] = i
        out.append(fixed)
    return out


def parse_instrument(data: Any, source: str) -> Instrument:
    """Validate parsed YAML/JSON content as an :class:`Instrument`.

    Raises:
        InstrumentError: one line naming the source, the field and the bad value.
    """
    if not isinstance(data, Mapping):
        raise InstrumentError(f"{source}: an instrument must be a mapping (got {show_value(data)})")
    fixed = dict(data)
    if "items" in fixed:
        fixed["items"] = _normalise_items(fixed["items"], source)
    try:
        inst = Instrument.model_validate(fixed)
    except ValidationError as exc:
        raise InstrumentError(validation_message(source, exc)) from None
    for point in inst.anchors:
        if not inst.scale_min <= point <= inst.scale_max:
            raise InstrumentError(
                f"{source}: field {field_path(['anchors', str(point)])!r}: anchor outside the scale "
                f"{inst.scale_min}-{inst.scale_max} (got {point!r})"
            )
    return inst


def load_instrument_file(path: str | Path) -> Instrument:
    """Load an instrument from a YAML or JSON file.

    Raises:
        InstrumentError: a missing or unreadable file, bad YAML, or a schema problem.
    """
    p = Path(path)
    return parse_instrument(read_data(p, InstrumentError), str(p))


@functools.cache
def builtin_instruments() -> tuple[Instrument, ...]:
    """The instruments shipped with the toolkit, sorted by id (loaded once, then cached)."""
    files = sorted(INSTRUMENT_DIR.glob("*.yaml"))
    return tuple(sorted((load_instrument_file(f) for f in files), key=lambda i: i.id))


def load_instrument(spec: str | Path | None = None) -> Instrument:
    """An instrument by built-in id, or from a YAML/JSON file.

    Args:
        spec: ``None`` or ``"vs-portrait-v1"`` for the built-in items; another built-in id; or
            the path of a file with the same shape.

    Raises:
        InstrumentError: an unknown id or a bad file; one line naming file, field and value.
    """
    if spec is None:
        spec = BUILTIN_INSTRUMENT_ID
    text = str(spec)
    if not isinstance(spec, Path):
        by_id = {i.id: i for i in builtin_instruments()}
        if text in by_id:
            return by_id[text]
        if not Path(text).exists() and not text.endswith((".yaml", ".yml", ".json")):
            raise InstrumentError(
                f"unknown instrument {text!r} (built in: {', '.join(sorted(by_id))}; "
                "or pass a YAML/JSON file)"
            )
    return load_instrument_file(text)
