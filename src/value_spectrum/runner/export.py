"""Tidy export of a run directory for pandas, R or a spreadsheet: one row per decision (joined
with the video's labels and the persona's target), per persona x model group, or per
questionnaire answer (the rows are built by :mod:`value_spectrum.scoring.tidy`).

Example:
    >>> # import pandas as pd; df = pd.read_parquet("run.parquet")
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, TextIO

from value_spectrum.runlog import atomic_open, atomic_path
from value_spectrum.scoring.rundir import read_run
from value_spectrum.scoring.tidy import (
    DECISION_COLUMNS,
    GROUP_COLUMNS,
    PROBE_COLUMNS,
    decision_rows,
    group_rows,
    probe_rows,
)

ExportFormat = Literal["jsonl", "csv", "parquet"]
"""Output formats."""
ExportWhat = Literal["decisions", "groups", "probes"]
"""What one row is: a decision, a persona x model group (the report's numbers), a
questionnaire answer."""

COLUMNS: tuple[str, ...] = DECISION_COLUMNS
"""The decision columns, in order."""
COLUMNS_OF: dict[str, tuple[str, ...]] = {
    "decisions": DECISION_COLUMNS,
    "groups": GROUP_COLUMNS,
    "probes": PROBE_COLUMNS,
}
"""Columns per kind of row."""


def export_rows(run_dir: str | Path, what: ExportWhat = "decisions") -> Iterator[dict[str, Any]]:
    """Every decision (or group, or questionnaire answer) of a run, sessions in id order.

    Decisions carry the video's title, platform, topic, primary value and ten value labels
    (``label_<value>``) and the persona's name and target (``target_<value>``).

    Raises:
        RunDirError: not a run directory, or a record of another format version.
        ValueError: an unknown ``what``.
    """
    if what not in COLUMNS_OF:
        raise ValueError(f"unknown export {what!r}; choose decisions, groups or probes")
    if what == "groups":
        from value_spectrum.scoring.report import build_report

        return group_rows(build_report(run_dir))
    run = read_run(run_dir)
    return decision_rows(run) if what == "decisions" else probe_rows(run)


def _csv_cell(x: Any) -> Any:
    return " | ".join(str(i) for i in x) if isinstance(x, list) else x


def write_rows(
    rows: Iterator[dict[str, Any]],
    fmt: ExportFormat,
    out: TextIO | Path,
    columns: tuple[str, ...] = COLUMNS,
) -> int:
    """Write rows as JSONL or CSV to a text stream, or as Parquet to a path; returns the count.

    A path is written atomically: a killed export leaves the previous file whole. List fields
    stay lists in JSONL and Parquet; CSV joins them with " | ".

    Raises:
        ValueError: parquet without a file path, or an unknown format.
    """
    if fmt == "parquet":
        if not isinstance(out, Path):
            raise ValueError("parquet needs an output file (--output FILE)")
        import pandas as pd
        import pyarrow as pa
        import pyarrow.parquet as pq

        frame = pd.DataFrame(list(rows), columns=list(columns))
        table = pa.Table.from_pandas(frame, preserve_index=False)
        for i, field in enumerate(table.schema):
            # A list column whose lists are all empty is inferred as list<null>: say string.
            if pa.types.is_list(field.type) and pa.types.is_null(field.type.value_type):
                table = table.set_column(
                    i, field.name, table.column(i).cast(pa.list_(pa.string()))
                )
        with atomic_path(out) as tmp:
            pq.write_table(table, tmp)
        return len(frame)
    if isinstance(out, Path):
        if fmt not in ("jsonl", "csv"):
            raise ValueError(f"unknown export format {fmt!r}; choose jsonl, csv or parquet")
        with atomic_open(out, newline="") as fh:
            return write_rows(rows, fmt, fh, columns)
    n = 0
    if fmt == "jsonl":
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
        return n
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=list(columns))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_cell(v) for k, v in row.items()})
            n += 1
        return n
    raise ValueError(f"unknown export format {fmt!r}; choose jsonl, csv or parquet")


def export_text(
    run_dir: str | Path, fmt: ExportFormat = "jsonl", what: ExportWhat = "decisions"
) -> str:
    """The export as a string (JSONL or CSV)."""
    buf = io.StringIO()
    write_rows(export_rows(run_dir, what), fmt, buf, COLUMNS_OF[what])
    return buf.getvalue()
