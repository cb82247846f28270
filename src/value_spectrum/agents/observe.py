"""What a viewer is shown, as OpenAI-format message content.

* ``frames``: every keyframe as a base64 data-URL ``image_url`` part, plus the text a person
  would read or hear (platform, creator, title, caption, hashtags, on-screen text, transcript);
* ``caption``: that text plus the scene description in words, no images;
* ``title``: the title alone.

Everything the video says (title, caption, hashtags, on-screen text, transcript, creator) is
untrusted: it is shown inside one ``<video-data>`` ... ``</video-data>`` block, after a notice
that tells the model it is data, one labelled line per field. :func:`data_text` makes each value
one bounded line: line breaks (every kind) become `` / ``, control and invisible characters are
dropped, text that would pass for a delimiter (``</video-data>`` in any case, spacing or
full-width form) is defused, and long values are cut with a note. A caption can therefore
neither close the block, nor start a line of its own (``SYSTEM:``, ``Scene:``), nor flood the
prompt.

A frames observation with no keyframes falls back to the caption rendering (the scene in words),
so the model is never shown nothing; the fallback is stated in the text.

Data URLs are kept in a small in-process memo keyed by the file's path, modification time and
size (a changed file is read again), up to :data:`DATA_URL_MEMO_BYTES` of text: the same
keyframes are shown to every persona, and re-encoding them was a few milliseconds per call. The
memo hands back the same string object each time, so hashing it for the response-cache key is
memoized too (:mod:`value_spectrum.agents.cache`).
"""

from __future__ import annotations

import base64
import mimetypes
import os
import re
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

from value_spectrum.agents._memo import SizedMemo
from value_spectrum.personas.prompts import DATA_NOTICE, VIDEO_DATA_CLOSE, VIDEO_DATA_OPEN
from value_spectrum.records import Observation

_MIME = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp", ".gif": "image/gif"}

DATA_URL_MEMO_BYTES = 64 * 1024 * 1024
"""The most data-URL text kept in memory for reuse (least recently used dropped first)."""

_memo: SizedMemo[tuple[str, int, int]] = SizedMemo(DATA_URL_MEMO_BYTES)


def data_url(path: str | Path) -> str:
    """The image file at ``path`` as a ``data:`` URL (memoized while the file is unchanged).

    Raises:
        OSError: the file cannot be read.
    """
    p = Path(path)
    st = os.stat(p)
    key = (str(p), st.st_mtime_ns, st.st_size)
    hit = _memo.get(key)
    if hit is not None:
        return hit
    mime = _MIME.get(p.suffix.lower()) or mimetypes.guess_type(p.name)[0] or "image/png"
    url = f"data:{mime};base64,{base64.b64encode(p.read_bytes()).decode('ascii')}"
    _memo.put(key, url, len(url))
    return url


FIELD_LIMITS = {
    "Creator": 100,
    "Title": 300,
    "Caption": 2000,
    "Hashtags": 600,
    "On-screen text": 1000,
    "Scene": 2000,
    "Audio": 4000,
}
"""The most characters of each field shown to the model; the rest is cut with a note."""

_BREAKS = re.compile(r"[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+")
_INVISIBLE = re.compile(
    r"[\x00-\x08\x0e-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]"
)
_FENCE_LIKE = re.compile(r"<\s*/?\s*video[\s_-]*data[^<>]*>?", re.IGNORECASE)


def data_text(value: str, limit: int | None = None) -> str:
    """One piece of untrusted text as a single safe line of at most ``limit`` characters
    (plus a note saying how much was cut)."""
    text = unicodedata.normalize("NFKC", value)  # full-width and other look-alike forms
    text = _BREAKS.sub(" / ", text).replace("\t", " ")
    text = _INVISIBLE.sub("", text)
    text = _FENCE_LIKE.sub(lambda m: m.group(0).replace("<", "\u2039").replace(">", "\u203a"), text)
    text = text.strip()
    if limit is not None and len(text) > limit:
        text = f"{text[:limit].rstrip()} [... {len(text) - limit} more characters not shown]"
    return text


def visible_text(obs: Observation, *, with_description: bool) -> str:
    """The text a person would read or hear, one labelled line per field (each value made safe
    by :func:`data_text`)."""
    platform = obs.platform.replace("_", " ") if obs.platform != "other" else ""
    lines = [
        ("Platform", platform),
        ("Creator", f"@{obs.creator.lstrip('@')}" if obs.creator else ""),
        ("Title", obs.title),
        ("Caption", obs.caption),
        ("Hashtags", " ".join(f"#{h}" for h in obs.hashtags[:50])),
        ("On-screen text", obs.on_screen_text),
        ("Scene", obs.description if with_description else ""),
        ("Audio", obs.transcript),
        ("Length", f"{obs.duration_s:.0f} s" if obs.duration_s else ""),
    ]
    shown = ((k, data_text(v, FIELD_LIMITS.get(k))) for k, v in lines if v)
    return "\n".join(f"{k}: {v}" for k, v in shown if v)


def fenced(text: str) -> str:
    """``text`` inside the labelled data block, after the notice that it is data."""
    return f"{DATA_NOTICE}\n{VIDEO_DATA_OPEN}\n{text}\n{VIDEO_DATA_CLOSE}"


def observation_content(obs: Observation, *, image_url: Callable[[str], str] | None = None) -> list[dict[str, Any]]:
    """The user-message content parts for ``obs`` in its modality.

    ``image_url`` turns a keyframe path into the URL sent (default :func:`data_url`); the dry run
    passes one that reads nothing.

    Raises:
        OSError: a keyframe cannot be read (the viewer records an ``error`` outcome).
    """
    if obs.modality == "title":
        title = data_text(obs.title, FIELD_LIMITS["Title"]) or "(untitled)"
        return [{"type": "text", "text": f"A video, shown by its title only:\n{fenced(f'Title: {title}')}"}]
    if obs.modality == "caption" or not obs.keyframes:
        header = "A video (described in words)" if obs.modality == "caption" else "A video (no image available; described in words)"
        text = visible_text(obs, with_description=True) or "(no text)"
        return [{"type": "text", "text": f"{header}:\n{fenced(text)}"}]
    text = visible_text(obs, with_description=False) or "(no text)"
    parts: list[dict[str, Any]] = [
        {"type": "text", "text": f"A video ({len(obs.keyframes)} keyframes, as images after this text):\n{fenced(text)}"}
    ]
    for frame in obs.keyframes:
        parts.append({"type": "image_url", "image_url": {"url": (image_url or data_url)(frame)}})
    return parts
