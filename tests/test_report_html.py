"""The HTML report: self-contained (no network references, keyframes embedded), and rendered by
headless Chromium (Debian's ``chromium``) without console errors into a page that is not blank."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from value_spectrum.personas import Persona
from value_spectrum.records import Outcome, RunManifest
from value_spectrum.runlog import write_labels, write_personas
from value_spectrum.scoring.html import render_html, write_html
from value_spectrum.scoring.report import ScoringOptions, build_report
from value_spectrum.scoring.synthetic import planted_trajectory, synthetic_videos
from value_spectrum.values import ValueProfile

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _run(tmp_path: Path, *, preference: bool = False) -> Path:
    run = tmp_path / "run"
    (run / "sessions").mkdir(parents=True)
    videos = synthetic_videos(60, seed=4)
    frame = tmp_path / "frame.png"
    Image.new("RGB", (64, 36), (200, 80, 40)).save(frame)
    target = ValueProfile.from_mapping({"hedonism": 0.9, "stimulation": 0.8}, default=0.2)
    persona = Persona(
        id="fun", name="Fun Seeker", traits=("I party.", "I travel.", "I laugh."), target=target
    )
    traj = planted_trajectory(
        target,
        videos,
        steps=120,
        seed=1,
        persona_id="fun",
        failures=[(2, Outcome.REFUSED), (7, Outcome.UNPARSEABLE), (9, Outcome.ERROR)],
    )
    if preference:
        traj = traj.model_copy(update={"feed": "preference", "persona_id": "plain"})
    (run / "sessions" / f"{traj.session_id}.json").write_text(
        traj.model_dump_json(), encoding="utf-8"
    )
    write_labels(run, videos, keyframes={v.id: [frame] for v in videos[:30]})
    write_personas(run, [persona])
    (run / "manifest.json").write_text(
        RunManifest(run_id="html-test", created="2026-01-01", config={}).model_dump_json(),
        encoding="utf-8",
    )
    return run


def test_html_is_self_contained(tmp_path: Path) -> None:
    report = build_report(_run(tmp_path), ScoringOptions(n_boot=20))
    page = render_html(report)
    assert page.startswith("<!DOCTYPE html>")
    urls = re.findall(r"""(?:src|href)=["'](https?:)""", page)
    assert urls == []
    assert "<script" not in page
    assert "data:image/png;base64," in page  # an available keyframe is embedded
    assert "no keyframe" in page or all(e.keyframe for e in report.examples)
    for word in ("refused", "unparseable", "error", "Fun Seeker", "Like rate per primary value"):
        assert word in page
    assert page.count("<svg") >= 5


def test_html_preference_run_shows_reference(tmp_path: Path) -> None:
    report = build_report(_run(tmp_path, preference=True), ScoringOptions(n_boot=0))
    assert report.kind == "preference"
    page = render_html(report)
    assert "Preference benchmark" in page
    assert "GPT-4o" in page
    assert "approximate, read from the paper" in page.lower()


@pytest.mark.browser
@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install -y chromium)"
)
def test_html_renders_in_headless_chromium(tmp_path: Path) -> None:
    report = build_report(_run(tmp_path), ScoringOptions(n_boot=20))
    page = write_html(report, tmp_path / "report.html")
    shot = tmp_path / "shot.png"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1200,1800",
    ]
    assert CHROMIUM is not None
    proc = subprocess.run(
        [CHROMIUM, *flags, f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shot.is_file(), proc.stderr[-2000:]
    console_errors = [
        line for line in proc.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line
    ]
    assert console_errors == []
    img = Image.open(shot).convert("L")
    lo, hi = img.getextrema()
    assert hi - lo > 100  # not blank: dark text on a light page
    hist = img.histogram()
    assert max(hist) / sum(hist) < 0.95  # not one flat colour
    dom = subprocess.run(
        [CHROMIUM, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert "Value-Spectrum report" in dom.stdout
    assert "Fun Seeker" in dom.stdout


def test_radar_legend_stays_inside_the_chart() -> None:
    from value_spectrum.scoring.charts import radar
    from value_spectrum.values import VALUE_IDS

    prof = {v: float(i) for i, v in enumerate(VALUE_IDS)}
    svg = radar([("target", prof), ("revealed", prof), ("stated", prof)], size=280)
    xs = [float(x) for x in re.findall(r'<text x="([\d.]+)" y="[\d.]+" font-size="11"', svg)]
    assert len(xs) == 3
    assert max(xs) + 6 * 7 <= 280  # 'stated' (6 letters at ~7 px) ends inside the 280 px chart
