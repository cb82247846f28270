"""Text-only requests go as one plain string: local servers (llama.cpp chat templates) reject a
list of content parts, which turned every caption-modality decision into an error."""

from __future__ import annotations

import asyncio

import pytest

from value_spectrum.agents.fake import ScriptedViewer
from value_spectrum.records import Observation


@pytest.mark.parametrize("modality", ["caption", "title"])
def test_text_only_observation_is_a_plain_string(modality: str) -> None:
    viewer = ScriptedViewer(['{"decision": "like", "reason": "fun"}'], strategy="plain")
    obs = Observation(turn=0, video_id="v", title="Sunset", caption="so calm", modality=modality)  # type: ignore[arg-type]
    reply = asyncio.run(viewer.decide(None, obs))
    assert reply.outcome.value == "like"
    user = viewer.model.requests[0].messages[-1]
    assert isinstance(user["content"], str)
    assert "Sunset" in user["content"]


def test_frames_keep_image_parts(tmp_path: object) -> None:
    from pathlib import Path

    from PIL import Image

    frame = Path(str(tmp_path)) / "kf.png"
    Image.new("RGB", (8, 8), "red").save(frame)
    viewer = ScriptedViewer(["No."], strategy="plain")
    obs = Observation(turn=0, video_id="v", title="Red", keyframes=(str(frame),), modality="frames")
    asyncio.run(viewer.decide(None, obs))
    content = viewer.model.requests[0].messages[-1]["content"]
    assert isinstance(content, list)
    assert [p["type"] for p in content].count("image_url") == 1
