"""Deterministic media for cards that have none: 9:16 poster keyframes drawn with Pillow and,
for a fixed subset of cards, a short MP4.

Everything drawn depends only on what a viewer would see on the card (platform, handle, title,
on-screen text, hashtags, transcript, topic) and on a seed taken from a hash of the card id,
never on the global RNG or on the clock: the same card gives byte-identical PNGs on every run.
The value labels are never drawn.

Example:
    >>> from value_spectrum.records import Video
    >>> card = Video(id="demo-1", title="Sunday dinner", topic="family", on_screen_text="POV")
    >>> render_keyframe(card, 0).size
    (360, 640)
"""

from __future__ import annotations

import hashlib
import io
import logging
import random
import unicodedata
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from value_spectrum.records import Video
from value_spectrum.retrieval._files import atomic_path, atomic_write_bytes
from value_spectrum.retrieval._sketches import RGB, Draw, motif_for, topic_palette

log = logging.getLogger(__name__)

RENDER_VERSION = 1
"""Bumped whenever the drawing changes, so cached renders are redrawn."""

FRAME_SIZE: tuple[int, int] = (360, 640)
"""Width and height of a rendered frame (9:16, even numbers for H.264)."""

KEYFRAMES_PER_CARD = 3
"""How many keyframes a demo card gets."""

VIDEO_FPS = 6
"""Frame rate of rendered MP4s."""

VIDEO_SECONDS = 2.5
"""Length of rendered MP4s."""

VIDEO_SHARE = 10
"""One card in ``VIDEO_SHARE`` (chosen by id hash) also gets a rendered MP4."""

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

# ---- seeds and palettes --------------------------------------------------------------------


def card_seed(video_id: str) -> int:
    """A 64-bit seed from the card id (SHA-256, so stable across processes and Python
    versions, unlike :func:`hash`)."""
    return int.from_bytes(hashlib.sha256(video_id.encode("utf-8")).digest()[:8], "big")


def has_rendered_video(video: Video) -> bool:
    """Whether this card is in the subset that also gets an MP4 (id hash divisible by
    :data:`VIDEO_SHARE`)."""
    return card_seed(video.id) % VIDEO_SHARE == 0


@lru_cache(maxsize=16)
def _font(size: int) -> Font:
    # Pillow >= 10.1 embeds a scalable font; no file on disk and no network needed.
    return ImageFont.load_default(size=size)


_SUBSTITUTES = {
    "\u2192": "->",
    "\u2190": "<-",
    "\u2191": "^",
    "\u2193": "v",
    "\u21d2": "=>",
    "\u2014": " - ",
    "\u2013": "-",
    "\u2012": "-",
    "\u2212": "-",
    "\u2022": "*",
    "\u00b7": "*",
    "\u00d7": "x",
    "\u2713": "v",
    "\u2714": "v",
    "\u2715": "x",
    "\u2717": "x",
    "\u20ac": "EUR ",
    "\u00a3": "GBP ",
    "\u00a5": "JPY ",
    "\u00b0": " deg",
    "\u201c": '"',
    "\u201d": '"',
    "\u2018": "'",
    "\u00a0": " ",
    "\u2026": "...",
}
"""Readable ASCII for symbols the embedded font lacks."""


@lru_cache(maxsize=4096)
def _glyph(char: str) -> str:
    """What to draw for ``char``: itself when the embedded font has it, an ASCII stand-in,
    its accent-stripped letter (e -> e for e-acute), or nothing (emoji)."""
    if " " <= char <= "~":
        return char
    if char in _SUBSTITUTES:
        return _SUBSTITUTES[char]
    font = _font(20)
    missing = font.getmask("\U0010fffd")
    mask = font.getmask(char)
    if mask.size != missing.size or bytes(mask) != bytes(missing):
        return char
    base = "".join(c for c in unicodedata.normalize("NFKD", char) if " " <= c <= "~")
    return base


def displayable(text: str) -> str:
    """``text`` with every character the embedded font cannot draw replaced (see
    :func:`_glyph`), so no frame shows empty boxes. The font is the same on every machine,
    which keeps renders byte-identical everywhere."""
    out = "".join(_glyph(c) for c in text)
    return " ".join(out.split()) if out != text else text


# ---- text ----------------------------------------------------------------------------------


def wrap_text(text: str, font: Font, width: int, max_lines: int) -> list[str]:
    """Greedy word wrap to ``width`` pixels, at most ``max_lines`` lines; an overflowing last
    line ends with an ellipsis. Words longer than a line are cut."""
    lines: list[str] = []
    current = ""
    words = text.split()
    for i, word in enumerate(words):
        candidate = f"{current} {word}".strip()
        if font.getlength(candidate) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        current = word
        while font.getlength(current) > width and len(current) > 1:
            cut = len(current) - 1
            while cut > 1 and font.getlength(current[:cut]) > width:
                cut -= 1
            lines.append(current[:cut])
            current = current[cut:]
        if len(lines) >= max_lines:
            rest = " ".join([current, *words[i + 1 :]])
            return _ellipsize(lines[:max_lines], font, width) if rest.strip() else lines[:max_lines]
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        return _ellipsize(lines[:max_lines], font, width)
    return lines


