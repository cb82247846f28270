"""What a viewer is shown, as OpenAI-format message content.

* ``frames``: every keyframe as a base64 data-URL ``image_url`` part, plus the text a person
  would read or hear (platform, creator, title, caption, hashtags, on-screen text, transcript);
* ``caption``: that text plus the scene description in words, no images;
* ``title``: the title alone.

A frames observation with no keyframes falls back to the caption rendering (the scene in words),
so the model is never shown nothing; the fallback is stated in the text.
"""

from __future__ import annotations

import base64
import mimetypes
from pathlib import Path
from typing import Any

from value_spectrum.records import Observation

_MIME = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp", ".gif": "image/gif"}


def data_url(path: str | Path) -> str:
    """The image file at ``path`` as a ``data:`` URL.

    Raises:
        OSError: the file cannot be read.
    """
    p = Path(path)
    mime = _MIME.get(p.suffix.lower()) or mimetypes.guess_type(p.name)[0] or "image/png"
    return f"data:{mime};base64,{base64.b64encode(p.read_bytes()).decode('ascii')}"


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
