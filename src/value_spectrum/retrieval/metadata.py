"""Metadata for imported media: a same-name JSON sidecar or a row of a CSV / JSONL manifest,
validated into the fields of a :class:`~value_spectrum.records.Video`.

Accepted fields are the Video fields a person would write (``id``, ``platform``, ``creator``,
``title``, ``caption``, ``hashtags``, ``on_screen_text``, ``description``, ``transcript``,
``duration_s``, ``topic``, ``values``); value labels come either as a ``values`` object
(value id -> relevance in [0, 1], missing values 0.0) or as ``value_<id>`` columns. The media
fields (``keyframes``, ``video_path``, ``source``) are set by the importer and refused here.
"""

from __future__ import annotations

import csv
import json
import re
import reprlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from value_spectrum.records import Video
from value_spectrum.values import ValueProfile, parse_value

IMPORTER_FIELDS = frozenset({"keyframes", "video_path", "source"})
"""Video fields the importer sets itself."""

METADATA_FIELDS = frozenset(Video.model_fields) - IMPORTER_FIELDS
"""Fields a sidecar or manifest may set."""

FILE_COLUMNS = ("file", "path")
"""Manifest columns that name the media file, relative to the imported folder."""

VALUE_PREFIX = "value_"
"""Prefix of per-value columns (``value_security``, ...)."""

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
"""Ids must be safe as folder names: letters, digits, '.', '_' and '-'."""


_repr = reprlib.Repr()
_repr.maxlevel = 2
_repr.maxstring = _repr.maxother = 60
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 4


def _show(value: object) -> str:
    """A user's value for a message: ``repr``, a few items and 60 characters at most."""
    return " ".join(_repr.repr(value).split())


class MetadataError(ValueError):
    """One item's metadata is invalid; the message names the field and the value."""


def _values(raw: object, where: str) -> dict[str, float]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise MetadataError(
                f"{where}field 'values': expected a JSON object, got {_show(raw)}"
            ) from None
    if not isinstance(raw, Mapping):
        raise MetadataError(
            f"{where}field 'values': expected an object of value -> relevance, got {_show(raw)}"
        )
    out: dict[str, float] = {}
    for name, number in raw.items():
        try:
            key = parse_value(str(name)).value
        except ValueError as exc:
            raise MetadataError(f"{where}field 'values': {exc}") from None
        out[key] = _relevance(number, f"{where}field 'values.{name}'")
    return out


def _relevance(number: object, label: str) -> float:
    if isinstance(number, str):
        try:
            number = float(number)
        except ValueError:
            raise MetadataError(f"{label}: expected a number in [0, 1], got {_show(number)}") from None
    if isinstance(number, bool) or not isinstance(number, int | float):
        raise MetadataError(f"{label}: expected a number in [0, 1], got {_show(number)}")
    if not 0.0 <= float(number) <= 1.0:
        raise MetadataError(f"{label}: relevance must be in [0, 1], got {_show(number)}")
    return float(number)


def normalise_metadata(raw: Mapping[str, Any], where: str = "") -> dict[str, Any]:
    """Check names and label values of one item's metadata and return Video-ready fields.

    Field types are checked later, when the Video is built (see :func:`build_video`).

    Args:
        raw: Field -> value, from a sidecar or a manifest row (file column removed).
        where: Prefix for messages, e.g. ``"clip.json: "``.

    Raises:
        MetadataError: an unknown field, a field the importer sets, an unknown value name,
            or a relevance that is not a number in [0, 1].
    """
    data: dict[str, Any] = {}
    labels: dict[str, float] = {}
    for key, item in raw.items():
        name = str(key)
        if name in IMPORTER_FIELDS:
            raise MetadataError(f"{where}field {_show(name)} is set by the importer, not by metadata")
        if name == "values":
            if item is not None:
                labels.update(_values(item, where))
        elif name.startswith(VALUE_PREFIX):
            try:
                value = parse_value(name[len(VALUE_PREFIX) :]).value
            except ValueError as exc:
                raise MetadataError(f"{where}field {_show(name)}: {exc}") from None
            labels[value] = _relevance(item, f"{where}field {_show(name)}")
        elif name in METADATA_FIELDS:
            data[name] = item
        else:
            raise MetadataError(
                f"{where}unknown field {_show(name)}; expected one of: {', '.join(sorted(METADATA_FIELDS))}"
            )
    if labels:
        data["values"] = ValueProfile.from_mapping(labels, default=0.0)
    if "id" in data:
        ident = data["id"]
        if not isinstance(ident, str) or not ID_PATTERN.match(ident):
            raise MetadataError(
                f"{where}field 'id': must be letters, digits, '.', '_' or '-' (at most 128), got {_show(ident)}"
            )
    return data