def _ellipsize(lines: list[str], font: Font, width: int) -> list[str]:
    last = lines[-1]
    while last and font.getlength(last + "…") > width:
        last = last[:-1]
    return [*lines[:-1], last.rstrip() + "…"]


def _segments(text: str, count: int) -> list[str]:
    """Split ``text`` into ``count`` consecutive word runs of near-equal length (subtitles)."""
    words = text.split()
    if not words:
        return [""] * count
    out = []
    for i in range(count):
        a = round(i * len(words) / count)
        b = round((i + 1) * len(words) / count)
        out.append(" ".join(words[a:b]))
    return out


def _text_block(
    draw: Draw,
    lines: list[str],
    font: Font,
    y: int,
    fill: RGB,
    *,
    centre: bool,
    x: int = 16,
    spacing: int = 4,
) -> int:
    """Draw lines from ``y``; returns the y below the block."""
    w = FRAME_SIZE[0]
    for line in lines:
        left = (w - font.getlength(line)) / 2 if centre else x
        draw.text((left, y), line, font=font, fill=fill)
        y += int(getattr(font, "size", 12)) + spacing
    return y


# ---- platform chrome -------------------------------------------------------------------------


def _heart(d: Draw, cx: float, cy: float, r: float, fill: RGB) -> None:
    d.ellipse((cx - r, cy - r, cx, cy), fill=fill)
    d.ellipse((cx, cy - r, cx + r, cy), fill=fill)
    d.polygon([(cx - r, cy - r / 2), (cx + r, cy - r / 2), (cx, cy + r)], fill=fill)


def _chrome(d: Draw, video: Video, rng: random.Random) -> None:
    w, _ = FRAME_SIZE
    white = (255, 255, 255)
    small = _font(14)
    if video.platform == "tiktok":
        d.text((w / 2 - 70, 14), "Following", font=small, fill=(200, 200, 200))
        d.text((w / 2 + 8, 14), "For You", font=_font(15), fill=white)
        d.line((w / 2 + 10, 34, w / 2 + 60, 34), fill=white, width=2)
    elif video.platform == "youtube_shorts":
        d.rounded_rectangle((12, 10, 86, 34), radius=6, fill=(230, 30, 35))
        d.text((22, 13), "Shorts", font=_font(15), fill=white)
        d.rounded_rectangle((w - 112, 10, w - 12, 34), radius=12, fill=white)
        d.text((w - 100, 14), "Subscribe", font=small, fill=(20, 20, 20))
    elif video.platform == "instagram_reels":
        d.text((14, 12), "Reels", font=_font(20), fill=white)
        d.rounded_rectangle((w - 42, 12, w - 16, 36), radius=6, outline=white, width=2)
        d.ellipse((w - 35, 18, w - 23, 30), outline=white, width=2)
    if video.platform in ("tiktok", "instagram_reels", "youtube_shorts"):
        x = w - 30
        counts = [rng.randint(2, 999) for _ in range(3)]
        _heart(d, x, 330, 12, white)
        d.text((x - 12, 346), f"{counts[0]}K", font=_font(12), fill=white)
        d.ellipse((x - 12, 380, x + 12, 400), outline=white, width=3)
        d.text((x - 10, 406), f"{counts[1]}", font=_font(12), fill=white)
        d.polygon([(x - 12, 440), (x + 12, 450), (x - 12, 460)], fill=white)
        d.text((x - 10, 466), f"{counts[2]}", font=_font(12), fill=white)


# ---- frames ----------------------------------------------------------------------------------


