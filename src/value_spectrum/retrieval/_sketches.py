"""Scene sketches for rendered demo frames: a palette per topic and a small drawing (people,
a plate, mountains, a ball, a screen, bars, a house, an arch, music notes, or abstract shapes)
chosen by keywords in the topic. Every shape comes from the ``random.Random`` passed in; the
phase ``t`` in [0, 1] moves things slightly between frames."""

from __future__ import annotations

import colorsys
import hashlib
import random
import re
from collections.abc import Callable

from PIL import ImageDraw

RGB = tuple[int, int, int]
Draw = ImageDraw.ImageDraw


def hsv(h: float, s: float, v: float) -> RGB:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return (round(r * 255), round(g * 255), round(b * 255))


# topic keyword -> hue; the first keyword found in the topic wins
_TOPIC_HUES: tuple[tuple[str, float], ...] = (
    ("family", 0.07),
    ("food", 0.04),
    ("cook", 0.04),
    ("travel", 0.55),
    ("adventure", 0.50),
    ("sport", 0.33),
    ("fitness", 0.36),
    ("tech", 0.62),
    ("finance", 0.40),
    ("business", 0.12),
    ("money", 0.40),
    ("luxury", 0.13),
    ("fashion", 0.90),
    ("nature", 0.28),
    ("environment", 0.30),
    ("climate", 0.30),
    ("religion", 0.75),
    ("tradition", 0.08),
    ("culture", 0.80),
    ("music", 0.83),
    ("party", 0.87),
    ("education", 0.58),
    ("school", 0.58),
    ("community", 0.10),
    ("volunteer", 0.10),
    ("safety", 0.60),
    ("home", 0.09),
    ("health", 0.45),
    ("career", 0.66),
    ("politic", 0.00),
    ("art", 0.95),
    ("diy", 0.15),
    ("comedy", 0.16),
)


def topic_palette(topic: str) -> tuple[RGB, RGB, RGB, RGB]:
    """Sky top, sky bottom, ground and accent colours for a topic. Known topic keywords get
    a fixed hue; any other topic gets a hue from its hash, so it is still stable."""
    key = topic.strip().lower()
    hue = next((h for word, h in _TOPIC_HUES if _matches(key, word)), None)
    if hue is None:
        digest = hashlib.sha256(f"topic:{key}".encode()).digest()
        hue = int.from_bytes(digest[:4], "big") % 1000 / 1000.0
    return (
        hsv(hue, 0.55, 0.35),
        hsv(hue + 0.04, 0.35, 0.85),
        hsv(hue - 0.05, 0.60, 0.45),
        hsv(hue + 0.5, 0.70, 0.95),
    )


# ---- scene sketches --------------------------------------------------------------------------

Motif = Callable[[Draw, random.Random, float, RGB, tuple[int, int, int, int]], None]


def _people(
    d: Draw, rng: random.Random, t: float, accent: RGB, box: tuple[int, int, int, int]
) -> None:
    x0, _y0, x1, y1 = box
    n = rng.randint(2, 4)
    for i in range(n):
        cx = x0 + (i + 1) * (x1 - x0) / (n + 1) + 6 * t * (1 if i % 2 else -1)
        h = rng.randint(60, 110)
        col = hsv(rng.random(), 0.5, 0.9)
        d.ellipse((cx - 14, y1 - h - 30, cx + 14, y1 - h - 2), fill=col)
        d.rounded_rectangle((cx - 18, y1 - h, cx + 18, y1), radius=10, fill=col)


def _plate(
    d: Draw, rng: random.Random, t: float, accent: RGB, box: tuple[int, int, int, int]
) -> None:
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + 20
    d.ellipse((cx - 110, cy - 55, cx + 110, cy + 55), fill=(245, 245, 240))
    for _ in range(rng.randint(3, 6)):
        a = rng.uniform(-70, 70) + 10 * t
        b = rng.uniform(-25, 25)
        r = rng.randint(12, 24)
        d.ellipse(
            (cx + a - r, cy + b - r * 0.6, cx + a + r, cy + b + r * 0.6),
            fill=hsv(rng.random(), 0.7, 0.8),
        )
    for k in range(3):  # steam
        sx = cx - 30 + 30 * k
        d.arc(
            (sx - 8, cy - 110 - 10 * t, sx + 8, cy - 70 - 10 * t),
            90,
            270,
            fill=(255, 255, 255),
            width=3,
        )


