"""Atomic file writes for the renderer, the demo media cache, the importer and the label writer:
the toolkit's one atomic writer, :mod:`value_spectrum.runlog.atomic` (temp file, fsync, rename),
under the names these modules use."""

from __future__ import annotations

from value_spectrum.runlog.atomic import atomic_path, atomic_write_bytes, atomic_write_text

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text"]
