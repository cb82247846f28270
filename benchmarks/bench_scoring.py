"""Scoring speed, as ratios measured in one run.

* report throughput: decisions scored per second by ``build_report`` (bootstrap 200) on a
  synthetic run of P personas x 200 decisions;
* overhead: the whole report's time against the bare cost of the logistic fits it needs
  (one per group, per session, per window, per bootstrap resample), fitted back to back.

Usage: ``python benchmarks/bench_scoring.py [--personas 26] [--boot 200]``
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
from value_spectrum.scoring.revealed import circle_penalty, decision_table
from value_spectrum.scoring.stats import fit_logistic
from value_spectrum.scoring.synthetic import planted_trajectory, synthetic_videos
from value_spectrum.values import ValueProfile


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--personas", type=int, default=26)
    ap.add_argument("--steps", type=int, default=200)
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
        t0 = time.perf_counter()
        rep = build_report(run, opts)
        report_s = time.perf_counter() - t0
        # the fits the report needs, back to back: group + session + windows + resamples
        labels = labelled(videos)
        from value_spectrum.scoring.rundir import read_run

        data = read_run(run)
        pen = circle_penalty(opts.l2, opts.circle_prior)
        windows = -(-args.steps // opts.window)
        fits_per_group = 2 + windows + args.boot
        t0 = time.perf_counter()
        for traj in data.sessions:
            table = decision_table([traj], labels)
            for _ in range(fits_per_group):
                fit_logistic(table.x, table.y, penalty=pen)
        bare_s = time.perf_counter() - t0
    n = rep.summary.n_decisions
    print(f"decisions scored: {n}; report {report_s:.2f} s ({n / report_s:,.0f} decisions/s)")
    print(f"bare fits: {bare_s:.2f} s; report / bare fits = {report_s / bare_s:.2f}x")
    print(f"median recovery {rep.summary.median_recovery:.3f}")


if __name__ == "__main__":
    main()
