"""The Value-Spectrum paper's published figures, shipped for side-by-side comparison.

Source: Li, Yang, Yang, Zhang, Wu, "Value-Spectrum: Quantifying Preferences of Vision-Language
Models via Value Decomposition in Social Media Contexts", ACL 2025 (arXiv 2411.11479). The numbers
were read off the authors' result figures, so each is approximate (about +-1 point); see
``data/REFERENCE.md``.
"""

from __future__ import annotations

import csv
from functools import cache
from importlib import resources

from value_spectrum.values import VALUE_IDS

CITATION = (
    "Li, Yang, Yang, Zhang, Wu. Value-Spectrum: Quantifying Preferences of Vision-Language Models "
    "via Value Decomposition in Social Media Contexts. ACL 2025 (arXiv 2411.11479). "
    "Approximate, read from the paper's figures."
)
"""How to cite the reference numbers wherever they are shown."""

PREFERENCE_FILE = "value_spectrum_preference_acl2025.csv"
PERSONA_CHANGE_FILE = "value_spectrum_persona_change_acl2025.csv"


def _rows(name: str) -> list[dict[str, str]]:
    text = (
        resources.files("value_spectrum.scoring").joinpath("data", name).read_text(encoding="utf-8")
    )
    return list(csv.DictReader(text.splitlines()))


@cache
def preference_reference() -> dict[str, dict[str, float]]:
    """Model name -> value id -> the paper's preference score (% yes)."""
    return {row["model"]: {v: float(row[v]) for v in VALUE_IDS} for row in _rows(PREFERENCE_FILE)}


@cache
def persona_change_reference() -> list[dict[str, str | float]]:
    """Rows of the paper's persona steerability table: model, strategy, platform,
    like_ratio_change_pct."""
    return [
        {**row, "like_ratio_change_pct": float(row["like_ratio_change_pct"])}
        for row in _rows(PERSONA_CHANGE_FILE)
    ]


def reference_value_means() -> dict[str, float]:
    """Value id -> the mean over the paper's models (the paper's per-value average chart)."""
    ref = preference_reference()
    return {v: sum(m[v] for m in ref.values()) / len(ref) for v in VALUE_IDS}
