"""OpenCLIP image and text embeddings.

Weights come from, in order: a local checkpoint file (``checkpoint=PATH``); the local Hugging
Face cache for a pretrained tag (``ViT-B-32`` / ``laion2b_s34b_b79k`` by default); a download
when the machine is online and ``HF_HUB_OFFLINE`` is not set. ``model`` may also be an
OpenCLIP ``local-dir:/path`` (a folder with ``open_clip_config.json`` and optionally weights) or
``hf-hub:org/repo``.

:func:`weights_available` answers "are the weights on this machine?" without touching the
network (it looks in the Hugging Face cache), so ``auto`` never waits on hub retries, and
without importing open_clip (about 10 s of CPU, with torch) when none of open_clip's hub
repositories is in that cache and nothing is in its URL download folder.

torch and open_clip are imported only inside this module's functions.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from value_spectrum.retrieval.embedders.base import (
    EmbedderError,
    ImageInput,
    l2_normalise,
    load_image,
)

log = logging.getLogger(__name__)

DEFAULT_MODEL = "ViT-B-32"
"""Default OpenCLIP architecture."""
DEFAULT_PRETRAINED = "laion2b_s34b_b79k"
"""Default pretrained tag."""

_HF_WEIGHT_FILES = (
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.safetensors",
    "open_clip_pytorch_model.bin",
)


URL_CACHE = Path.home() / ".cache" / "clip"
"""Where open_clip keeps weights it downloads from a URL (not the Hugging Face hub)."""

_HUB_REPO = re.compile(r"""hf_hub=['"]([^'"/]+/[^'"/]+)""")


def _hub_cache() -> Path:
    from huggingface_hub.constants import HF_HUB_CACHE  # a small module: no download machinery

    return Path(HF_HUB_CACHE)


def _stock_weights_anywhere() -> bool:
    """Whether any of open_clip's own pretrained weights could be on this machine: one of the
    hub repositories its pretrained table names is in the Hugging Face cache, or a file is in
    :data:`URL_CACHE`. False proves the weights of every built-in tag absent without importing
    open_clip (and torch: about 10 s of CPU); the table is read from open_clip's
    ``pretrained.py`` as text. True (or a table that cannot be read) means "look properly"."""
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.origin:
        return False
    try:
        table = (Path(spec.origin).parent / "pretrained.py").read_text(encoding="utf-8")
    except OSError:
        return True
    repos = set(_HUB_REPO.findall(table))
    if not repos:
        return True  # a table of another shape: ask open_clip itself
    cache = _hub_cache()
    if any((cache / f"models--{repo.replace('/', '--')}").is_dir() for repo in repos):
        return True
    return URL_CACHE.is_dir() and any(URL_CACHE.iterdir())


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def weights_available(
    model: str = DEFAULT_MODEL,
    pretrained: str | None = DEFAULT_PRETRAINED,
    checkpoint: str | Path | None = None,
) -> tuple[bool, str]:
    """Whether the weights for this model are on this machine, and why; no network access.

    Returns:
        ``(available, reason)``, the reason in words for logs and the CLI.
    """
    if checkpoint is not None:
        ok = Path(checkpoint).is_file()
        return ok, f"checkpoint {checkpoint} {'found' if ok else 'not found'}"
    if model.startswith("local-dir:"):
        folder = Path(model.removeprefix("local-dir:"))
        ok = (folder / "open_clip_config.json").is_file()
        return (
            ok,
            f"local model folder {folder} {'found' if ok else 'has no open_clip_config.json'}",
        )
    if importlib.util.find_spec("open_clip") is None:
        return False, "open_clip is not installed"
    if model.startswith("hf-hub:"):
        files: tuple[str, ...] = _HF_WEIGHT_FILES
        repo = model.removeprefix("hf-hub:")
    else:
        if not pretrained:
            return False, f"no pretrained tag or checkpoint given for {model}"
        if not _stock_weights_anywhere():
            return False, f"no OpenCLIP weights in the Hugging Face cache ({_hub_cache()}) or {URL_CACHE}"
        try:
            import open_clip
        except ImportError as exc:
            return False, f"open_clip is not installed ({exc})"
        cfg = open_clip.get_pretrained_cfg(model, pretrained)
        if not cfg:
            return False, f"OpenCLIP knows no pretrained tag {pretrained!r} for {model!r}"
        if cfg.get("file"):
            ok = Path(cfg["file"]).is_file()
            return ok, f"weights file {cfg['file']} {'found' if ok else 'not found'}"
        hub = str(cfg.get("hf_hub", ""))
        if not hub:
            url = str(cfg.get("url", ""))
            target = URL_CACHE / os.path.basename(url)
            ok = bool(url) and target.is_file()
            return ok, f"weights {target} {'found' if ok else 'not in the local cache'}"
        repo, name = os.path.split(hub)
        if name:  # open_clip prefers a .safetensors twin of a named .bin/.pth file
            twin = name[:-4] + ".safetensors" if name.endswith((".bin", ".pth")) else name
            files = tuple(dict.fromkeys((twin, name)))
        else:
            files = _HF_WEIGHT_FILES
    from huggingface_hub import try_to_load_from_cache

    for fname in files:
        hit = try_to_load_from_cache(repo_id=repo, filename=fname)
        if isinstance(hit, str) and Path(hit).is_file():
            return True, f"weights for {model}/{pretrained or repo} found in the Hugging Face cache"
    return False, f"weights for {model}/{pretrained or repo} are not in the Hugging Face cache"


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


class ClipEmbedder:
    """OpenCLIP vectors for images and texts, batched, on CPU, under ``torch.inference_mode``.

    Args:
        model: OpenCLIP architecture name, ``local-dir:PATH`` or ``hf-hub:org/repo``.
        pretrained: Pretrained tag (ignored with a checkpoint or a schema-prefixed model).
        checkpoint: A local weights file (``.pt``/``.bin``/``.safetensors``) to load.
        batch_size: Images or texts per forward pass.
        threads: Torch CPU threads; default: all cores.
        seed: Seed of the initialisation when no weights are loaded (tiny test models).

    Raises:
        EmbedderError: the weights are missing (offline) or cannot be loaded, naming them.
    """

    supports_images = True

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        pretrained: str | None = DEFAULT_PRETRAINED,
        *,
        checkpoint: str | Path | None = None,
        batch_size: int = 32,
        threads: int | None = None,
        seed: int = 0,
    ) -> None:
        import open_clip
        import torch

        torch.set_num_threads(threads or os.cpu_count() or 1)
        self.model_name = model
        self.batch_size = batch_size
        self.checkpoint = str(checkpoint) if checkpoint is not None else None
        schema = model.split(":", 1)[0] if model.startswith(("local-dir:", "hf-hub:")) else None
        tag = None if (checkpoint is not None or schema) else pretrained
        self.pretrained = tag
        if checkpoint is not None and not Path(checkpoint).is_file():
            raise EmbedderError(f"CLIP checkpoint {checkpoint} does not exist")
        if tag and _offline():
            ok, why = weights_available(model, tag)
            if not ok:
                raise EmbedderError(
                    f"{why} and HF_HUB_OFFLINE is set; pass --clip-checkpoint PATH or go online"
                )
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                net, _, preprocess = open_clip.create_model_and_transforms(
                    model, pretrained=tag, device="cpu"
                )
            if checkpoint is not None:
                open_clip.load_checkpoint(net, str(checkpoint))
            tokenizer = open_clip.get_tokenizer(model)
        except EmbedderError:
            raise
        except Exception as exc:
            raise EmbedderError(
                f"cannot load OpenCLIP {model!r} ({tag or checkpoint}): {exc}"
            ) from None
        net.eval()
        self._torch = torch
        self._net = net
        self._preprocess = preprocess
        self._tokenizer = tokenizer
        with torch.inference_mode():
            self.dim = int(net.encode_text(tokenizer(["a"])).shape[-1])
        if checkpoint is not None:
            weights = f"ckpt-{_file_digest(Path(checkpoint))}"
        elif tag:
            weights = tag
        else:
            weights = f"seed{seed}"
        short = model.replace("local-dir:", "").replace("hf-hub:", "").rstrip("/")
        self.name = f"clip-{Path(short).name}-{weights}"
        self.version = f"open_clip-{open_clip.__version__}"
        log.debug("OpenCLIP %s loaded (%s, dim %d)", model, weights, self.dim)

    def embed_images(self, images: Sequence[ImageInput]) -> np.ndarray:
        """Preprocess (resize, crop, normalise) and encode, ``batch_size`` at a time."""
        torch = self._torch
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        out: list[np.ndarray] = []
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                chunk = images[start : start + self.batch_size]
                pixels = torch.stack([self._preprocess(load_image(im)) for im in chunk])
                out.append(self._net.encode_image(pixels).float().numpy())
        return l2_normalise(np.concatenate(out))

    def encode_pixels(self, pixels: Any) -> np.ndarray:
        """The bare forward pass on an already preprocessed ``(n, 3, h, w)`` tensor, in
        ``batch_size`` chunks (used by the video pipeline and the benchmarks)."""
        torch = self._torch
        out: list[np.ndarray] = []
        with torch.inference_mode():
            for start in range(0, int(pixels.shape[0]), self.batch_size):
                out.append(
                    self._net.encode_image(pixels[start : start + self.batch_size]).float().numpy()
                )
        if not out:
            return np.zeros((0, self.dim), dtype=np.float32)
        return l2_normalise(np.concatenate(out))

    def preprocess(self, image: ImageInput) -> Any:
        """One image as the model's input tensor."""
        return self._preprocess(load_image(image))

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Tokenise (truncated to the model's context) and encode, ``batch_size`` at a time."""
        torch = self._torch
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out: list[np.ndarray] = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                tokens = self._tokenizer(list(texts[start : start + self.batch_size]))
                out.append(self._net.encode_text(tokens).float().numpy())
        return l2_normalise(np.concatenate(out))

    def describe(self) -> dict[str, Any]:
        """Kind, identity and the options that rebuild this embedder."""
        return {
            "kind": "clip",
            "name": self.name,
            "version": self.version,
            "dim": self.dim,
            "options": {
                "model": self.model_name,
                "pretrained": self.pretrained or "",
                "checkpoint": self.checkpoint,
            },
        }
