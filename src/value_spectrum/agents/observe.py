"""What a viewer is shown, as OpenAI-format message content.

* ``frames``: every keyframe as a base64 data-URL ``image_url`` part, plus the text a person
  would read or hear (platform, creator, title, caption, hashtags, on-screen text, transcript);
* ``caption``: that text plus the scene description in words, no images;
* ``title``: the title alone.

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
from pathlib import Path
from typing import Any

from value_spectrum.agents._memo import SizedMemo
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


def visible_text(obs: Observation, *, with_description: bool) -> str:
    """The text a person would read or hear, one labelled line per field."""
    platform = obs.platform.replace("_", " ") if obs.platform != "other" else ""
    lines = [
        ("Platform", platform),
        ("Creator", f"@{obs.creator.lstrip('@')}" if obs.creator else ""),
        ("Title", obs.title),
        ("Caption", obs.caption),
        ("Hashtags", " ".join(f"#{h}" for h in obs.hashtags)),
        ("On-screen text", obs.on_screen_text),
        ("Scene", obs.description if with_description else ""),
        ("Audio", obs.transcript),
        ("Length", f"{obs.duration_s:.0f} s" if obs.duration_s else ""),
    ]
    return "\n".join(f"{k}: {v}" for k, v in lines if v)


def observation_content(obs: Observation) -> list[dict[str, Any]]:
    """The user-message content parts for ``obs`` in its modality.

    Raises:
        OSError: a keyframe cannot be read (the viewer records an ``error`` outcome).
    """
    if obs.modality == "title":
        return [{"type": "text", "text": f"A video titled: {obs.title or '(untitled)'}"}]
    if obs.modality == "caption" or not obs.keyframes:
        header = "A video (described in words)" if obs.modality == "caption" else "A video (no image available; described in words)"
        return [{"type": "text", "text": f"{header}:\n{visible_text(obs, with_description=True)}"}]
    parts: list[dict[str, Any]] = [
        {"type": "text", "text": f"A video ({len(obs.keyframes)} keyframes):\n{visible_text(obs, with_description=False)}"}
    ]
    for frame in obs.keyframes:
        parts.append({"type": "image_url", "image_url": {"url": data_url(frame)}})
    return parts
