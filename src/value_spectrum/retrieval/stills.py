"""Screenshots and keyframes as stored stills: the pixel limit checked from the header before any
pixel is decoded, EXIF orientation applied, the longer side shrunk, PNG written."""

from __future__ import annotations

import threading
import warnings
from pathlib import Path

from PIL import Image, ImageOps

from value_spectrum.retrieval.keyframes import MediaError

DEFAULT_MAX_SIDE = 1280
"""Longest side of stored keyframes and stills, in pixels: 720x1280 for a 9:16 video. Vision
models downscale larger images anyway, and full-HD PNGs cost seconds and megabytes each."""

DEFAULT_MAX_PIXELS = 40_000_000
"""The most pixels an image or a video frame may have to be decoded (an 8K frame is 33 million).
A 12,000 x 12,000 PNG compresses to a few hundred kilobytes and decodes to 430 MB; larger ones
are rejected before any pixel is decoded."""

def fit(image: Image.Image, max_side: int | None) -> Image.Image:
    """Shrink so the longer side is at most ``max_side`` (never enlarge; None keeps the size)."""
    if max_side and max(image.size) > max_side:
        image = image.copy()
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return image


def too_many_pixels(width: int, height: int, max_pixels: int | None) -> str | None:
    """The reason an image of ``width`` x ``height`` is refused, or None when it is not."""
    if max_pixels is not None and width * height > max_pixels:
        return (
            f"{width} x {height} pixels is more than the {max_pixels:,}-pixel limit "
            "(a decompression bomb or a huge picture; shrink it, or raise --max-pixels)"
        )
    return None


_header_lock = threading.Lock()


def open_image(path: Path) -> Image.Image:
    """``Image.open`` (which reads the header only) without Pillow's own bomb warning: our limit
    is lower and gives the reason. ``catch_warnings`` is process-wide, hence the lock; opening
    is cheap, decoding happens outside it."""
    with _header_lock, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(path)


def image_still(path: Path, dest: Path, max_side: int | None, max_pixels: int | None) -> None:
    try:
        with open_image(path) as img:
            # the header gives the size; refuse before a single pixel is decoded
            refused = too_many_pixels(*img.size, max_pixels)
            if refused is not None:
                raise MediaError(refused)
            img.load()
            still = ImageOps.exif_transpose(img).convert("RGB")
    except MediaError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise MediaError(f"not a readable image ({' '.join(str(exc).split())})") from None
    dest.parent.mkdir(parents=True, exist_ok=True)
    fit(still, max_side).save(dest, format="PNG")
