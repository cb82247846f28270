"""Loading personas from YAML/JSON files, and the built-in persona library.

A persona file holds one persona (a mapping with ``id``, ``name``, ``traits``, ``target``, ...)
or several under a ``personas:`` list (a bare top-level list works too). The ``target`` must
name all ten values, each a number in [0, 1]; value names may be written ``self_direction``,
``self-direction`` or ``Self Direction``.

Every failure is a :class:`PersonaError` whose message is one line naming the file, the field
and the bad value::

    my.yaml: field 'target.benevolance': unknown value name 'benevolance'; did you mean
    'benevolence'? (expected one of: self_direction, stimulation, ...)

Example:
    >>> lib = load_builtin_personas()
    >>> len(lib) >= 24
    True
    >>> get_persona("family_oriented").target.primary().value
    'benevolence'
"""

from __future__ import annotations

import difflib
import functools
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
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
from value_spectrum.personas.model import Persona
from value_spectrum.values import VALUE_IDS, ValueProfile, parse_value

logger = logging.getLogger(__name__)

BUILTIN_DIR = Path(__file__).parent / "data" / "personas"
"""Where the built-in persona library lives (one YAML file per persona)."""

PERSONA_SUFFIXES = (".yaml", ".yml", ".json")
"""File name endings treated as persona files."""


class PersonaError(DataFileError):
    """A persona file or id is wrong. The message is one line naming file, field and value."""


@dataclass(frozen=True)
class FileCheck:
    """The outcome of checking one persona file: what loaded, and every problem found."""

    path: Path
    """The file checked."""
    personas: tuple[Persona, ...]
    """Personas that validated."""
    problems: tuple[str, ...]
    """One line per problem; empty when the whole file is valid."""

    @property
    def ok(self) -> bool:
        """True when the file had no problem at all."""
        return not self.problems


