"""How long the viewer watched and whether it leaves the feed: the optional part of the decision
contract, read only where the run asks for it.

Where the run's contract asks for them (``leave=True`` / ``dwell=True``, see
:func:`value_spectrum.personas.prompts.contract`), two more fields are read:

* **leave**: ``leave`` (or ``leave_feed``, ``quit``, ...; ``keep_scrolling``/``stay`` inverted)
  as a boolean, yes/no, 1/0 or leave/stay; a decision of ``"leave"`` (or a reply with
  ``leave: true`` and no decision) is a skip that leaves. In a text reply, a line
  ``Leave: yes``. An unreadable value is not a leave.
* **dwell**: ``dwell_s`` (or ``dwell``, ``watched_s``, ``watch_time``, ...) in seconds: a number,
  or text such as ``"12 s"``, ``"1.5 min"``, ``"1:30"``, ``"50%"`` (of the video's length);
  ``"watched to the end"`` is the video's length, ``"skipped early"`` is kept as
  ``scores["watched"] = 0`` with no seconds. In a text reply, a line ``Watched: 12 s``. A
  negative, infinite, absurd (over a day) or unreadable value is recorded as absent
  (``dwell_s`` None), never an error.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from value_spectrum.records import Decision

DWELL_KEYS = ("dwell_s", "dwell", "dwell_seconds", "watched_s", "seconds_watched", "watched_seconds",
              "watch_time_s", "watch_time", "watch_seconds", "time_watched", "watched")
LEAVE_KEYS = ("leave", "leave_feed", "leave_the_feed", "leaves", "leaving", "exit_feed", "quit", "close_app")
STAY_KEYS = ("keep_scrolling", "stay", "continue_scrolling", "continue")
MAX_DWELL_S = 86_400.0
"""A dwell above this (a day) is not a reading: recorded as absent."""
_LEAVE_LINE = re.compile(
    r"^[\W_]*(?:leave(?:\s+the\s+feed)?|leaving|leave_feed)\s*\**\s*[:=\-]\s*\**\s*([^\n]{1,40})",
    re.IGNORECASE | re.MULTILINE,
)
_DWELL_LINE = re.compile(
    r"^[\W_]*(?:watched|dwell(?:_s)?|watch[\s_]time|(?:seconds|time)[\s_]watched)\s*\**\s*[:=\-]\s*\**\s*([^\n]{1,60})",
    re.IGNORECASE | re.MULTILINE,
)

_YES_LEAVE = {"yes", "y", "true", "1", "leave", "leaves", "left", "quit", "exit", "close", "close_app", "bored",
              "leave_the_feed", "leave_feed", "stop", "stop_scrolling"}
_NO_LEAVE = {"no", "n", "false", "0", "stay", "keep_scrolling", "continue", "continue_scrolling", "scroll",
             "keep_watching", "not_bored"}
_WATCHED_WORDS = ("whole", "full", "entire", "to the end", "all of it", "completely", "watched it", "watched")
_SKIPPED_WORDS = ("skipped early", "skip early", "early", "skipped", "swiped", "immediately", "right away", "at once")


@dataclass(frozen=True)
class Want:
    """The optional parts of the contract a run asked for (off: they are not read)."""

    leave: bool = False
    """Read whether the viewer leaves the feed."""
    dwell: bool = False
    """Read seconds watched."""
    duration_s: float | None = None
    """The video's length, for "watched to the end" and percentages (None: unknown)."""

    @property
    def any(self) -> bool:
        """Whether anything beyond like/skip is read."""
        return self.leave or self.dwell


def _present(o: dict[str, Any], keys: tuple[str, ...]) -> object:
    """The value of the first of ``keys`` that ``o`` gives (None: none)."""
    return next((o[k] for k in keys if o.get(k) is not None), None)