def read_sidecar(path: Path) -> dict[str, Any]:
    """Read and check a JSON sidecar.

    Raises:
        MetadataError: unreadable or invalid JSON, not an object, or a bad field (the message
            starts with the sidecar's name).
    """
    where = f"sidecar {path.name}: "
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise MetadataError(f"{where}unreadable ({exc})") from None
    except json.JSONDecodeError as exc:
        raise MetadataError(f"{where}invalid JSON at line {exc.lineno}: {exc.msg}") from None
    except RecursionError:
        raise MetadataError(f"{where}nested too deeply") from None
    if not isinstance(raw, dict):
        raise MetadataError(f"{where}expected a JSON object, got {type(raw).__name__}")
    return normalise_metadata(raw, where)


def _csv_cell(name: str, cell: str) -> Any:
    """CSV cells are text: hashtags may be a JSON list or words separated by spaces/commas."""
    if name == "hashtags":
        text = cell.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                raise MetadataError(f"field 'hashtags': invalid JSON list {_show(cell)}") from None
        return [t for t in re.split(r"[\s,]+", text) if t]
    return cell


class ManifestRow:
    """One manifest entry: the media file it names and its raw fields."""

    def __init__(self, where: str, file: str, fields: dict[str, Any]) -> None:
        self.where = where
        """``manifest.csv:3``, for messages."""
        self.file = file
        """The media path relative to the imported folder, with '/' separators."""
        self.fields = fields
        """The other columns, not yet checked."""


def _csv_records(
    reader: csv.DictReader[str], path: Path, bad: list[tuple[str, str]]
) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line number, row)`` for every readable row; a row the CSV parser refuses (a field
    over its size limit, a NUL byte) is reported in ``bad`` and skipped."""
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            bad.append((f"{path.name}:{reader.line_num + 1}", f"unreadable CSV row ({exc})"))
            continue
        yield reader.line_num, record


def read_manifest(path: Path) -> tuple[list[ManifestRow], list[tuple[str, str]]]:
    """Read a CSV (``.csv``) or JSON Lines (``.jsonl``) manifest.

    Returns:
        The rows, and ``(where, reason)`` for lines that could not be read at all.

    Raises:
        MetadataError: the file is unreadable, of an unknown kind, lacks a ``file`` column,
            or its header has an unknown column (a manifest-wide problem).
    """
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8-sig").replace("\0", "")
    except (OSError, UnicodeDecodeError) as exc:
        raise MetadataError(f"{path}: unreadable manifest ({exc})") from None
    rows: list[ManifestRow] = []
    bad: list[tuple[str, str]] = []
    if suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        header = reader.fieldnames or []
        key = next((c for c in FILE_COLUMNS if c in header), None)
        if key is None:
            raise MetadataError(f"{path}: manifest needs a 'file' column naming each media file")
        for column in header:
            if column in FILE_COLUMNS or column in METADATA_FIELDS or column == "values":
                continue
            if column.startswith(VALUE_PREFIX):
                try:
                    parse_value(column[len(VALUE_PREFIX) :])
                    continue
                except ValueError as exc:
                    raise MetadataError(f"{path}: column {_show(column)}: {exc}") from None
            raise MetadataError(f"{path}: unknown column {_show(column)}")
        for lineno, record in _csv_records(reader, path, bad):
            where = f"{path.name}:{lineno}"
            try:
                fields = {
                    k: _csv_cell(k, v)
                    for k, v in record.items()
                    if k and k != key and v not in (None, "")
                }
            except MetadataError as exc:
                bad.append((where, str(exc)))
                continue
            if not record.get(key):
                bad.append((where, f"empty {key!r} column"))
                continue
            rows.append(ManifestRow(where, record[key].strip().replace("\\", "/"), fields))
    elif suffix in (".jsonl", ".ndjson"):
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{lineno}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                bad.append((where, f"invalid JSON: {exc.msg}"))
                continue
            except RecursionError:
                bad.append((where, "invalid JSON: nested too deeply"))
                continue
            if not isinstance(obj, dict):
                bad.append((where, f"expected a JSON object, got {type(obj).__name__}"))
                continue
            key = next((c for c in FILE_COLUMNS if c in obj), None)
            if key is None or not isinstance(obj[key], str) or not obj[key]:
                bad.append((where, "missing 'file' field naming the media file"))
                continue
            fields = {k: v for k, v in obj.items() if k != key}
            rows.append(ManifestRow(where, obj[key].strip().replace("\\", "/"), fields))
    else:
        raise MetadataError(
            f"{path}: manifest must be .csv or .jsonl, got {suffix or 'no suffix'!r}"
        )
    return rows, bad


def build_video(fields: Mapping[str, Any], where: str = "") -> Video:
    """Build the Video, turning the first type error into a one-line :class:`MetadataError`."""
    from pydantic import ValidationError

    try:
        return Video.model_validate(dict(fields))
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "<item>"
        raise MetadataError(
            f"{where}field {field!r}: {err['msg']} (got {_show(err.get('input'))})"
        ) from None
