"""The decision contract: a raw model reply becomes a :class:`Decision` or a :class:`ParseFailure`
here and nowhere else.

Accepted replies, in order of preference:

* JSON (bare, inside prose, in a fenced ```json block, with single quotes or Python literals):
  a decision key (``decision`` / ``action`` / ``like`` / ``choice`` / ``answer``) whose value is
  like/skip/yes/no/true/false; optional ``reason``, ``confidence``, ``trait_number``;
* the ISQ ratings (``visual_appeal``, ``curiosity``, ``emotional_engagement``,
  ``value_expectation`` 0-10, ``preference_alignment`` 0-10 or yes/no, ``action``): combined into
  a percentage; a like when it reaches :data:`ISQ_LIKE_THRESHOLD` (the paper's rule);
* the paper's bare answers: ``"Yes."``, ``"No"``, ``"Yes, I like it because ..."``.

A refusal ("I can't help with that", "As an AI I don't have preferences") is ``refused``; empty or
unreadable text is ``unparseable``. Nothing is ever defaulted to a skip.

Where the run's contract asks for them (``leave`` / ``dwell``), whether the viewer leaves and how
long it watched are read too: :mod:`value_spectrum.agents.watching`.
"""

from __future__ import annotations

import ast
import json
import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from value_spectrum.agents.watching import (
    DWELL_KEYS,
    LEAVE_KEYS,
    STAY_KEYS,
    Want,
    attach,
    object_extras,
    read_leave,
    text_line_extras,
)
from value_spectrum.records import Decision, Outcome

ISQ_KEYS: tuple[str, ...] = ("visual_appeal", "curiosity", "emotional_engagement", "value_expectation")
"""The four 0-10 ISQ ratings."""
ISQ_LIKE_THRESHOLD = 60.0
"""ISQ percentage at or above which the video is liked."""

DECISION_KEYS = ("decision", "action", "like", "choice", "answer", "liked", "verdict")
REASON_KEYS = ("reason", "why", "explanation", "rationale", "reasoning")
TRAIT_KEYS = ("trait_number", "trait", "trait_no", "trait_num", "trait_id", "trait_index")

_LIKE_WORDS = {"like", "liked", "yes", "y", "true", "1", "thumbs_up", "love", "watch", "keep"}
_SKIP_WORDS = {"skip", "skipped", "no", "n", "false", "0", "dislike", "pass", "thumbs_down", "scroll"}

_REFUSAL = re.compile(
    r"(?:\bI\s*(?:can(?:no|')?t|cannot|am unable to|'m unable to|won'?t|will not)\s+"
    r"(?:help|assist|comply|provide|answer|do that|view|see|make|express|share|form|determine)"
    r"|\bas an (?:ai|a\.i\.|artificial intelligence|ai language model|language model)\b"
    r"|\bI (?:do not|don'?t) have (?:personal |any )?(?:preferences|opinions|feelings|likes|tastes)"
    r"|\bI'?m (?:sorry|afraid),? (?:but )?I\b"
    r"|\bI (?:am not|'m not) able to\b"
    r"|\bnot able to (?:see|view) (?:the )?images?\b"
    r"|\bsubjective\b)",
    re.IGNORECASE,
)
_BARE = re.compile(
    r"^(?:(?:final\s+)?(?:answer|decision|action|choice|verdict)\s*(?:is)?\s*[:=\-]?\s*)?"
    r"(yes|no\b|(?:like|skip|liked|skipped|dislike)(?=\s*(?:[.,!:;\-\u2013\u2014*]|$)))\b",
    re.IGNORECASE,
)
_FENCE = re.compile(r"```(?:json|JSON|javascript|js|python)?\s*(.*?)```", re.DOTALL)


@dataclass(frozen=True)
class ParseFailure:
    """A reply that is not a decision."""

    outcome: Literal[Outcome.UNPARSEABLE, Outcome.REFUSED]
    """unparseable | refused."""
    error: str
    """Why, naming the offending value."""


_LIKE_SKIP_ONLY = Want()
"""The contract without leave and dwell."""


# ---- JSON extraction --------------------------------------------------------------------------
MAX_SCAN = 100_000
"""A longer reply is searched for JSON only in its first and last this many characters (the
answer of a model that reasons at length comes at the end)."""


def _balanced_objects(text: str, limit: int = 20, max_starts: int = 40) -> list[str]:
    """Top-level ``{...}`` substrings, brace-balanced (strings respected), at most ``limit``; an
    unclosed ``{`` is skipped, so stray braces in prose do not hide a later object."""
    out: list[str] = []
    starts = 0
    i = text.find("{")
    while i != -1 and len(out) < limit and starts < max_starts:
        starts += 1
        depth, j, quote, escaped = 0, i, "", False
        end = -1
        while j < len(text):
            ch = text[j]
            if quote:
                if escaped:
                    escaped = False
                elif ch == "\\":
                    escaped = True
                elif ch == quote:
                    quote = ""
            elif ch in "\"'":
                # an apostrophe inside a bare word is not a quote
                if ch == "'" and j > 0 and text[j - 1].isalnum():
                    pass
                else:
                    quote = ch
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    end = j
                    break
            j += 1
        if end == -1:
            i = text.find("{", i + 1)
            continue
        out.append(text[i : end + 1])
        i = text.find("{", end + 1)
    return out


