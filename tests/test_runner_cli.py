"""`value-spectrum simulate` and `value-spectrum export` end to end, offline, on the demo corpus
with two built-in personas and short sessions."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from value_spectrum.cli.app import build_app
from value_spectrum.values import VALUE_IDS

PERSONAS = ["--personas", "archetype_benevolence", "--personas", "archetype_power"]


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


def test_simulate_defaults_write_a_run_dir_and_continue(cli: CliRunner, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    app = build_app()
    res = cli.invoke(app, ["simulate", "--steps", "5", *PERSONAS, "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["sessions_planned"] == summary["sessions_finished"] == 2
    assert summary["decisions"] == 10
    assert sum(summary["outcomes"].values()) == 10
    run_dir = Path(summary["run_dir"])
    assert run_dir.parent == Path("runs")
    assert run_dir.name.startswith("sim-")
    assert (tmp_path / run_dir / "manifest.json").is_file()
    again = cli.invoke(app, ["simulate", "--steps", "5", *PERSONAS, "--json"])
    assert again.exit_code == 0
    second = json.loads(again.stdout)
    assert second["run_dir"] == summary["run_dir"]
    assert second["sessions_run"] == 0
    assert second["sessions_skipped"] == 2

    rows = cli.invoke(app, ["export", str(run_dir)])
    assert rows.exit_code == 0
    lines = [json.loads(x) for x in rows.stdout.splitlines()]
    assert len(lines) == 10
    assert {"session_id", "turn", "persona_id", "model", "video_id", "outcome", "reason"} <= set(lines[0])

    csv = cli.invoke(app, ["export", str(run_dir), "--format", "csv"])
    assert len(csv.stdout.splitlines()) == 11
    pq = tmp_path / "d.parquet"
    assert cli.invoke(app, ["export", str(run_dir), "-f", "parquet", "-o", str(pq)]).exit_code == 0
    import pandas as pd

    frame = pd.read_parquet(pq)
    assert len(frame) == 10
    # one read has every join: the video's title, primary value and labels, the persona's target
    assert frame["title"].str.len().min() > 0
    assert frame["primary_value"].notna().any()
    assert frame[[f"label_{v}" for v in VALUE_IDS]].notna().all().all()
    assert frame[[f"target_{v}" for v in VALUE_IDS]].notna().all().all()
    assert list(frame["searches"].iloc[0]) == []  # a list column, not a string
    groups = tmp_path / "g.parquet"
    assert cli.invoke(app, ["export", str(run_dir), "--what", "groups", "-o", str(groups)]).exit_code == 0
    g = pd.read_parquet(groups)
    assert sorted(g["persona_id"]) == sorted(p for p in PERSONAS if not p.startswith("-"))
    assert list(g["strategies"].iloc[0]) == ["simple"]
    assert (g["alignment"].notna() | (g["alignment_reason"] != "")).all()  # 5 steps: a reason
    bad = cli.invoke(app, ["export", str(run_dir), "--what", "sessions"])
    assert bad.exit_code == 2
    assert "--what" in bad.output
    by_suffix = tmp_path / "d2.parquet"  # no --format: the --output suffix picks it
    assert cli.invoke(app, ["export", str(run_dir), "-o", str(by_suffix)]).exit_code == 0
    assert len(pd.read_parquet(by_suffix)) == 10
    as_csv = tmp_path / "d.csv"
    assert cli.invoke(app, ["export", str(run_dir), "-o", str(as_csv)]).exit_code == 0
    assert as_csv.read_text(encoding="utf-8").startswith("session_id,turn,")


def test_simulate_human_summary(cli: CliRunner, tmp_path: Path) -> None:
    res = cli.invoke(build_app(), ["simulate", "--steps", "3", "--personas", "family_oriented",
                                   "--out", str(tmp_path / "r"), "--quiet", "--feed", "balanced"])
    assert res.exit_code == 0, res.output
    for word in ("sessions", "decisions", "like rate", "tokens", "cost", "run directory"):
        assert word in res.stdout


def test_simulate_refuses_a_different_config_in_the_same_dir(cli: CliRunner, tmp_path: Path) -> None:
    app = build_app()
    out = ["--out", str(tmp_path / "r"), "--personas", "family_oriented", "--quiet"]
    assert cli.invoke(app, ["simulate", "--steps", "3", *out]).exit_code == 0
    res = cli.invoke(app, ["simulate", "--steps", "4", *out])
    assert res.exit_code == 2
    assert "different config" in res.stderr
    assert "steps: 3 in the manifest, 4 now" in res.stderr


def test_bad_options_fail_in_one_line(cli: CliRunner, tmp_path: Path) -> None:
    app = build_app()
    res = cli.invoke(app, ["simulate", "--feed", "tiktok", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2
    assert "unknown feed policy 'tiktok'" in res.stderr
    assert "Value error" not in res.stderr
    res = cli.invoke(app, ["simulate", "--embedder", "clipp", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2
    assert "--embedder:" in res.stderr
    assert "'clipp'" in res.stderr
    assert not (tmp_path / "r").exists()
    res = cli.invoke(app, ["simulate", "--ray-address", "ray://head:10001", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2
    assert "only used with --executor ray" in res.stderr
    res = cli.invoke(app, ["simulate", "--personas", "nobody_at_all", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2
    assert "nobody_at_all" in res.stderr
    res = cli.invoke(app, ["export", str(tmp_path / "missing")])
    assert res.exit_code == 2
    assert "not a run directory" in res.stderr
    res = cli.invoke(app, ["export", str(tmp_path), "--format", "parquet"])
    assert res.exit_code == 2
    assert "--output" in res.stderr


def test_simulate_out_must_be_a_run_an_empty_folder_or_missing(cli: CliRunner, tmp_path: Path) -> None:
    app = build_app()
    busy = tmp_path / "videos"
    busy.mkdir()
    (busy / "clip.mp4").write_bytes(b"not mine to touch")
    res = cli.invoke(app, ["simulate", "--steps", "2", "--personas", "family_oriented", "--out", str(busy)])
    assert res.exit_code == 2
    assert "no manifest.json" in res.stderr
    assert sorted(p.name for p in busy.iterdir()) == ["clip.mp4"]  # nothing written into it
    res = cli.invoke(app, ["simulate", "--steps", "2", "--personas", "family_oriented",
                           "--out", str(busy / "clip.mp4")])
    assert res.exit_code == 2
    assert "not a folder" in res.stderr


def test_help_loads_no_heavy_library() -> None:
    code = ("import sys; from value_spectrum.cli import simulate_cmd, export_cmd; "
            "print(sorted(m for m in ('langgraph', 'litellm', 'torch', 'chromadb') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_simulate_against_an_openai_compatible_server_sends_keyframes(cli: CliRunner, tmp_path: Path) -> None:
    from value_spectrum.agents.testing.server import TestServer
    from value_spectrum.records import Trajectory

    with TestServer(reply=lambda body: '{"action": "like", "reason": "nice"}') as server:
        base_url = server.base_url
        res = cli.invoke(build_app(), [
            "simulate", "--model", "openai/test-vlm", "--api-base", base_url,
            "--steps", "2", "--personas", "family_oriented", "--out", str(tmp_path / "r"), "--json",
        ])
        images = list(server.images_received())
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["outcomes"]["like"] == 2
    assert summary["prompt_tokens"] > 0
    assert images[0] == 1  # the preflight: does the model take an image at all?
    assert len(images[1:]) == 2
    assert all(n > 0 for n in images[1:])
    (record,) = (tmp_path / "r" / "sessions").glob("*.json")
    t = Trajectory.model_validate_json(record.read_text())
    assert t.model == "openai/test-vlm"
    assert t.extra["viewer"]["api_base"] == base_url


def test_reference_viewer_on_an_unlabelled_corpus_is_refused(cli: CliRunner, tmp_path: Path) -> None:
    from value_spectrum.records import Video
    from value_spectrum.retrieval.corpus import CORPUS_FILE

    corpus = tmp_path / "mine"
    corpus.mkdir()
    videos = [Video(id=f"v{i}", title=f"clip {i}", platform="tiktok") for i in range(3)]
    (corpus / CORPUS_FILE).write_text("".join(v.model_dump_json() + "\n" for v in videos), encoding="utf-8")
    res = cli.invoke(build_app(), ["simulate", "--corpus", str(corpus), "--personas", "family_oriented",
                                   "--out", str(tmp_path / "r")])
    assert res.exit_code == 2
    assert "has none" in res.stderr
    assert not (tmp_path / "r").exists()


def test_max_cost_warns_about_a_model_litellm_does_not_price() -> None:
    from _sim_fakes import tiny_corpus, two_personas
    from value_spectrum.runner.checks import preflight
    from value_spectrum.runner.config import RunConfig
    from value_spectrum.runner.plan import Plan
    from value_spectrum.runner.services import Services

    config = RunConfig(models=("reference", "openai/a-local-model-nobody-prices"), max_cost=1.0, steps=2,
                       api_base="http://127.0.0.1:9/v1", modality="title")
    warnings = asyncio.run(preflight(Plan(config=config), Services(config, corpus=tiny_corpus(), personas=two_personas())))
    (line,) = warnings  # the library's check, the same from Python and the CLI
    assert "no price for openai/a-local-model-nobody-prices" in line
    assert "reference" not in line