def render_frame(
    video: Video, phase: float, segment: int = 0, segments: int = KEYFRAMES_PER_CARD
) -> Image.Image:
    """Draw one frame of ``video`` at ``phase`` in [0, 1] of its little animation, with
    subtitle segment ``segment`` of ``segments``.

    The layout: platform chrome at the top and right, the on-screen text in a card across the
    upper third, a sketch of the scene in the topic's palette, subtitles from the transcript,
    and the handle, title and hashtags at the bottom, as on a short-video app.
    """
    w, h = FRAME_SIZE
    rng = random.Random(card_seed(video.id))
    top, bottom, ground, accent = topic_palette(video.topic)
    sky = Image.new("RGB", (1, 2))
    sky.putpixel((0, 0), top)
    sky.putpixel((0, 1), bottom)
    img = sky.resize((w, h), Image.Resampling.BILINEAR)
    d = ImageDraw.Draw(img)

    # scene: sun, ground, motif (own RNG stream so text changes do not move shapes)
    scene_rng = random.Random(rng.getrandbits(64))
    sun_x = scene_rng.uniform(40, w - 40) + 30 * phase
    d.ellipse((sun_x - 26, 250 - 20 * phase, sun_x + 26, 302 - 20 * phase), fill=(255, 236, 170))
    d.rectangle((0, 470, w, h), fill=ground)
    motif_for(video.topic)(d, scene_rng, phase, accent, (20, 250, w - 50, 470))

    chrome_rng = random.Random(rng.getrandbits(64))
    _chrome(d, video, chrome_rng)

    # on-screen text card
    on_screen = displayable(video.on_screen_text)
    if on_screen.strip():
        font = _font(22)
        lines = wrap_text(on_screen, font, w - 64, 5)
        block_h = len(lines) * 26 + 16
        d.rounded_rectangle((20, 60, w - 20, 60 + block_h), radius=10, fill=(255, 255, 255))
        _text_block(d, lines, font, 68, (15, 15, 15), centre=True)

    # subtitles: one segment of the transcript per keyframe
    sub = _segments(displayable(video.transcript), max(segments, 1))[
        min(max(segment, 0), max(segments, 1) - 1)
    ]
    if sub:
        font = _font(16)
        lines = wrap_text(sub, font, w - 80, 2)
        y = 420 - 20 * len(lines)
        for line in lines:
            lw = font.getlength(line)
            d.rectangle(((w - lw) / 2 - 6, y - 2, (w + lw) / 2 + 6, y + 19), fill=(0, 0, 0))
            d.text(((w - lw) / 2, y), line, font=font, fill=(255, 230, 80))
            y += 22

    # bottom: handle, title, hashtags
    y = 486
    if video.creator:
        d.text((16, y), displayable(video.creator), font=_font(18), fill=(255, 255, 255))
        y += 26
    if video.title:
        y = _text_block(
            d,
            wrap_text(displayable(video.title), _font(16), w - 70, 3),
            _font(16),
            y,
            (255, 255, 255),
            centre=False,
        )
    if video.hashtags:
        tags = displayable(" ".join(f"#{t}" for t in video.hashtags))
        _text_block(
            d,
            wrap_text(tags, _font(14), w - 70, 2),
            _font(14),
            y + 2,
            (200, 230, 255),
            centre=False,
        )

    d.rectangle((0, h - 4, w, h), fill=(90, 90, 90))
    d.rectangle((0, h - 4, int(w * phase), h), fill=(255, 255, 255))
    return img


def keyframe_phase(index: int, count: int = KEYFRAMES_PER_CARD) -> float:
    """Where keyframe ``index`` of ``count`` sits in the animation: evenly spread, ends
    included, as uniform sampling of the video would give."""
    return 0.0 if count <= 1 else index / (count - 1)


def render_keyframe(video: Video, index: int, count: int = KEYFRAMES_PER_CARD) -> Image.Image:
    """Keyframe ``index`` (0-based) of ``count`` for ``video``."""
    if not 0 <= index < count:
        raise ValueError(f"keyframe index {index!r} out of range for {count} keyframes")
    return render_frame(video, keyframe_phase(index, count), index, count)


def png_bytes(image: Image.Image) -> bytes:
    """Encode as PNG with no metadata (no time stamps), so equal images give equal bytes."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def write_keyframes(
    video: Video, out_dir: Path, count: int = KEYFRAMES_PER_CARD
) -> tuple[Path, ...]:
    """Render ``count`` keyframes to ``out_dir/kf-<i>.png`` (atomic writes) and return the
    paths. Existing files are overwritten."""
    paths = []
    for i in range(count):
        path = out_dir / f"kf-{i}.png"
        atomic_write_bytes(path, png_bytes(render_keyframe(video, i, count)))
        paths.append(path)
    return tuple(paths)


def video_codec() -> str:
    """``libx264`` when this PyAV build has it, else ``mpeg4``."""
    import av

    return "libx264" if "libx264" in av.codecs_available else "mpeg4"


def render_video(
    video: Video, out_path: Path, *, seconds: float = VIDEO_SECONDS, fps: int = VIDEO_FPS
) -> Path:
    """Encode a short MP4 of ``video``'s animation (H.264 when available, else MPEG-4 part 2)
    to ``out_path``, atomically. Subtitles advance through the transcript as keyframes do.

    Returns:
        ``out_path``.
    """
    import av

    frames = max(2, round(seconds * fps))
    codec = video_codec()
    w, h = FRAME_SIZE
    with atomic_path(out_path) as tmp, av.open(str(tmp), mode="w", format="mp4") as container:
        stream = container.add_stream(codec, rate=fps)
        assert isinstance(stream, av.VideoStream)
        stream.width = w
        stream.height = h
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": "30", "preset": "veryfast"}
        else:
            stream.bit_rate = 400_000
        for i in range(frames):
            phase = i / (frames - 1)
            seg = min(int(phase * KEYFRAMES_PER_CARD), KEYFRAMES_PER_CARD - 1)
            frame = av.VideoFrame.from_image(render_frame(video, phase, seg))  # type: ignore[no-untyped-call]
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    log.debug("rendered %s (%d frames, %s)", out_path, frames, codec)
    return out_path