def _loads(candidate: str) -> Any:
    try:
        return json.loads(candidate)
    except (json.JSONDecodeError, RecursionError):
        pass
    try:
        return ast.literal_eval(candidate)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        pass
    py = re.sub(r"\btrue\b", "True", re.sub(r"\bfalse\b", "False", re.sub(r"\bnull\b", "None", candidate)))
    try:
        return ast.literal_eval(py)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        return None


def extract_json_objects(text: str) -> list[dict[str, Any]]:
    """Every JSON-like object in ``text``: fenced blocks first, then brace-balanced spans."""
    if len(text) > 2 * MAX_SCAN:
        head, tail = extract_json_objects(text[:MAX_SCAN]), extract_json_objects(text[-MAX_SCAN:])
        return head + tail
    candidates: list[str] = []
    for block in _FENCE.findall(text):
        candidates.extend(_balanced_objects(block) or [block.strip()])
    candidates.extend(_balanced_objects(text))
    found: list[dict[str, Any]] = []
    for c in candidates:
        obj = _loads(c)
        if isinstance(obj, dict):
            found.append(obj)
    return found


# ---- field readers ----------------------------------------------------------------------------
def _norm_key(key: object) -> str:
    return re.sub(r"[\s\-]+", "_", str(key).strip().lower())


def _norm(obj: dict[str, Any]) -> dict[str, Any]:
    return {_norm_key(k): v for k, v in obj.items()}


def read_action(value: object) -> Literal["like", "skip"] | None:
    """like/skip from a word, a boolean or a number; None when it is neither."""
    if isinstance(value, bool):
        return "like" if value else "skip"
    if isinstance(value, int | float) and value in (0, 1):
        return "like" if value == 1 else "skip"
    if isinstance(value, str):
        word = re.sub(r"[\s\-]+", "_", value.strip().strip(".!*\"'`").lower())
        if word in _LIKE_WORDS:
            return "like"
        if word in _SKIP_WORDS:
            return "skip"
        m = _BARE.match(value.strip().lstrip("*_#>\"' "))
        if m:
            return "like" if m.group(1).lower() in {"yes", "like", "liked"} else "skip"
    return None


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        m = re.search(r"-?\d+(?:\.\d+)?", value)
        if m:
            return float(m.group())
    return None


def _confidence(value: object) -> float | None:
    c = _number(value)
    if c is None:
        return None
    if (isinstance(value, str) and "%" in value) or 1.0 < c <= 100.0:
        c /= 100.0
    return c if 0.0 <= c <= 1.0 else None


def _first(obj: dict[str, Any], keys: tuple[str, ...]) -> tuple[str, Any] | None:
    for k in keys:
        if k in obj and obj[k] is not None:
            return k, obj[k]
    return None


def _isq(obj: dict[str, Any], reason: str) -> Decision | ParseFailure | None:
    ratings: dict[str, float] = {}
    for k in ISQ_KEYS:
        if k in obj:
            n = _number(obj[k])
            if n is None or not 0.0 <= n <= 10.0:
                return ParseFailure(Outcome.UNPARSEABLE, f"ISQ rating {k}={obj[k]!r} is not a number in 0-10")
            ratings[k] = n
    if len(ratings) < len(ISQ_KEYS):
        return None
    parts = list(ratings.values())
    scores = dict(ratings)
    if "preference_alignment" in obj:
        pa = obj["preference_alignment"]
        n = _number(pa)
        yn = read_action(pa)
        if n is not None and 0.0 <= n <= 10.0:
            scores["preference_alignment"] = n
            parts.append(n)
        elif yn is not None:
            scores["preference_alignment"] = 10.0 if yn == "like" else 0.0
            parts.append(scores["preference_alignment"])
    percent = 10.0 * sum(parts) / len(parts)
    scores["isq_percent"] = round(percent, 4)
    stated = read_action(obj.get("action", obj.get("decision")))
    if stated is not None:
        scores["stated_like"] = 1.0 if stated == "like" else 0.0
    action: Literal["like", "skip"] = "like" if percent >= ISQ_LIKE_THRESHOLD else "skip"
    return Decision(action=action, reason=reason, confidence=None, scores=scores)


def _leave_word(value: object) -> bool:
    return isinstance(value, str) and read_leave(value) is True and read_action(value) is None