def _mountains(
    d: Draw, rng: random.Random, t: float, accent: RGB, box: tuple[int, int, int, int]
) -> None:
    x0, _y0, x1, y1 = box
    for i in range(rng.randint(2, 4)):
        peak = x0 + rng.uniform(0, x1 - x0) - 20 * t * (i + 1)
        h = rng.uniform(70, 150)
        col = hsv(0.6 + 0.05 * i, 0.3, 0.35 + 0.12 * i)
        d.polygon([(peak - 120, y1), (peak, y1 - h), (peak + 120, y1)], fill=col)
        d.polygon(
            [(peak - 22, y1 - h + 30), (peak, y1 - h), (peak + 22, y1 - h + 30)],
            fill=(250, 250, 250),
        )


def _ball(
    d: Draw, rng: random.Random, t: float, accent: RGB, box: tuple[int, int, int, int]
) -> None:
    x0, _y0, x1, y1 = box
    d.line((x0, y1 - 8, x1, y1 - 8), fill=(255, 255, 255), width=3)
    cx = x0 + 40 + (x1 - x0 - 80) * t
    cy = y1 - 30 - 90 * (1 - (2 * t - 1) ** 2)
    r = rng.randint(16, 24)
    d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=accent, outline=(20, 20, 20), width=2)
    px = x0 + rng.uniform(20, 80)
    d.ellipse((px - 12, y1 - 120, px + 12, y1 - 96), fill=(40, 40, 40))
    d.line((px, y1 - 96, px, y1 - 50), fill=(40, 40, 40), width=6)
    d.line((px, y1 - 50, px - 15 + 30 * t, y1 - 10), fill=(40, 40, 40), width=6)


def _screen(
    d: Draw, rng: random.Random, t: float, accent: RGB, box: tuple[int, int, int, int]
) -> None:
    x0, y0, x1, y1 = box
    d.rounded_rectangle(
        (x0 + 50, y0 + 20, x1 - 50, y1 - 40),
        radius=8,
        fill=(25, 28, 36),
        outline=(200, 200, 210),
        width=3,
    )
    for i in range(rng.randint(3, 6)):
        w = rng.uniform(40, 180) * (0.6 + 0.4 * t)
        y = y0 + 40 + i * 20
        d.rectangle((x0 + 70, y, x0 + 70 + w, y + 8), fill=hsv(rng.random(), 0.6, 0.9))
    d.rectangle(((x0 + x1) / 2 - 30, y1 - 40, (x0 + x1) / 2 + 30, y1 - 30), fill=(200, 200, 210))


def _bars(
    d: Draw, rng: random.Random, t: float, accent: RGB, box: tuple[int, int, int, int]
) -> None:
    x0, y0, x1, y1 = box
    n = rng.randint(4, 7)
    bw = (x1 - x0 - 60) / n
    level = rng.uniform(0.2, 0.4)
    points = []
    for i in range(n):
        level = min(1.0, max(0.1, level + rng.uniform(-0.1, 0.25)))
        h = (y1 - y0 - 30) * level * (0.85 + 0.15 * t)
        bx = x0 + 30 + i * bw
        d.rectangle((bx + 4, y1 - h, bx + bw - 4, y1), fill=accent)
        points.append((bx + bw / 2, y1 - h - 10))
    d.line(points, fill=(255, 255, 255), width=3)


def _house(
    d: Draw, rng: random.Random, t: float, accent: RGB, box: tuple[int, int, int, int]
) -> None:
    x0, _y0, x1, y1 = box
    cx = (x0 + x1) / 2 + rng.uniform(-40, 40)
    d.rectangle((cx - 70, y1 - 100, cx + 70, y1), fill=(235, 225, 205))
    d.polygon([(cx - 85, y1 - 100), (cx, y1 - 165), (cx + 85, y1 - 100)], fill=accent)
    d.rectangle((cx - 15, y1 - 50, cx + 15, y1), fill=(110, 70, 40))
    glow = int(150 + 100 * t)
    d.rectangle((cx - 55, y1 - 80, cx - 30, y1 - 55), fill=(glow, glow, 120))
    d.rectangle((cx + 30, y1 - 80, cx + 55, y1 - 55), fill=(glow, glow, 120))


def _arch(
    d: Draw, rng: random.Random, t: float, accent: RGB, box: tuple[int, int, int, int]
) -> None:
    x0, _y0, x1, y1 = box
    cx = (x0 + x1) / 2
    d.rectangle((cx - 90, y1 - 140, cx + 90, y1), fill=(220, 200, 170))
    d.pieslice((cx - 90, y1 - 230, cx + 90, y1 - 50), 180, 360, fill=(220, 200, 170))
    d.rectangle((cx - 30, y1 - 90, cx + 30, y1), fill=(90, 60, 40))
    d.pieslice((cx - 30, y1 - 120, cx + 30, y1 - 60), 180, 360, fill=(90, 60, 40))
    for i in range(rng.randint(3, 5)):  # candles / lanterns
        lx = x0 + 20 + i * 50
        flame = 6 + 3 * ((i + t * 3) % 2)
        d.rectangle((lx, y1 - 40, lx + 8, y1), fill=(250, 240, 220))
        d.ellipse((lx, y1 - 40 - flame * 2, lx + 8, y1 - 40), fill=(255, 190, 60))


