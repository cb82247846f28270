"""Scoring speed, as ratios measured in one run: the report's statistics before and after the
calibrated methods (issue 11), side by side on the same run.

* **old**: what ``report`` computed per group until issue 11: the ridge + circle-prior fit of
  the group, 200 percentile-bootstrap refits one after another (one session: single decisions
  resampled), the session's own fit, and a fit per window of 10 turns;
* **new**: ``build_report`` as it is now (Firth fit with Wald intervals, 200 normal draws for the
  alignment interval, the drift and steerability permutation tests, session summaries).

Both are timed in CPU seconds (``time.process_time``) on a synthetic run shaped like the
default ``simulate`` run: P personas x 1 session x 30 decisions (26 x 30 = 780 decisions).
The target of issue 11: new / old <= 0.2.

Usage: ``python benchmarks/bench_scoring.py [--personas 26] [--steps 30] [--boot 200]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from value_spectrum.personas import Persona
from value_spectrum.records import RunManifest
from value_spectrum.runlog import labelled, write_labels, write_personas
from value_spectrum.scoring.report import ScoringOptions, build_report
from value_spectrum.scoring.revealed import DecisionTable, circle_penalty, decision_table
from value_spectrum.scoring.rundir import read_run
from value_spectrum.scoring.stats import cluster_bootstrap, fit_logistic
from value_spectrum.scoring.synthetic import planted_trajectory, synthetic_videos
from value_spectrum.values import ValueProfile, mrat_centre


def _old_fit(table: DecisionTable, pen: np.ndarray) -> np.ndarray | None:
    n, likes = len(table), int(table.y.sum())
    if n < 10 or likes in (0, n):
        return None
    return mrat_centre(fit_logistic(table.x, table.y, penalty=pen).weights)


def old_scoring(tables: list[DecisionTable], n_boot: int, window: int = 10) -> int:
    """The per-group work of the pre-issue-11 report; returns the resamples that could be used."""
    pen = circle_penalty(1.0, 1.0)
    used = 0
    for table in tables:
        if _old_fit(table, pen) is None:
            continue
        clusters = [np.array([i]) for i in range(len(table))]
        ci = cluster_bootstrap(
            clusters, lambda idx, t=table: _old_fit(t.subset(idx), pen), n_boot=n_boot, seed=0
        )
        used += ci.n_ok
        _old_fit(table, pen)  # the session summary's own fit
        for start in range(0, int(table.turn.max()) + 1, window):
            idx = np.flatnonzero((table.turn >= start) & (table.turn < start + window))
            _old_fit(table.subset(idx), pen)
    return used


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--personas", type=int, default=26)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--boot", type=int, default=200)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    videos = synthetic_videos(300, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp)
        (run / "sessions").mkdir()
        personas = []
        for i in range(args.personas):
            target = ValueProfile.from_array(rng.uniform(0, 1, 10).round(2))
            p = Persona(id=f"p{i}", name=f"P{i}", traits=("a.", "b.", "c."), target=target)
            personas.append(p)
            t = planted_trajectory(target, videos, steps=args.steps, seed=i, persona_id=p.id)
            (run / "sessions" / f"{t.session_id}.json").write_text(t.model_dump_json())
        write_labels(run, videos)
        write_personas(run, personas)
        (run / "manifest.json").write_text(
            RunManifest(run_id="bench", created="", config={}).model_dump_json()
        )
        opts = ScoringOptions(n_boot=args.boot)
        build_report(run, opts)  # warm-up: lazy imports (scipy.stats) are not scoring time
        t0 = time.process_time()
        rep = build_report(run, opts)
        new_s = time.process_time() - t0
        labels = labelled(videos)
        tables = [decision_table([traj], labels) for traj in read_run(run).sessions]
        t0 = time.process_time()
        used = old_scoring(tables, args.boot)
        old_s = time.process_time() - t0
    n = rep.summary.n_decisions
    print(f"decisions: {n} in {len(tables)} groups; bootstrap {args.boot}")
    print(f"old scoring: {old_s:.2f} s CPU ({used} usable resamples)")
    print(f"new report:  {new_s:.2f} s CPU (whole build_report)")
    print(f"new / old = {new_s / old_s:.2f} (target <= 0.20)")
    print(f"median recovery {rep.summary.median_recovery:.3f}")


if __name__ == "__main__":
    main()