def read_leave(value: object) -> bool | None:
    """Whether the viewer leaves, from a boolean, 1/0, yes/no or leave/stay; None when unreadable."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return value == 1
    if isinstance(value, str):
        word = re.sub(r"[\s\-]+", "_", value.strip().strip(".!*\"'`").lower())
        if word in _YES_LEAVE:
            return True
        if word in _NO_LEAVE:
            return False
        head = re.match(r"[a-z]+", word)
        if head and head.group() in {"yes", "no", "true", "false"}:  # "yes, I am bored of it"
            return head.group() in {"yes", "true"}
    return None


def read_dwell(value: object, duration_s: float | None = None) -> tuple[float | None, bool | None]:
    """``(seconds watched, watched to the end)`` from a reply's dwell field; ``(None, None)``
    for anything unreadable, negative, infinite or over :data:`MAX_DWELL_S`.

    Example:
        >>> read_dwell("1:30"), read_dwell("2 min"), read_dwell("50%", 40.0), read_dwell(-3)
        ((90.0, None), (120.0, None), (20.0, None), (None, None))
    """
    seconds: float | None = None
    watched: bool | None = None
    if isinstance(value, bool) or value is None:
        return None, None
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        if m := re.fullmatch(r"\D{0,20}?(\d{1,3}):([0-5]\d)\D{0,20}", text):
            seconds = 60.0 * int(m.group(1)) + int(m.group(2))
        elif m := re.search(r"(-?\d+(?:\.\d+)?)\s*(%|percent|min(?:ute)?s?\b|m\b|h(?:ours?)?\b)?", text):
            n, unit = float(m.group(1)), (m.group(2) or "")
            if unit in ("%", "percent"):
                seconds = n / 100.0 * duration_s if duration_s is not None and 0 <= n <= 100 else None
            elif unit.startswith("h"):
                seconds = n * 3600.0
            elif unit.startswith("m"):
                seconds = n * 60.0
            else:
                seconds = n
        elif any(w in text for w in _SKIPPED_WORDS):
            watched = False
        elif any(w in text for w in _WATCHED_WORDS):
            watched, seconds = True, duration_s
        else:
            return None, None
    else:
        return None, None
    if seconds is not None and not (math.isfinite(seconds) and 0.0 <= seconds <= MAX_DWELL_S):
        return None, None
    return (round(seconds, 3) if seconds is not None else None), watched


def object_extras(o: dict[str, Any], want: Want) -> dict[str, Any]:
    """The leave and dwell fields of a normalised object that the contract asked for (only the
    ones present: a missing one may still come from a text line)."""
    out: dict[str, Any] = {}
    if want.leave:
        if (got := read_leave(_present(o, LEAVE_KEYS))) is not None:
            out["leave"] = got
        elif (kept := read_leave(_present(o, STAY_KEYS))) is not None:
            out["leave"] = not kept
    if want.dwell and any(o.get(k) is not None for k in DWELL_KEYS):
        seconds, watched = read_dwell(_present(o, DWELL_KEYS), want.duration_s)
        out["dwell_s"] = seconds
        if watched is not None:
            out["watched"] = watched
    return out


def text_line_extras(text: str, want: Want) -> dict[str, Any]:
    """``Leave: yes`` and ``Watched: 12 s`` lines of a text reply (the plain-text contract)."""
    out: dict[str, Any] = {}
    if want.leave and (m := _LEAVE_LINE.search(text)) and (got := read_leave(m.group(1))) is not None:
        out["leave"] = got
    if want.dwell and (m := _DWELL_LINE.search(text)):
        seconds, watched = read_dwell(m.group(1), want.duration_s)
        out["dwell_s"] = seconds
        if watched is not None:
            out["watched"] = watched
    return out


def attach(decision: Decision, extras: dict[str, Any]) -> Decision:
    """``decision`` with the leave and dwell read for it (a bad dwell stays absent)."""
    if not extras:
        return decision
    update: dict[str, Any] = {}
    if "leave" in extras and decision.leave is False:
        update["leave"] = bool(extras["leave"])
    if extras.get("dwell_s") is not None and decision.dwell_s is None:
        update["dwell_s"] = extras["dwell_s"]
    if "watched" in extras and "watched" not in decision.scores:
        update["scores"] = {**decision.scores, "watched": 1.0 if extras["watched"] else 0.0}
    return decision.model_copy(update=update) if update else decision
