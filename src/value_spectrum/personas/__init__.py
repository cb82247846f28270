"""Personas (who the viewer is asked to be), their YAML files, the built-in library, and
questionnaire instruments.

Example:
    >>> from value_spectrum.personas import get_persona
    >>> get_persona("adventurous_spirit").target.primary().value
    'stimulation'
"""

from value_spectrum.personas.instruments import (
    BUILTIN_INSTRUMENT_ID,
    InstrumentError,
    builtin_instruments,
    load_instrument,
)
from value_spectrum.personas.loading import (
    FileCheck,
    PersonaError,
    builtin_persona_ids,
    check_file,
    get_persona,
    load_builtin_personas,
    load_personas,
    persona_record,
)
from value_spectrum.personas.model import Persona
from value_spectrum.personas.questionnaire import Instrument, Item

__all__ = [
    "BUILTIN_INSTRUMENT_ID",
    "FileCheck",
    "Instrument",
    "InstrumentError",
    "Item",
    "Persona",
    "PersonaError",
    "builtin_instruments",
    "builtin_persona_ids",
    "check_file",
    "get_persona",
    "load_builtin_personas",
    "load_instrument",
    "load_personas",
    "persona_record",
]