def _notes(
    d: Draw, rng: random.Random, t: float, accent: RGB, box: tuple[int, int, int, int]
) -> None:
    x0, y0, x1, y1 = box
    for _ in range(rng.randint(4, 8)):
        x = rng.uniform(x0 + 20, x1 - 40)
        y = rng.uniform(y0 + 20, y1 - 30) - 25 * t
        col = hsv(rng.random(), 0.8, 1.0)
        d.ellipse((x, y + 20, x + 16, y + 32), fill=col)
        d.line((x + 15, y + 26, x + 15, y - 10), fill=col, width=3)
    for i in range(8):  # stage lights
        d.line((x0 + i * 40, y0, (x0 + x1) / 2 + 60 * (t - 0.5), y1), fill=accent, width=1)


def _abstract(
    d: Draw, rng: random.Random, t: float, accent: RGB, box: tuple[int, int, int, int]
) -> None:
    x0, y0, x1, y1 = box
    for _ in range(rng.randint(4, 8)):
        x = rng.uniform(x0, x1 - 40) + 20 * t * rng.choice((-1, 1))
        y = rng.uniform(y0, y1 - 40)
        s = rng.uniform(20, 60)
        col = hsv(rng.random(), 0.6, 0.9)
        kind = rng.randrange(3)
        if kind == 0:
            d.ellipse((x, y, x + s, y + s), fill=col)
        elif kind == 1:
            d.rectangle((x, y, x + s, y + s * 0.7), fill=col)
        else:
            d.polygon([(x, y + s), (x + s / 2, y), (x + s, y + s)], fill=col)


def _pet(
    d: Draw, rng: random.Random, t: float, accent: RGB, box: tuple[int, int, int, int]
) -> None:
    x0, _y0, x1, y1 = box
    cx = x0 + 60 + (x1 - x0 - 160) * rng.random() + 15 * t
    fur = hsv(rng.uniform(0.05, 0.12), rng.uniform(0.2, 0.6), rng.uniform(0.5, 0.9))
    d.ellipse((cx - 60, y1 - 80, cx + 40, y1 - 20), fill=fur)  # body
    d.ellipse((cx + 20, y1 - 120, cx + 80, y1 - 60), fill=fur)  # head
    d.polygon([(cx + 24, y1 - 105), (cx + 32, y1 - 135), (cx + 46, y1 - 112)], fill=fur)
    d.polygon([(cx + 56, y1 - 112), (cx + 70, y1 - 135), (cx + 77, y1 - 105)], fill=fur)
    d.ellipse((cx + 38, y1 - 98, cx + 44, y1 - 92), fill=(20, 20, 20))
    d.ellipse((cx + 58, y1 - 98, cx + 64, y1 - 92), fill=(20, 20, 20))
    tail = -10 + 20 * t
    d.line((cx - 58, y1 - 55, cx - 85, y1 - 90 + tail), fill=fur, width=8)
    for k in range(3):  # legs
        d.rectangle((cx - 45 + 30 * k, y1 - 30, cx - 35 + 30 * k, y1), fill=fur)


_MOTIFS: tuple[tuple[tuple[str, ...], Motif], ...] = (
    (
        (
            "family",
            "community",
            "volunteer",
            "friend",
            "people",
            "kindness",
            "charity",
            "society",
            "comedy",
        ),
        _people,
    ),
    (("pet", "animal", "dog", "cat"), _pet),
    (("food", "cook", "recipe"), _plate),
    (("travel", "adventure", "nature", "outdoor", "environment", "climate", "hiking"), _mountains),
    (("sport", "fitness", "extreme"), _ball),
    (("tech", "science", "education", "school", "gam", "ai", "coding"), _screen),
    (("finance", "business", "money", "career", "luxury", "invest"), _bars),
    (("home", "safety", "security", "health", "insurance", "lifestyle"), _house),
    (("religion", "tradition", "culture", "heritage", "faith", "holiday"), _arch),
    (("music", "party", "dance", "nightlife", "festival"), _notes),
)


def _matches(topic: str, keyword: str) -> bool:
    """A keyword matches a topic word that starts with it ("sport" matches "sports")."""
    return any(word.startswith(keyword) for word in re.split(r"[^a-z0-9]+", topic.lower()) if word)


def motif_for(topic: str) -> Motif:
    """The sketch for a topic: the first motif with a keyword matching a topic word, else
    abstract shapes."""
    for words, motif in _MOTIFS:
        if any(_matches(topic, w) for w in words):
            return motif
    return _abstract
