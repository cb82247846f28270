"""`value-spectrum report`: JSON shape, terminal tables, bad input, unreadable sessions, and no
heavy imports (a report is recomputed from the run directory alone)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from value_spectrum.cli.app import build_app
from value_spectrum.personas import Persona
from value_spectrum.records import Outcome, Probe, ProbeAnswer, RunManifest
from value_spectrum.runlog import read_labels, write_labels, write_personas
from value_spectrum.scoring.synthetic import planted_trajectory, synthetic_videos
from value_spectrum.values import VALUE_IDS, ValueProfile


def _persona(pid: str, target: ValueProfile) -> Persona:
    return Persona(
        id=pid, name=pid.title(), traits=("I am one.", "I am two.", "I am three."), target=target
    )


def make_run(root: Path, *, probes: bool = False, labels: bool = True) -> Path:
    """A small run directory: two personas x one model, one planted session each (one with
    failures), plus an all-likes session that cannot be scored."""
    run = root / "run"
    (run / "sessions").mkdir(parents=True)
    videos = synthetic_videos(120, seed=3)
    p1 = _persona(
        "carer", ValueProfile.from_mapping({"benevolence": 0.9, "universalism": 0.8}, default=0.2)
    )
    p2 = _persona(
        "boss", ValueProfile.from_mapping({"power": 0.9, "achievement": 0.85}, default=0.2)
    )
    t1 = planted_trajectory(
        p1.target,
        videos,
        steps=120,
        seed=1,
        persona_id="carer",
        failures=[(3, Outcome.UNPARSEABLE), (4, Outcome.REFUSED), (5, Outcome.ERROR)],
    )
    if probes:
        answers = tuple(
            ProbeAnswer(
                item_id=f"{v}-{k}",
                value=v,
                rating=6 if v in ("benevolence", "universalism") else 2 + k,
            )
            for v in VALUE_IDS
            for k in range(2)
        )
        t1 = t1.model_copy(
            update={
                "probes": (
                    Probe(after_turn=40, instrument="own", answers=answers),
                    Probe(after_turn=80, instrument="own", answers=answers),
                )
            }
        )
    t2 = planted_trajectory(p2.target, videos, steps=120, seed=2, persona_id="boss")
    t3 = planted_trajectory(
        p2.target,
        videos,
        steps=12,
        seed=3,
        persona_id="boss",
        model="openai/always-yes",
        session_id="boss-yes-3",
        bias=50.0,
    )
    for t in (t1, t2, t3):
        (run / "sessions" / f"{t.session_id}.json").write_text(
            t.model_dump_json(), encoding="utf-8"
        )
    if labels:
        write_labels(run, videos, corpus={"name": "synthetic"})
    write_personas(run, [p1, p2])
    manifest = RunManifest(
        run_id="test-run",
        created="2026-01-01T00:00:00Z",
        config={},
        corpus={"name": "synthetic", "items": len(videos)},
    )
    (run / "manifest.json").write_text(manifest.model_dump_json(), encoding="utf-8")
    return run


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(build_app(), list(args))
    return result.exit_code, result.output


def test_report_json_shape(tmp_path: Path) -> None:
    run = make_run(tmp_path, probes=True)
    code, out = _invoke("report", str(run), "--json", "--boot", "30")
    assert code == 0, out
    data = json.loads(out)
    assert {g["persona_id"] for g in data["groups"]} == {"carer", "boss"}
    assert len(data["groups"]) == 3
    for g in data["groups"]:
        for key in (
            "persona_id",
            "model",
            "alignment",
            "revealed",
            "outcomes",
            "recovery",
            "alignment_reason",
        ):
            assert key in g
        assert set(g["outcomes"]) == {"like", "skip", "unparseable", "refused", "error"}
    carer = next(g for g in data["groups"] if g["persona_id"] == "carer")
    assert carer["outcomes"]["unparseable"] == 1
    assert carer["outcomes"]["refused"] == 1
    assert carer["outcomes"]["error"] == 1
    assert set(carer["revealed"]) == set(VALUE_IDS)
    assert carer["alignment"] > 0.5
    assert carer["recovery"] == pytest.approx(carer["alignment"])
    assert carer["stated"]["stability"] == pytest.approx(1.0)
    assert carer["stated"]["gap_spearman"] is not None
    yes = next(g for g in data["groups"] if g["model"] == "openai/always-yes")
    assert yes["alignment"] is None
    assert yes["revealed"] is None
    assert "likes" in yes["alignment_reason"] or "too few" in yes["alignment_reason"]
    assert yes["recovery"] is None
    s = data["summary"]
    assert s["n_groups"] == 3
    assert s["cannot_score_groups"] == 1
    assert s["median_alignment"] is not None


def test_report_tables(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    code, out = _invoke("report", str(run), "--boot", "0")
    assert code == 0, out
    assert "Persona x model" in out
    assert "carer" in out
    assert "Cannot score" in out


def test_report_without_labels_says_why(tmp_path: Path) -> None:
    run = make_run(tmp_path, labels=False)
    code, out = _invoke("report", str(run), "--json", "--boot", "0")
    assert code == 0
    data = json.loads(out)
    assert data["labels_available"] is False
    assert all(
        g["alignment"] is None and "labels.json" in g["revealed_reason"] for g in data["groups"]
    )


def test_report_bad_dir_and_corrupt_session(tmp_path: Path) -> None:
    code, out = _invoke("report", str(tmp_path / "nope"))
    assert code == 2
    assert "not a directory" in out
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out = _invoke("report", str(empty))
    assert code == 2
    assert "not a run directory" in out
    run = make_run(tmp_path)
    (run / "sessions" / "broken.json").write_text('{"session_id": 3', encoding="utf-8")
    code, out = _invoke("report", str(run), "--json", "--boot", "0")
    assert code == 0
    data = json.loads(out)
    assert len(data["problems"]) == 1
    assert "broken.json" in data["problems"][0]
    assert data["summary"]["n_sessions"] == 3


def test_labels_roundtrip_and_bad_file(tmp_path: Path) -> None:
    videos = synthetic_videos(5, seed=0)
    write_labels(tmp_path, videos, primary_values={videos[0].id: "Power"})
    labels = read_labels(tmp_path)
    assert labels[videos[0].id].primary_value == "power"
    assert labels[videos[1].id].values == videos[1].values
    (tmp_path / "labels.json").write_text(
        '{"videos": {"x": {"values": {"powerr": 1}}}}', encoding="utf-8"
    )
    from value_spectrum.scoring.rundir import RunDirError

    with pytest.raises(RunDirError, match="powerr"):
        read_labels(tmp_path)


def test_report_imports_no_heavy_module(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    code = (
        "import sys, json\n"
        "from typer.testing import CliRunner\n"
        "from value_spectrum.cli.app import build_app\n"
        f"r = CliRunner().invoke(build_app(), ['report', {str(run)!r}, '--json', '--boot', '5', '--html', {str(tmp_path / 'r.html')!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        "heavy = [m for m in ('torch', 'chromadb', 'open_clip', 'litellm', 'sentence_transformers', 'langgraph') if m in sys.modules]\n"
        "print(json.dumps(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_report_at_80_columns_keeps_intervals_and_whole_ids(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    long_id = "archetype_self_direction_with_a_long_name"
    for f in (run / "sessions").glob("*.json"):
        f.write_text(f.read_text().replace('"carer"', f'"{long_id}"'))
    res = CliRunner().invoke(build_app(), ["report", str(run), "--boot", "20"], env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in res.stdout  # nothing cut
    assert "95% CI" in res.stdout  # the interval is in a second table, not dropped
    assert "drift" in res.stdout
    assert "".join(line.strip() for line in res.stdout.splitlines()).count(long_id) >= 1
    assert "Usage" in res.stdout
    js = CliRunner().invoke(build_app(), ["report", str(run), "--json", "--boot", "0"])
    data = json.loads(js.stdout)
    assert long_id in {g["persona_id"] for g in data["groups"]}
    usage = {u["model"]: u for u in data["usage"]}
    assert set(usage) == {"reference", "openai/always-yes", "all"}
    assert usage["all"]["turns"] == 120 + 120 + 12
