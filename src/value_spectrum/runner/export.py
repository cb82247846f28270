"""Tidy export of a run directory: one row per decision (step), for pandas, R or a spreadsheet.

Example:
    >>> # import pandas as pd; df = pd.read_json("run.jsonl", lines=True)
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, TextIO

from value_spectrum.records import Trajectory
from value_spectrum.runlog import RunLog, atomic_open, atomic_path

ExportFormat = Literal["jsonl", "csv", "parquet"]
"""Output formats."""

COLUMNS: tuple[str, ...] = (
    "session_id", "turn", "persona_id", "model", "video_id", "outcome", "reason",
    "confidence", "strategy", "modality", "feed", "seed", "session_index", "session_status",
    "error", "latency_s", "prompt_tokens", "completion_tokens", "tokens", "cost_usd", "cached",
    "searches", "n_searches",
)
"""The columns, in order."""


def trajectory_rows(t: Trajectory) -> Iterator[dict[str, Any]]:
    """One row per step of a session."""
    for s in t.steps:
        d = s.decision
        yield {
            "session_id": t.session_id,
            "turn": s.turn,
            "persona_id": t.persona_id,
            "model": t.model,
            "video_id": s.video_id,
            "outcome": s.outcome.value,
            "reason": d.reason if d is not None else s.error,
            "confidence": d.confidence if d is not None else None,
            "strategy": t.strategy,
            "modality": t.modality,
            "feed": t.feed,
            "seed": t.seed,
            "session_index": t.extra.get("session_index"),
            "session_status": t.status,
            "error": s.error,
            "latency_s": s.latency_s,
            "prompt_tokens": s.usage.prompt_tokens,
            "completion_tokens": s.usage.completion_tokens,
            "tokens": s.usage.prompt_tokens + s.usage.completion_tokens,
            "cost_usd": s.usage.cost_usd,
            "cached": s.usage.cached,
            "searches": " | ".join(s.searches),
            "n_searches": len(s.searches),
        }


def export_rows(run_dir: str | Path) -> Iterator[dict[str, Any]]:
    """Every decision of every finished session, sessions in file-name order.

    Raises:
        RunDirError: not a run directory, or a record of another format version.
    """
    log = RunLog(Path(run_dir))
    log.require_run()
    for t in log.iter_sessions():
        yield from trajectory_rows(t)


def write_rows(rows: Iterator[dict[str, Any]], fmt: ExportFormat, out: TextIO | Path) -> int:
    """Write rows as JSONL or CSV to a text stream, or as Parquet to a path; returns the count.

    A path is written atomically: a killed export leaves the previous file whole.

    Raises:
        ValueError: parquet without a file path, or an unknown format.
    """
    if fmt == "parquet":
        if not isinstance(out, Path):
            raise ValueError("parquet needs an output file (--output FILE)")
        import pandas as pd

        frame = pd.DataFrame(list(rows), columns=list(COLUMNS))
        with atomic_path(out) as tmp:
            frame.to_parquet(tmp, index=False)
        return len(frame)
    if isinstance(out, Path):
        if fmt not in ("jsonl", "csv"):
            raise ValueError(f"unknown export format {fmt!r}; choose jsonl, csv or parquet")
        with atomic_open(out, newline="") as fh:
            return write_rows(rows, fmt, fh)
    n = 0
    if fmt == "jsonl":
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
        return n
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=list(COLUMNS))
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            n += 1
        return n
    raise ValueError(f"unknown export format {fmt!r}; choose jsonl, csv or parquet")


def export_text(run_dir: str | Path, fmt: ExportFormat = "jsonl") -> str:
    """The export as a string (JSONL or CSV)."""
    buf = io.StringIO()
    write_rows(export_rows(run_dir), fmt, buf)
    return buf.getvalue()
