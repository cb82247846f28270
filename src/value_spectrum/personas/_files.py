"""Reading YAML/JSON data files and turning validation failures into one-line messages.

Shared by persona and instrument loading. Every message has the shape
``<file>: field '<path>': <what is wrong> (got <value>)`` so a user can find the spot at once.
"""

from __future__ import annotations

import reprlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from value_spectrum._yaml import AliasBomb, BoundedSafeLoader

_MAX_VALUE_CHARS = 60

_repr = reprlib.Repr()
_repr.maxlevel = 2
_repr.maxstring = _MAX_VALUE_CHARS
_repr.maxother = _MAX_VALUE_CHARS
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 4


class DataFileError(ValueError):
    """A data file could not be read or does not match its schema. The message is one line."""


def one_line(text: str) -> str:
    """Collapse whitespace so a message always fits on one line."""
    return " ".join(str(text).split())


def show_value(value: object) -> str:
    """``repr`` of a bad value, shortened so it never floods the terminal. Only the first few
    items of the first levels are rendered, so the cost is bounded whatever the value holds."""
    text = one_line(_repr.repr(value))
    if len(text) > _MAX_VALUE_CHARS:
        text = text[: _MAX_VALUE_CHARS - 3] + "..."
    return text


def field_path(loc: Sequence[int | str]) -> str:
    """``("personas", 2, "target", "x")`` -> ``personas[2].target.x``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def read_data(path: Path, error: type[DataFileError]) -> Any:
    """Parse a YAML or JSON file (JSON is a subset of YAML) with the safe loader.

    Raises:
        error: the file is missing, unreadable, or not valid YAML; one line naming the file.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read ({one_line(str(exc))})") from None
    try:
        return yaml.load(text, Loader=BoundedSafeLoader)  # noqa: S506 - a SafeLoader
    except AliasBomb as exc:
        raise error(f"{path}: {exc}") from None
    except RecursionError:
        raise error(f"{path}: refused: nested too deeply") from None
    except ValueError as exc:  # a scalar the constructor cannot build (a 5,000-digit integer)
        raise error(f"{path}: invalid YAML value: {show_value(one_line(str(exc)))}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise error(f"{path}: invalid YAML{where}: {one_line(str(problem))}") from None


def validation_message(source: str, exc: ValidationError, prefix: Sequence[int | str] = ()) -> str:
    """The first error of a pydantic :class:`ValidationError` as one line.

    Args:
        source: the file name (or other origin) to start the message with.
        exc: the validation error.
        prefix: location of the validated object inside the file (e.g. ``("personas", 3)``).
    """
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = [*prefix, *first.get("loc", ())]
    msg = one_line(first.get("msg", "invalid"))
    kind = first.get("type", "")
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    got = first.get("input")
    if not loc:
        text = f"{source}: {msg}"
    elif kind == "missing":
        text = f"{source}: field {field_path(loc)!r}: required field is missing"
    elif kind == "extra_forbidden":
        text = f"{source}: field {field_path(loc)!r}: unknown field"
    elif isinstance(got, dict):  # a model-level check: the message names the culprit
        text = f"{source}: field {field_path(loc)!r}: {msg}"
    else:
        text = f"{source}: field {field_path(loc)!r}: {msg} (got {show_value(got)})"
    if len(errors) > 1:
        text += f" [+{len(errors) - 1} more]"
    return text
