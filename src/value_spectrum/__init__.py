"""Value-Spectrum: measure the human values of vision-language models.

Persona agents browse short-video feeds, like or skip, and are scored against Schwartz value
profiles. Importing this package is cheap: every public name (the records, the values, the run
API) loads on first use; torch, open_clip, chromadb and litellm only inside the components that
need them (``value-spectrum --help`` needs neither numpy nor pydantic).

Example:
    >>> import value_spectrum as vs
    >>> # run = vs.simulate(personas=["family_oriented"], steps=20)
    >>> # vs.score(run).to_dict()["groups"]
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    __version__: str
    from value_spectrum.api import (
        Run,
        abench_preference,
        afork,
        aprobe,
        asimulate,
        bench_preference,
        estimate_preference,
        estimate_probe,
        export,
        fork,
        probe,
        score,
        simulate,
    )
    from value_spectrum.records import Decision, Observation, Outcome, Step, Trajectory, Video
    from value_spectrum.runlog import RunLog
    from value_spectrum.runner.config import GatewayConfig, RunConfig
    from value_spectrum.runner.estimate import Estimate, estimate
    from value_spectrum.runner.plan import Plan
    from value_spectrum.scoring.report_model import Report
    from value_spectrum.values import VALUE_IDS, VALUES, Value, ValueProfile

_LAZY: dict[str, str] = {
    **dict.fromkeys(("Decision", "Observation", "Outcome", "Step", "Trajectory", "Video"), "value_spectrum.records"),
    **dict.fromkeys(("VALUE_IDS", "VALUES", "Value", "ValueProfile"), "value_spectrum.values"),
    **dict.fromkeys(
        ("Run", "abench_preference", "afork", "aprobe", "asimulate", "bench_preference", "estimate_preference",
         "estimate_probe", "export", "fork", "probe", "score", "simulate"),
        "value_spectrum.api",
    ),
    "RunLog": "value_spectrum.runlog",
    "GatewayConfig": "value_spectrum.runner.config",
    "RunConfig": "value_spectrum.runner.config",
    "Plan": "value_spectrum.runner.plan",
    "Estimate": "value_spectrum.runner.estimate",
    "estimate": "value_spectrum.runner.estimate",
    "Report": "value_spectrum.scoring.report_model",
}
"""Public names loaded on first access (``import value_spectrum`` stays cheap)."""


def _version() -> str:
    """The installed distribution's version (read on first access: no file I/O at import)."""
    from importlib import metadata

    try:
        return metadata.version("value-spectrum")
    except metadata.PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value: Any = _version()
    elif name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | {"__version__"})


__all__ = [
    "VALUES",
    "VALUE_IDS",
    "Decision",
    "Estimate",
    "GatewayConfig",
    "Observation",
    "Outcome",
    "Plan",
    "Report",
    "Run",
    "RunConfig",
    "RunLog",
    "Step",
    "Trajectory",
    "Value",
    "ValueProfile",
    "Video",
    "__version__",
    "abench_preference",
    "afork",
    "aprobe",
    "asimulate",
    "bench_preference",
    "estimate",
    "estimate_preference",
    "estimate_probe",
    "export",
    "fork",
    "probe",
    "score",
    "simulate",
]
