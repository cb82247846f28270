"""Value-Spectrum: measure the human values of vision-language models.

Persona agents browse short-video feeds, like or skip, and are scored against Schwartz value
profiles. Importing this package is cheap: torch, open_clip, chromadb and litellm load only
inside the components that need them.
"""

from value_spectrum.records import Decision, Observation, Outcome, Step, Trajectory, Video
from value_spectrum.values import VALUE_IDS, VALUES, Value, ValueProfile

__version__ = "0.1.0"

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
