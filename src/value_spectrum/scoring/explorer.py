"""Data of the HTML report's decision explorer: every decision of a run, compact.

:func:`explorer_data` reads what the explorer needs from a read run directory
(:class:`~value_spectrum.scoring.rundir.RunData`): one row per step, the sessions and the videos,
each video's first keyframe as a small JPEG ``data:`` URI (shared by every decision on it, so a
10,000-decision run over a few hundred videos stays a few megabytes).
"""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from value_spectrum.records import Step
from value_spectrum.scoring.rundir import RunData

log = logging.getLogger(__name__)

THUMB_WIDTH = 160
"""Width of the embedded keyframe thumbnails, pixels."""
MAX_TEXT = 4000
"""Longest raw reply or reason embedded (longer ones are cut with a marker)."""


@dataclass(frozen=True)
class ExplorerData:
    """What the explorer's script reads (serialised as JSON into the page)."""

    sessions: list[dict[str, Any]]
    """Per session: id, persona, model, strategy, modality, prompt (or '')."""
    videos: list[dict[str, Any]]
    """Per video: id, title, caption, platform, topic, primary value, thumbnail index or -1."""
    thumbs: list[str]
    """Thumbnail ``data:`` URIs."""
    rows: list[list[Any]]
    """Per decision: [session index, turn, video index, outcome, reason, replies (the raw reply,
    after any earlier one a repair replaced, each labelled), confidence, error, prompt tokens,
    completion tokens, earlier replies (list), repaired]."""

    def as_json(self) -> dict[str, Any]:
        """The JSON object embedded in the page."""
        return {
            "sessions": self.sessions,
            "videos": self.videos,
            "thumbs": self.thumbs,
            "rows": self.rows,
        }


def thumbnail_uri(path: str | Path, width: int = THUMB_WIDTH) -> str | None:
    """A small JPEG ``data:`` URI of an image file, or None when it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.thumbnail((width, width * 2))
            buf = io.BytesIO()
            img.convert("RGB").save(buf, format="JPEG", quality=60, optimize=True)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        log.info("no thumbnail for %s: %s", path, exc)
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + " [...cut]"


def explorer_data(
    run: RunData,
    *,
    prompts: Mapping[str, str] | None = None,
) -> ExplorerData:
    """Every decision of ``run``, with its session and video.

    Args:
        run: The read run directory.
        prompts: Session id -> the prompt sent; default :func:`rebuilt_prompts`.
    """
    prompts = rebuilt_prompts(run) if prompts is None else prompts
    sessions: list[dict[str, Any]] = []
    videos: list[dict[str, Any]] = []
    video_index: dict[str, int] = {}
    thumbs: list[str] = []
    rows: list[list[Any]] = []
    for si, t in enumerate(run.sessions):
        sessions.append(
            {
                "id": t.session_id,
                "persona": t.persona_id,
                "model": t.model,
                "strategy": t.strategy,
                "modality": t.modality,
                "prompt": prompts.get(t.session_id, ""),
            }
        )
        for s in t.steps:
            vi = video_index.get(s.video_id)
            if vi is None:
                lab = run.labels.get(s.video_id)
                frame = lab.keyframes[0] if lab and lab.keyframes else None
                uri = thumbnail_uri(frame) if frame else None
                if uri is not None:
                    thumbs.append(uri)
                vi = video_index[s.video_id] = len(videos)
                videos.append(
                    {
                        "id": s.video_id,
                        "title": lab.title if lab else "",
                        "caption": lab.caption if lab else "",
                        "platform": lab.platform if lab else "",
                        "topic": lab.topic if lab else "",
                        "primary": (lab.primary_value if lab else None) or "",
                        "thumb": len(thumbs) - 1 if uri is not None else -1,
                    }
                )
            d = s.decision
            rows.append(
                [
                    si,
                    s.turn,
                    vi,
                    s.outcome.value,
                    _cut(d.reason) if d is not None else "",
                    _cut(_replies(s)),
                    d.confidence if d is not None else None,
                    _cut(s.error),
                    s.usage.prompt_tokens,
                    s.usage.completion_tokens,
                    [_cut(r) for r in s.earlier_raws],
                    s.repaired,
                ]
            )
    return ExplorerData(sessions=sessions, videos=videos, thumbs=thumbs, rows=rows)


def _replies(step: Step) -> str:
    """The raw reply, after any earlier one a repair replaced (each labelled)."""
    if not step.earlier_raws:
        return step.raw
    earlier = [f"[reply {n}, unreadable, repair asked] {r}" for n, r in enumerate(step.earlier_raws, 1)]
    return "\n".join([*earlier, f"[reply {len(earlier) + 1}] {step.raw}"])


def rebuilt_prompts(run: RunData) -> dict[str, str]:
    """Session id -> the system prompt and question its viewer was sent, rebuilt from the
    persona recorded in the run's ``personas.json`` (name, traits, target) and the session's
    strategy: runs store replies, not prompts, and nothing outside the run directory is read.

    Sessions of the reference viewer (no prompt), and of personas recorded without traits
    (runs written before traits were kept) are left out.
    """
    from value_spectrum.personas import Persona
    from value_spectrum.personas.prompts import get_strategy
    from value_spectrum.runlog import RunLog

    traits = RunLog(run.path).read_persona_traits()
    out: dict[str, str] = {}
    for t in run.sessions:
        if t.model == "reference":
            continue
        persona = None
        target = run.targets.get(t.persona_id)
        if t.persona_id in traits and target is not None:
            try:
                persona = Persona(
                    id=t.persona_id,
                    name=run.persona_names.get(t.persona_id, t.persona_id),
                    traits=traits[t.persona_id],
                    target=target,
                )
            except ValueError as exc:
                log.info("cannot rebuild persona %s: %s", t.persona_id, exc)
        if persona is None and t.strategy != "plain":
            continue
        try:
            prompt = get_strategy(t.strategy)(persona)
        except ValueError as exc:
            log.info("cannot rebuild the prompt of %s: %s", t.session_id, exc)
            continue
        system = f"[system]\n{prompt.system}\n\n" if prompt.system else ""
        out[t.session_id] = f"{system}[user, after the video and its text]\n{prompt.question}"
    return out
