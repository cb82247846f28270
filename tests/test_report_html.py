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
from value_spectrum.scoring.explorer import explorer_data
from value_spectrum.scoring.html import render_html, write_html
from value_spectrum.scoring.report import ScoringOptions, build_report
from value_spectrum.scoring.rundir import read_run
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
    run = _run(tmp_path)
    report = build_report(run, ScoringOptions(n_boot=20))
    page = render_html(report, explorer_data(read_run(run)))
    assert page.startswith("<!DOCTYPE html>")
    urls = re.findall(r"""(?:src|href)=["'](https?:|//)""", page)
    assert urls == []
    assert "<script src" not in page
    assert "@import" not in page
    assert "url(http" not in page
    assert "data:image/jpeg;base64," in page  # an available keyframe is embedded as a thumbnail
    for word in ("refused", "unparseable", "error", "Fun Seeker", "Like rate per primary value"):
        assert word in page
    assert page.count("data:image/svg+xml;base64,") >= 5  # matplotlib figures, embedded
    assert 'id="explorer-data"' in page
    assert "</script" not in page.split('id="explorer-data">', 1)[1].split("</script>", 1)[0]


def test_html_preference_run_shows_reference(tmp_path: Path) -> None:
    report = build_report(_run(tmp_path, preference=True), ScoringOptions(n_boot=0))
    assert report.kind == "preference"
    page = render_html(report)
    assert "Preference benchmark" in page
    assert "GPT-4o" in page
    assert "approximate, read from the paper" in page.lower()


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
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
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.browser
@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install -y chromium)"
)
def test_html_renders_in_headless_chromium(tmp_path: Path) -> None:
    run = _run(tmp_path)
    report = build_report(run, ScoringOptions(n_boot=20))
    page = write_html(report, tmp_path / "report.html", explorer_data(read_run(run)))
    shot = tmp_path / "shot.png"
    proc = _chromium(tmp_path, f"--screenshot={shot}", page.as_uri())
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
    dom = _chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    assert "Value-Spectrum report" in dom
    assert "Fun Seeker" in dom
    assert "120 of 120 decisions match; showing 50" in dom  # the explorer's script ran
    # Filtering (the page reads its filters from the URL's fragment): one persona's skips.
    skips = report.groups[0].outcomes["skip"]
    hit = _chromium(tmp_path, "--dump-dom", f"{page.as_uri()}#persona=fun&outcome=skip")
    assert hit.returncode == 0, hit.stderr[-2000:]
    assert f"{skips} of 120 decisions match" in hit.stdout
    shown = re.findall(r'data-outcome="(\w+)"', hit.stdout)
    assert shown
    assert set(shown) == {"skip"}
    assert len(shown) == min(50, skips)
    assert not [ln for ln in hit.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]


def test_every_figure_has_labelled_axes_and_a_legend(tmp_path: Path) -> None:
    from value_spectrum.scoring.figures import axes_of
    from value_spectrum.scoring.report_figures import report_figures

    report = build_report(_run(tmp_path), ScoringOptions(n_boot=20))
    figs = dict(report_figures(report))
    assert {"like_rate_heatmap", "drift", "steerability", "group01_radar"} <= set(figs)
    for name, fig in figs.items():
        legends = [ax.get_legend() for ax in fig.axes] + list(fig.legends)
        has_colourbar = any(ax.get_ylabel() == "like rate (% yes)" for ax in fig.axes)
        assert any(legends) or has_colourbar, name
        for ax in axes_of(fig):
            if ax.name == "polar":  # the radar: value names around, a radial scale with ticks
                assert ax.get_xticklabels()[0].get_text() == "self-direction"
                assert len(ax.get_yticks()) >= 3
                continue
            if ax.get_label() == "<colorbar>":  # the heatmap's scale: labelled on its long side
                assert ax.get_ylabel(), name
                continue
            xl = ax.get_xlabel() or fig.get_supxlabel()
            yl = ax.get_ylabel() or fig.get_supylabel()
            assert xl, name
            assert yl, name
