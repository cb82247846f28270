"""`compare`: models side by side (library and CLI): like rates with Wilson intervals, revealed
profiles, steerability per model x strategy, Holm-adjusted differences, usage, figures, HTML,
and the paper's table beside a preference run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from value_spectrum.cli.app import build_app
from value_spectrum.personas import Persona
from value_spectrum.records import RunManifest, Usage
from value_spectrum.runlog import write_labels, write_personas
from value_spectrum.scoring.compare import compare_runs
from value_spectrum.scoring.synthetic import planted_trajectory, synthetic_videos
from value_spectrum.values import VALUE_IDS, ValueProfile

CARER = ValueProfile.from_mapping({"benevolence": 0.9, "universalism": 0.8}, default=0.2)
BOSS = ValueProfile.from_mapping({"power": 0.9, "achievement": 0.85}, default=0.2)


def _run(root: Path, name: str, *, preference: bool = False) -> Path:
    """Two models playing the carer: 'reference' likes by the carer's profile, 'openai/boss'
    by the boss's; two sessions each (the second model's turns cost tokens)."""
    run = root / name
    (run / "sessions").mkdir(parents=True)
    videos = synthetic_videos(120, seed=3)
    sessions = []
    for k in range(2):
        sessions.append(
            planted_trajectory(CARER, videos, steps=150, seed=k, persona_id="carer",
                               session_id=f"carer-ref-{k}")
        )
        t = planted_trajectory(BOSS, videos, steps=150, seed=10 + k, persona_id="carer",
                               model="openai/boss", session_id=f"carer-boss-{k}")
        steps = tuple(
            s.model_copy(update={"usage": Usage(prompt_tokens=100, completion_tokens=7,
                                                cost_usd=0.001)})
            for s in t.steps
        )
        sessions.append(t.model_copy(update={"steps": steps}))
    for t in sessions:
        if preference:
            t = t.model_copy(update={"feed": "preference"})
        (run / "sessions" / f"{t.session_id}.json").write_text(t.model_dump_json(), "utf-8")
    write_labels(run, videos)
    write_personas(run, [Persona(id="carer", name="Carer", traits=("I help.", "I care.", "I give."),
                                 target=CARER)])
    config = {"benchmark": "preference"} if preference else {}
    (run / "manifest.json").write_text(
        RunManifest(run_id=name, created="2026-01-01", config=config).model_dump_json(), "utf-8"
    )
    return run


def test_compare_puts_two_models_side_by_side(tmp_path: Path) -> None:
    cmp = compare_runs([_run(tmp_path, "feed")])
    assert cmp.models == ["openai/boss", "reference"]
    cells = {(c.model, c.value): c for c in cmp.like_rates}
    assert len(cells) == 2 * len(VALUE_IDS)
    for c in cells.values():
        assert c.n > 0
        assert c.low is not None
        assert c.high is not None
        assert c.rate is not None
        assert c.low <= c.rate <= c.high
    # the boss-like model likes power far more than the carer-like reference viewer
    assert cells[("openai/boss", "power")].rate > cells[("reference", "power")].rate  # type: ignore[operator]
    power = next(d for d in cmp.differences if d.value == "power")
    assert power.cohens_h is not None
    assert power.cohens_h > 0.5
    assert power.p_holm is not None
    assert power.p is not None
    assert power.p <= power.p_holm < 0.05
    assert len(cmp.differences) == len(VALUE_IDS)  # one pair x ten values
    prof = {p.model: p for p in cmp.profiles}
    assert prof["reference"].revealed is not None
    assert max(prof["reference"].revealed, key=prof["reference"].revealed.__getitem__) in (
        "benevolence", "universalism")
    steer = {s.model: s for s in cmp.steerability}
    assert set(steer) == {"openai/boss", "reference"}
    assert steer["reference"].strategy == "simple"
    assert steer["reference"].sessions == 2
    assert len(steer["reference"].session_steerability_pp) == 2
    assert steer["reference"].median_alignment is not None
    assert steer["openai/boss"].median_alignment is not None
    assert steer["reference"].median_alignment > steer["openai/boss"].median_alignment
    usage = {u.model: u for u in cmp.usage}
    assert usage["openai/boss"].prompt_tokens == 300 * 100
    assert usage["openai/boss"].model_turns == 300
    assert usage["openai/boss"].cost_usd == pytest.approx(0.3)
    assert usage["reference"].tokens == 0
    assert usage["all"].tokens == 300 * 107
    assert cmp.reference == {}  # a feed run: the paper's preference table does not apply


def test_compare_of_preference_runs_shows_the_paper_and_labels_repeated_models(
    tmp_path: Path,
) -> None:
    cmp = compare_runs([_run(tmp_path, "a", preference=True), _run(tmp_path, "b", preference=True)])
    assert cmp.models == ["openai/boss (a)", "reference (a)", "openai/boss (b)", "reference (b)"]
    assert "GPT-4o" in cmp.reference
    assert "approximate" in cmp.citation.lower()
    assert len(cmp.differences) == 6 * len(VALUE_IDS)
    assert cmp.steerability == []


def test_compare_cli_tables_json_figures_html(tmp_path: Path) -> None:
    run = _run(tmp_path, "feed")
    pref = _run(tmp_path, "pref", preference=True)
    app = build_app()
    runner = CliRunner()
    res = runner.invoke(
        app,
        ["compare", str(run), str(pref), "--figures", str(tmp_path / "figs"),
         "--html", str(tmp_path / "cmp.html")],
        env={"COLUMNS": "80"},
    )
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "% yes per value [95% Wilson interval]" in res.stdout
    assert re.search(r"power\s+\d+ \[\d+-\d+\] \d+ ", res.stdout)  # rate [interval] n
    assert "paper mean (range)" in res.stdout
    for stem in ("model_value_heatmap", "model_like_rate", "model_revealed_radar",
                 "model_steerability"):
        for ext in ("png", "svg", "pdf"):
            assert (tmp_path / "figs" / f"{stem}.{ext}").stat().st_size > 1000
    page = (tmp_path / "cmp.html").read_text()
    assert page.count("data:image/svg+xml;base64,") == 4
    assert "GPT-4o" in page
    assert "Cohen" in page
    js = runner.invoke(app, ["compare", str(run), "--json"])
    assert js.exit_code == 0, js.output
    data = json.loads(js.stdout)
    assert {"like_rates", "profiles", "steerability", "differences", "usage", "reference"} <= set(data)
    assert data["usage"][-1]["model"] == "all"


def test_compare_refuses_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    res = CliRunner().invoke(build_app(), ["compare", str(tmp_path)])
    assert res.exit_code == 2
    assert str(tmp_path) in res.output


def test_two_models_through_the_test_server_then_compare(tmp_path: Path) -> None:
    """The issue's first check, offline: simulate the reference viewer and an OpenAI-compatible
    model (the shipped test server), then compare with figures; usage counts what was sent."""
    from value_spectrum.agents.testing.server import TestServer

    app = build_app()
    runner = CliRunner()
    run = tmp_path / "two"
    with TestServer() as server:
        res = runner.invoke(app, [
            "simulate", "--model", "reference", "--model", "openai/test-vlm",
            "--api-base", server.base_url, "--personas", "family_oriented", "--steps", "12",
            "--out", str(run), "--json", "--no-cache",
        ])  # fmt: skip
        images = sum(server.images_received())
        requests = len(server.requests)
    assert res.exit_code == 0, res.output
    out = runner.invoke(app, ["compare", str(run), "--figures", str(tmp_path / "figs")],
                        env={"COLUMNS": "80"})
    assert out.exit_code == 0, out.output
    assert "openai/test-vlm" in out.stdout
    assert "reference" in out.stdout
    assert (tmp_path / "figs" / "model_value_heatmap.png").is_file()
    cmp = compare_runs([run])
    usage = {u.model: u for u in cmp.usage}
    assert usage["openai/test-vlm"].model_turns == 12
    assert requests >= 12  # a turn may take more than one call (a repair, a format probe)
    # three keyframes a demo card; the server also saw simulate's one-image preflight check
    assert usage["openai/test-vlm"].images_sent == 3 * 12
    assert images >= 3 * 12
    assert usage["openai/test-vlm"].prompt_tokens > 0


def test_compare_and_report_import_matplotlib_only_for_figures(tmp_path: Path) -> None:
    import subprocess
    import sys

    run = _run(tmp_path, "feed")
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from value_spectrum.cli.app import build_app\n"
        f"r = CliRunner().invoke(build_app(), ['compare', {str(run)!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        f"r = CliRunner().invoke(build_app(), ['report', {str(run)!r}, '--boot', '0'])\n"
        "assert r.exit_code == 0, r.output\n"
        "print('matplotlib' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_repairs_and_retries_reach_usage_explorer_and_export(tmp_path: Path) -> None:
    from value_spectrum.records import Trajectory
    from value_spectrum.runner.export import export_rows
    from value_spectrum.scoring.explorer import explorer_data
    from value_spectrum.scoring.rundir import read_run

    run = _run(tmp_path, "feed")
    path = run / "sessions" / "carer-boss-0.json"
    t = Trajectory.model_validate_json(path.read_text())
    first = t.steps[0].model_copy(update={
        "earlier_raws": ("I think I like it maybe",), "repaired": True,
        "usage": Usage(prompt_tokens=100, completion_tokens=7, repairs=1, retries=2),
    })  # fmt: skip
    path.write_text(t.model_copy(update={"steps": (first, *t.steps[1:])}).model_dump_json())
    usage = {u.model: u for u in compare_runs([run]).usage}
    assert usage["openai/boss"].repairs == 1
    assert usage["openai/boss"].retries == 2
    assert usage["reference"].repairs is None  # not recorded: n/a, never a silent zero
    rows = explorer_data(read_run(run)).rows
    assert ["I think I like it maybe"] in [r[10] for r in rows]
    decisions = [r for r in export_rows(run) if r["session_id"] == "carer-boss-0"]
    assert decisions[0]["earlier_raws"] == ["I think I like it maybe"]
    assert decisions[0]["repaired"] is True
    assert decisions[0]["retries"] == 2
