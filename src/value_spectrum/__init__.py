"""Value-Spectrum: measure the human values of vision-language models.

Persona agents browse short-video feeds, like or skip, and are scored against Schwartz value
profiles. Importing this package is cheap: torch, open_clip, chromadb and litellm load only
inside the components that need them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from value_spectrum.records import Decision, Observation, Outcome, Step, Trajectory, Video
    from value_spectrum.values import VALUE_IDS, VALUES, Value, ValueProfile

__version__ = "0.1.0"

_LAZY = {
    **dict.fromkeys(("Decision", "Observation", "Outcome", "Step", "Trajectory", "Video"), "records"),
    **dict.fromkeys(("VALUE_IDS", "VALUES", "Value", "ValueProfile"), "values"),
}
"""Names loaded on first use (numpy and pydantic are not needed by ``value-spectrum --help``)."""


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"value_spectrum.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "VALUES",
    "VALUE_IDS",
    "Decision",
    "Observation",
    "Outcome",
    "Step",
    "Trajectory",
    "Value",
    "ValueProfile",
    "Video",
    "__version__",
]