# ---- one persona ---------------------------------------------------------------------------
def _suggest(name: str) -> str:
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    close = difflib.get_close_matches(key, VALUE_IDS, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _target(raw: Any, source: str, loc: list[int | str]) -> ValueProfile:
    """Validate a ``target`` mapping by hand, so each message names the exact value."""
    where = [*loc, "target"]
    if not isinstance(raw, Mapping):
        raise PersonaError(
            f"{source}: field {field_path(where)!r}: must be a mapping of value name to number "
            f"(got {show_value(raw)})"
        )
    numbers: dict[str, float] = {}
    for key, number in raw.items():
        here = field_path([*where, str(key)])
        try:
            value_id = parse_value(str(key)).value
        except ValueError:
            raise PersonaError(
                f"{source}: field {here!r}: unknown value name {str(key)!r}{_suggest(str(key))} "
                f"(expected one of: {', '.join(VALUE_IDS)})"
            ) from None
        if value_id in numbers:
            raise PersonaError(f"{source}: field {here!r}: value {value_id!r} given twice")
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise PersonaError(
                f"{source}: field {here!r}: must be a number in [0, 1] (got {show_value(number)})"
            )
        if not (math.isfinite(number) and 0.0 <= number <= 1.0):
            raise PersonaError(
                f"{source}: field {here!r}: must be a number in [0, 1] (got {show_value(number)})"
            )
        numbers[value_id] = float(number)
    missing = [v for v in VALUE_IDS if v not in numbers]
    if missing:
        raise PersonaError(
            f"{source}: field {field_path(where)!r}: missing values: {', '.join(missing)} "
            "(all ten values are required)"
        )
    return ValueProfile(**numbers)


def parse_persona(raw: Any, source: str, loc: Sequence[int | str] = ()) -> Persona:
    """Validate one persona mapping.

    Args:
        raw: the parsed YAML/JSON mapping.
        source: the file name, for messages.
        loc: where the mapping sits inside the file, e.g. ``("personas", 2)``.

    Raises:
        PersonaError: one line naming file, field and bad value.
    """
    where = list(loc)
    if not isinstance(raw, Mapping):
        label = f"field {field_path(where)!r}: " if where else ""
        raise PersonaError(f"{source}: {label}a persona must be a mapping (got {show_value(raw)})")
    data = dict(raw)
    if "target" in data:
        data["target"] = _target(data["target"], source, where)
    try:
        return Persona.model_validate(data)
    except ValidationError as exc:
        raise PersonaError(validation_message(source, exc, where)) from None


# ---- files ---------------------------------------------------------------------------------
def _entries(data: Any, source: str) -> list[tuple[list[int | str], Any]]:
    """Split parsed file content into (location, persona mapping) pairs."""
    if isinstance(data, Mapping) and "personas" in data:
        extra = sorted(str(k) for k in data if k != "personas")
        if extra:
            raise PersonaError(f"{source}: field {extra[0]!r}: unknown top-level field")
        items = data["personas"]
        if not isinstance(items, list) or not items:
            raise PersonaError(
                f"{source}: field 'personas': must be a non-empty list (got {show_value(items)})"
            )
        return [(["personas", i], item) for i, item in enumerate(items)]
    if isinstance(data, list):
        if not data:
            raise PersonaError(f"{source}: the file holds an empty list")
        return [([i], item) for i, item in enumerate(data)]
    if isinstance(data, Mapping):
        return [([], data)]
    if data is None:
        raise PersonaError(f"{source}: the file is empty")
    raise PersonaError(f"{source}: expected a persona mapping or a 'personas:' list")


def check_data(data: Any, source: str) -> tuple[tuple[Persona, ...], tuple[str, ...]]:
    """Validate every persona in parsed file content, collecting all problems.

    One bad persona does not hide the others: each is validated on its own, and duplicate ids
    are reported too.

    Returns:
        The valid personas and one message per problem.
    """
    try:
        entries = _entries(data, source)
    except PersonaError as exc:
        return (), (str(exc),)
    personas: list[Persona] = []
    problems: list[str] = []
    seen: dict[str, str] = {}
    for loc, raw in entries:
        try:
            persona = parse_persona(raw, source, loc)
        except PersonaError as exc:
            problems.append(str(exc))
            continue
        here = field_path([*loc, "id"])
        if persona.id in seen:
            problems.append(
                f"{source}: field {here!r}: duplicate persona id {persona.id!r} "
                f"(first at {seen[persona.id]!r})"
            )
            continue
        seen[persona.id] = here
        personas.append(persona)
    return tuple(personas), tuple(problems)


def check_file(path: str | Path) -> FileCheck:
    """Check a persona file without raising: every problem becomes a line in the result."""
    p = Path(path)
    try:
        data = read_data(p, PersonaError)
    except PersonaError as exc:
        return FileCheck(path=p, personas=(), problems=(str(exc),))
    personas, problems = check_data(data, str(p))
    return FileCheck(path=p, personas=personas, problems=problems)


def load_personas(path: str | Path) -> tuple[Persona, ...]:
    """Load all personas from one YAML/JSON file.

    Raises:
        PersonaError: the first problem in the file (use :func:`check_file` to see all).
    """
    result = check_file(path)
    if result.problems:
        raise PersonaError(result.problems[0])
    return result.personas


def load_persona_files(paths: Iterable[str | Path]) -> tuple[Persona, ...]:
    """Load personas from several files; ids must be unique across them.

    Raises:
        PersonaError: the first problem, or an id defined in two files.
    """
    out: list[Persona] = []
    origin: dict[str, Path] = {}
    for path in paths:
        for persona in load_personas(path):
            if persona.id in origin:
                raise PersonaError(
                    f"{path}: field 'id': duplicate persona id {persona.id!r} "
                    f"(also in {origin[persona.id]})"
                )
            origin[persona.id] = Path(path)
            out.append(persona)
    return tuple(out)


# ---- the built-in library ------------------------------------------------------------------
@functools.cache
def load_builtin_personas() -> tuple[Persona, ...]:
    """The built-in persona library, sorted by id (loaded once, then cached)."""
    files = sorted(p for p in BUILTIN_DIR.iterdir() if p.suffix in PERSONA_SUFFIXES)
    personas = load_persona_files(files)
    logger.debug("loaded %d built-in personas from %s", len(personas), BUILTIN_DIR)
    return tuple(sorted(personas, key=lambda p: p.id))


def builtin_persona_ids() -> tuple[str, ...]:
    """Ids of the built-in personas, sorted."""
    return tuple(p.id for p in load_builtin_personas())


def _looks_like_path(spec: str) -> bool:
    return spec.endswith(PERSONA_SUFFIXES) or "/" in spec or "\\" in spec


def get_persona(id_or_path: str | Path) -> Persona:
    """A built-in persona by id, or the single persona in a YAML/JSON file.

    Raises:
        PersonaError: unknown id (with close matches), a bad file, or a file holding several
            personas (load those with :func:`load_personas`).
    """
    spec = str(id_or_path)
    path = Path(spec)
    if isinstance(id_or_path, Path) or _looks_like_path(spec) or path.is_file():
        personas = load_personas(path)
        if len(personas) != 1:
            ids = ", ".join(p.id for p in personas)
            raise PersonaError(
                f"{path}: holds {len(personas)} personas ({ids}); expected exactly one"
            )
        return personas[0]
    by_id = {p.id: p for p in load_builtin_personas()}
    if spec in by_id:
        return by_id[spec]
    close = difflib.get_close_matches(spec, list(by_id), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise PersonaError(
        f"unknown persona {spec!r}{hint} (see `value-spectrum personas list`, or pass a YAML file)"
    )


def persona_record(persona: Persona) -> dict[str, Any]:
    """A plain JSON-ready dict: ``id``, ``name``, ``description``, ``tags``, ``traits``,
    ``values`` (value id -> number, all ten, circle order), ``top_values`` and
    ``demographics``. The shape ``value-spectrum personas list --json`` prints."""
    return {
        "id": persona.id,
        "name": persona.name,
        "description": persona.description,
        "tags": list(persona.tags),
        "traits": list(persona.traits),
        "values": persona.target.as_dict(),
        "top_values": [v.value for v in persona.target.top_k(3)],
        "demographics": dict(persona.demographics),
    }