def _from_object(obj: dict[str, Any], want: Want = _LIKE_SKIP_ONLY) -> Decision | ParseFailure | None:
    o = _norm(obj)
    hit = _first(o, REASON_KEYS)
    reason = str(hit[1]) if hit else ""
    extras = object_extras(o, want) if want.any else {}
    isq = _isq(o, reason)
    if isq is not None:
        return attach(isq, extras) if isinstance(isq, Decision) else isq
    hit = _first(o, DECISION_KEYS)
    if hit is None:
        for inner in o.values():  # {"response": {"decision": ...}}
            if isinstance(inner, dict):
                got = _from_object(inner, want)
                if got is not None:
                    return got
        if extras.get("leave") is True:  # {"leave": true, "reason": "bored"}: leaving is not liking
            return attach(Decision(action="skip", reason=reason), extras)
        return None
    key, value = hit
    action = read_action(value)
    if action is None and want.leave and _leave_word(value):  # {"decision": "leave"}
        action, extras = "skip", {**extras, "leave": True}
    if action is None:
        return ParseFailure(Outcome.UNPARSEABLE, f"{key}={value!r} is neither like nor skip")
    scores: dict[str, float] = {}
    trait = _first(o, TRAIT_KEYS)
    if trait is not None and (n := _number(trait[1])) is not None:
        scores["trait_number"] = n
    conf = _first(o, ("confidence", "certainty", "probability"))
    return attach(Decision(
        action=action,
        reason=reason,
        confidence=_confidence(conf[1]) if conf else None,
        scores=scores,
    ), extras)


# ---- the one entry point ----------------------------------------------------------------------
def parse_decision(
    raw: str | None, *, leave: bool = False, dwell: bool = False, duration_s: float | None = None
) -> Decision | ParseFailure:
    """Turn a raw reply into a decision, or say why it is not one.

    ``leave`` / ``dwell``: also read whether the viewer leaves the feed and how long it watched
    (the run's contract asked for them); ``duration_s``: the video's length, for "watched to
    the end" and percentages.

    Example:
        >>> parse_decision('Sure! ```json\\n{"decision": "like", "reason": "cute"}\\n```').action
        'like'
        >>> parse_decision("Yes, I like it because it is calm.").action
        'like'
        >>> parse_decision("As an AI, I don't have personal preferences.").outcome.value
        'refused'
        >>> d = parse_decision('{"decision": "skip", "leave": true, "dwell_s": "4 s"}', leave=True, dwell=True)
        >>> d.action, d.leave, d.dwell_s
        ('skip', True, 4.0)
    """
    text = (raw or "").strip()
    if not text:
        return ParseFailure(Outcome.UNPARSEABLE, "empty reply")
    want = Want(leave=leave, dwell=dwell, duration_s=duration_s)
    got = _parse(text, want)
    if want.any and isinstance(got, Decision):
        given = _json_fields(text)  # a field the JSON gave (even unreadably) wins over a text line
        lines = {k: v for k, v in text_line_extras(text, want).items()
                 if ("dwell_s" if k == "watched" else k) not in given}
        got = attach(got, lines)
    return got


def _json_fields(text: str) -> set[str]:
    """Which of ``leave`` and ``dwell_s`` a JSON object of the reply (or one nested in it) gives."""
    fields: set[str] = set()
    for obj in extract_json_objects(text):
        for o in (_norm(obj), *(_norm(v) for v in obj.values() if isinstance(v, dict))):
            if any(k in o for k in (*LEAVE_KEYS, *STAY_KEYS)) or any(
                    isinstance(v, str) and _leave_word(v) for k, v in o.items() if k in DECISION_KEYS):
                fields.add("leave")
            if any(k in o for k in DWELL_KEYS):
                fields.add("dwell_s")
    return fields


def _parse(text: str, want: Want) -> Decision | ParseFailure:
    first_failure: ParseFailure | None = None
    for obj in extract_json_objects(text):
        got = _from_object(obj, want)
        if isinstance(got, Decision):
            return got
        if got is not None and first_failure is None:
            first_failure = got
    if first_failure is not None:
        return first_failure
    head = text.lstrip("*_#>\"'` \n\t")
    bare = _BARE.match(head)
    if bare:
        word = bare.group(1).lower().strip()
        action: Literal["like", "skip"] = "like" if word in {"yes", "like", "liked"} else "skip"
        rest = head[bare.end() :].lstrip(" .,!:;-*_\n")
        return Decision(action=action, reason=rest[:2000])
    if _REFUSAL.search(text[:600]):
        return ParseFailure(Outcome.REFUSED, f"refusal: {text[:120]!r}")
    return ParseFailure(Outcome.UNPARSEABLE, f"no decision found in reply {text[:120]!r}")


def parse_rating(raw: str | None, lo: int, hi: int) -> int | None:
    """A questionnaire rating in ``[lo, hi]`` from JSON (``rating``/``score``/``answer``) or the
    first integer in range in the text; None for refusals and anything else."""
    text = (raw or "").strip()
    if not text:
        return None
    for obj in extract_json_objects(text):
        o = _norm(obj)
        hit = _first(o, ("rating", "score", "answer", "value", "response"))
        if hit is not None:
            n = _number(hit[1])
            if n is not None and n == int(n) and lo <= n <= hi:
                return int(n)
            return None
    if _REFUSAL.search(text[:600]) and not re.match(r"^\s*\d", text):
        return None
    for m in re.finditer(r"(?<![\d.])(-?\d+)(?!\.\d|\d)", text):
        n = int(m.group(1))
        if lo <= n <= hi:
            return n
    return None
