"""The embedder seam: a tiny Protocol, the maths every embedder shares, and video embedding.

An embedder maps texts (and, for image models, images) to L2-normalised float32 vectors in one
space. A video's vector is built here, once, for every embedder: the normalised mean of its
keyframe vectors, optionally fused with the vector of its visible text; a text-only embedder
embeds the visible text alone.

Example:
    >>> from value_spectrum.retrieval.embedders.fake import HashingEmbedder
    >>> e = HashingEmbedder(dim=16)
    >>> e.embed_texts(["a dog", "a cat"]).shape
    (2, 16)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, runtime_checkable

import numpy as np

from value_spectrum.records import Video

if TYPE_CHECKING:
    from PIL import Image

    from value_spectrum.retrieval.corpus import Corpus

log = logging.getLogger(__name__)

ImageInput: TypeAlias = "Image.Image | str | Path"
"""What ``embed_images`` accepts: a PIL image or the path of an image file."""

DEFAULT_TEXT_WEIGHT = 0.3
"""Share of the text vector in a video vector for image embedders (0 = frames only)."""


class EmbedderError(RuntimeError):
    """An embedder could not be built or could not embed; the message says which and why."""


class TextOnlyError(EmbedderError):
    """``embed_images`` was called on an embedder that has no image tower."""


@runtime_checkable
class Embedder(Protocol):
    """Texts and images to unit vectors in one space."""

    name: str
    """Short identity, e.g. ``"minilm-l6-v2"`` or ``"clip-ViT-B-32-laion2b_s34b_b79k"``."""
    version: str
    """Weights / code version; an index built with another name, version or dim is refused."""
    dim: int
    """Vector length."""
    supports_images: bool
    """False for text-only embedders: their ``embed_images`` raises :class:`TextOnlyError`."""

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), dim)`` float32, each row of unit length."""
        ...

    def embed_images(self, images: Sequence[ImageInput]) -> np.ndarray:
        """``(len(images), dim)`` float32, each row of unit length."""
        ...

    def describe(self) -> dict[str, Any]:
        """Identity and options for manifests and index metadata. Holds ``kind`` (the registry
        name) and the options needed to rebuild the same embedder."""
        ...


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, as C-contiguous float32; zero rows stay zero."""
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None, :]
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(arr / norms, dtype=np.float32)


def identity(embedder: Embedder) -> dict[str, Any]:
    """The three facts that must match for two vectors to be comparable."""
    return {"name": embedder.name, "version": embedder.version, "dim": int(embedder.dim)}


def load_image(image: ImageInput) -> Image.Image:
    """An RGB PIL image from a PIL image or a path.

    Raises:
        EmbedderError: the file is missing or not an image, naming the path.
    """
    from PIL import Image, UnidentifiedImageError

    if isinstance(image, Image.Image):
        return image.convert("RGB") if image.mode != "RGB" else image
    try:
        with Image.open(image) as im:
            return im.convert("RGB")
    except (OSError, UnidentifiedImageError) as exc:
        raise EmbedderError(f"{image}: cannot read image ({exc})") from None


def embed_videos(
    embedder: Embedder,
    corpus: Corpus,
    videos: Sequence[Video],
    *,
    text_weight: float = DEFAULT_TEXT_WEIGHT,
    frame_batch: int = 64,
) -> np.ndarray:
    """One unit vector per video, in order.

    For an image embedder: the normalised mean of the keyframe vectors, fused with the visible
    text's vector as ``normalise((1 - w) * frames + w * text)`` where ``w = text_weight``; a
    video without keyframes (or whose keyframes cannot be read) falls back to its text alone.
    For a text-only embedder: the vector of :meth:`Video.visible_text`.

    Keyframes are read (rendered first for the demo corpus) in a background thread while the
    model embeds the previous batch, so reading overlaps the forward pass.

    Args:
        embedder: Any :class:`Embedder`.
        corpus: Where the keyframes are resolved.
        videos: The cards to embed.
        text_weight: Share of the text vector, in [0, 1], for image embedders.
        frame_batch: Frames per forward pass.

    Returns:
        ``(len(videos), embedder.dim)`` float32.
    """
    if not 0.0 <= text_weight <= 1.0:
        raise ValueError(f"text_weight must be in [0, 1], got {text_weight!r}")
    n = len(videos)
    out = np.zeros((n, embedder.dim), dtype=np.float32)
    if n == 0:
        return out
    texts = [v.visible_text() or v.id for v in videos]
    need_text = not embedder.supports_images or text_weight > 0.0
    text_vecs = embedder.embed_texts(texts) if need_text else None
    if not embedder.supports_images:
        assert text_vecs is not None
        return l2_normalise(text_vecs)

    frame_vecs = _embed_keyframes(embedder, corpus, videos, frame_batch)
    for i in range(n):
        fv = frame_vecs[i]
        if fv is None:
            if text_vecs is None:
                text_vecs = embedder.embed_texts(texts)
            out[i] = text_vecs[i]
        elif text_vecs is None:
            out[i] = fv
        else:
            out[i] = (1.0 - text_weight) * fv + text_weight * text_vecs[i]
    return l2_normalise(out)


def _read_frames(corpus: Corpus, video: Video) -> list[Image.Image]:
    frames = []
    try:
        paths = corpus.keyframe_paths(video)
    except Exception as exc:  # one bad card never poisons the batch
        log.warning("video %r: cannot resolve keyframes (%s); using its text", video.id, exc)
        return []
    for p in paths:
        try:
            frames.append(load_image(p))
        except EmbedderError as exc:
            log.warning("video %r: %s; frame skipped", video.id, exc)
    return frames


def _embed_keyframes(
    embedder: Embedder, corpus: Corpus, videos: Sequence[Video], frame_batch: int
) -> list[np.ndarray | None]:
    """Mean keyframe vector per video (None when it has no readable frame)."""
    # Group videos into chunks of about ``frame_batch`` frames; read chunk i+1 while chunk i
    # is embedded.
    chunks: list[list[int]] = []
    current: list[int] = []
    for i, v in enumerate(videos):
        current.append(i)
        if len(current) * max(1, len(v.keyframes) or 3) >= frame_batch:
            chunks.append(current)
            current = []
    if current:
        chunks.append(current)

    # Image models that expose their preprocessing (OpenCLIP) get it done in the reader thread
    # too, so decode + resize + normalise all overlap the forward pass.
    pixel_path = callable(getattr(embedder, "preprocess", None)) and callable(
        getattr(embedder, "encode_pixels", None)
    )

    def read(chunk: list[int]) -> tuple[list[list[Image.Image]], Any]:
        frames = [_read_frames(corpus, videos[i]) for i in chunk]
        flat = [f for fs in frames for f in fs]
        if not (pixel_path and flat):
            return frames, None
        import torch

        return frames, torch.stack([embedder.preprocess(f) for f in flat])  # type: ignore[attr-defined]

    result: list[np.ndarray | None] = [None] * len(videos)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="keyframes") as pool:
        pending = pool.submit(read, chunks[0])
        for c, chunk in enumerate(chunks):
            frames_per_video, pixels = pending.result()
            if c + 1 < len(chunks):
                pending = pool.submit(read, chunks[c + 1])
            flat = [f for frames in frames_per_video for f in frames]
            if not flat:
                continue
            if pixels is not None:
                vecs = embedder.encode_pixels(pixels)  # type: ignore[attr-defined]
            else:
                vecs = embedder.embed_images(flat)
            start = 0
            for i, frames in zip(chunk, frames_per_video, strict=True):
                if frames:
                    mean = vecs[start : start + len(frames)].mean(axis=0)
                    result[i] = l2_normalise(mean)[0]
                    start += len(frames)
    return result
