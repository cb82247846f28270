"""A tiny OpenCLIP architecture with random weights: the real OpenCLIP code path, offline, in
milliseconds (no pretrained weights exist on test machines)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TINY_CLIP_CONFIG: dict[str, Any] = {
    "model_cfg": {
        "embed_dim": 16,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
        "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
    },
    "preprocess_cfg": {},
}


def write_tiny_clip(config_dir: Path, checkpoint: Path, *, seed: int) -> tuple[Path, Path]:
    """Write the config folder (``local-dir:`` form) and a random-weight checkpoint of it."""
    import open_clip
    import torch

    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "open_clip_config.json").write_text(json.dumps(TINY_CLIP_CONFIG))
    torch.manual_seed(seed)
    model = open_clip.create_model(f"local-dir:{config_dir}")
    torch.save(model.state_dict(), checkpoint)
    return config_dir, checkpoint
