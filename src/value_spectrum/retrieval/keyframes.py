"""Keyframes from real video files: K frames sampled uniformly over the video's length with
PyAV. Short clips are decoded once; longer ones are sought to each target time.

A file that is not a video, is truncated, or has no decodable frame raises :class:`MediaError`
with the path and the reason, never a bare FFmpeg exception.

Example:
    >>> frames = sample_keyframes(Path("clip.mp4"), k=3)  # doctest: +SKIP
    >>> [f.size for f in frames]  # doctest: +SKIP
    [(720, 1280), (720, 1280), (720, 1280)]
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path
from typing import Any

from PIL import Image

log = logging.getLogger(__name__)

DEFAULT_KEYFRAMES = 3
"""How many keyframes to take from a video unless asked otherwise."""

DECODE_ALL_BELOW_S = 20.0
"""Videos shorter than this are decoded straight through (cheaper than seeking)."""


_STILL_FORMATS = frozenset({"image2", "gif", "webp_pipe", "png_pipe", "jpeg_pipe"})
"""FFmpeg demuxers that read a still picture as a one-frame 'video'."""


class MediaError(ValueError):
    """A media file could not be read; the message names the file and the reason."""


def sample_times(duration_s: float, k: int) -> list[float]:
    """``k`` target times spread uniformly over ``duration_s``: the centres of ``k`` equal
    slices, so the first and last frames (often black or a logo) are avoided."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k!r}")
    return [(i + 0.5) * duration_s / k for i in range(k)]


def _open(path: Path) -> Any:
    import av

    try:
        return av.open(str(path), mode="r")
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise MediaError(f"{path}: not a readable video ({_reason(exc)})") from None


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())


def video_duration(path: Path) -> float:
    """Length of the video in seconds (0.0 when the container does not say).

    Raises:
        MediaError: the file cannot be opened as a video.
    """
    container = _open(path)
    try:
        return _duration(container, _video_stream(container, path))
    finally:
        container.close()


def _video_stream(container: Any, path: Path) -> Any:
    if not container.streams.video:
        raise MediaError(f"{path}: no video stream in the file")
    return container.streams.video[0]


def _duration(container: Any, stream: Any) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(container.duration) / 1_000_000  # AV_TIME_BASE
    return 0.0


def _frame_time(frame: Any, time_base: Fraction | None) -> float:
    if frame.time is not None:
        return float(frame.time)
    if frame.pts is not None and time_base is not None:
        return float(frame.pts * time_base)
    return 0.0


def _to_image(frame: Any) -> Image.Image:
    """The frame as a PIL image, turned upright: phones store portrait video sideways with a
    display matrix, which FFmpeg reports as a counterclockwise rotation in degrees."""
    image: Image.Image = frame.to_image()
    rotation = int(getattr(frame, "rotation", 0) or 0)
    if rotation % 360 and rotation % 90 == 0:
        image = image.rotate(rotation, expand=True)
    return image


def _decode_all(
    container: Any, stream: Any, targets: list[float], duration: float
) -> list[Image.Image]:
    """One pass: keep, for each target, the first frame at or after it (else the last)."""
    picked: list[Image.Image | None] = [None] * len(targets)
    last: Any = None
    next_i = 0
    for frame in container.decode(stream):
        last = frame
        t = _frame_time(frame, stream.time_base)
        while next_i < len(targets) and t + 1e-6 >= targets[next_i]:
            picked[next_i] = _to_image(frame)
            next_i += 1
        if next_i == len(targets):
            break
    if last is None:
        return []
    if next_i < len(targets) and duration > 0:
        # a target past the last frame: fine for a container that overstates its length by a
        # frame or two (or a clip of a few frames); a truncated file when frames stop earlier
        last_t = _frame_time(last, stream.time_base)
        rate = stream.average_rate or stream.guessed_rate
        slack = max(2.0 / float(rate), 0.25) if rate else 0.5  # two frame intervals
        if targets[-1] - last_t > slack:
            raise MediaError(
                f"frames stop at {last_t:.1f}s of a {duration:.1f}s video (truncated video)"
            )
    tail = _to_image(last)
    return [p if p is not None else tail for p in picked]


def _seek_each(container: Any, stream: Any, targets: list[float]) -> list[Image.Image]:
    """Seek to the keyframe before each target and decode forward to it."""
    images: list[Image.Image] = []
    tb = stream.time_base
    for target in targets:
        container.seek(int(target / tb), stream=stream, backward=True, any_frame=False)
        chosen = None
        for frame in container.decode(stream):
            chosen = frame
            if _frame_time(frame, tb) + 1e-6 >= target:
                break
        if chosen is not None:
            images.append(_to_image(chosen))
    return images


def sample_keyframes(
    path: Path, k: int = DEFAULT_KEYFRAMES, *, max_pixels: int | None = None
) -> list[Image.Image]:
    """Decode ``k`` frames at uniformly spread times of the video at ``path``.

    Args:
        path: A video file (MP4, WebM, MOV, anything FFmpeg reads).
        k: How many frames.
        max_pixels: Refuse a video whose frames have more pixels than this, before decoding
            any (None: no limit).

    Returns:
        ``k`` RGB images in time order. A video with fewer distinct frames than ``k`` repeats
        frames rather than returning fewer.

    Raises:
        MediaError: the file is missing, not a video, truncated, has no decodable frame, or its
            frames are larger than ``max_pixels``.
    """
    import av

    if k < 1:
        raise ValueError(f"k must be at least 1, got {k!r}")
    if not path.is_file():
        raise MediaError(f"{path}: no such file")
    container = _open(path)
    try:
        stream = _video_stream(container, path)
        if container.format.name in _STILL_FORMATS or container.format.name.endswith("_pipe"):
            raise MediaError(f"{path}: a still image ({container.format.name}), not a video")
        width, height = int(stream.codec_context.width or 0), int(stream.codec_context.height or 0)
        if max_pixels is not None and width * height > max_pixels:
            raise MediaError(
                f"{path}: frames of {width} x {height} pixels are more than the "
                f"{max_pixels:,}-pixel limit (shrink the video, or raise --max-pixels)"
            )
        stream.thread_type = "AUTO"
        duration = _duration(container, stream)
        # frame times count from the stream's start, which is not always zero
        start = (
            float(stream.start_time * stream.time_base)
            if stream.start_time is not None and stream.time_base is not None
            else 0.0
        )
        targets = [start + t for t in sample_times(duration, k)]
        try:
            if duration >= DECODE_ALL_BELOW_S and stream.time_base is not None:
                images = _seek_each(container, stream, targets)
                if len(images) < k:  # some seeks failed: fall back to one pass
                    container.seek(0)
                    images = _decode_all(container, stream, targets, duration)
            else:
                images = _decode_all(container, stream, targets, duration)
        except av.FFmpegError as exc:
            raise MediaError(f"{path}: video could not be decoded ({_reason(exc)})") from None
        except MediaError as exc:
            raise MediaError(f"{path}: {exc}") from None
        if not images:
            raise MediaError(f"{path}: no frame could be decoded (truncated or empty video)")
        return [img.convert("RGB") for img in images]
    finally:
        container.close()
