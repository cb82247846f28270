"""Human baselines: like/skip logs imported as a run (bad rows named one line each), read by
report and compare beside the models, with model-human agreement."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from value_spectrum.cli.app import build_app
from value_spectrum.retrieval.demo import load_demo_corpus
from value_spectrum.runlog import RunLog
from value_spectrum.runner.humans import HumanLogError, import_human_log, read_human_log
from value_spectrum.scoring.compare import compare_runs
from value_spectrum.scoring.report import build_report
from value_spectrum.values import VALUE_IDS


def _likes(video_id: str, value: str) -> bool:
    v = load_demo_corpus().get(video_id)
    return v.values is not None and v.values.as_dict()[value] > 0.5


def _log(path: Path, *, bad: bool = True) -> Path:
    corpus = load_demo_corpus()
    rng = random.Random(3)
    lines = ["participant,video_id,decision,dwell_s"]
    for who, value in (("Ana", "benevolence"), ("Ben", "achievement"), ("Chloe", "hedonism")):
        for vid in rng.sample(corpus.ids, 40):
            like = _likes(vid, value)
            lines.append(f"{who},{vid},{'like' if like else 'skip'},{12.5 if like else 1.5}")
    if bad:
        lines += ["Ben,no-such-video,like,3", f"Chloe,{corpus.ids[0]},maybe,2", f"Ana,{corpus.ids[1]},like,-1"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_bad_rows_are_named_and_nothing_is_written(tmp_path: Path) -> None:
    log = read_human_log(_log(tmp_path / "log.csv"), load_demo_corpus())
    assert len(log.rows) == 120
    assert log.errors == (
        f"{tmp_path / 'log.csv'}:122: field 'video_id': value 'no-such-video' is not a video of corpus 'demo'",
        f"{tmp_path / 'log.csv'}:123: field 'decision': value 'maybe' is not like or skip",
        f"{tmp_path / 'log.csv'}:124: field 'dwell_s': value '-1' is not a number of seconds >= 0",
    )
    with pytest.raises(HumanLogError, match="3 bad rows; nothing imported"):
        import_human_log(tmp_path / "log.csv", load_demo_corpus(), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_three_participants_become_a_run_that_report_and_compare_read(tmp_path: Path) -> None:
    run, _ = import_human_log(_log(tmp_path / "log.csv"), load_demo_corpus(), tmp_path / "humans", skip_bad=True)
    sessions = sorted(RunLog(run.path).iter_sessions(), key=lambda t: t.persona_id)
    assert [(t.persona_id, t.model, len(t.steps)) for t in sessions] == [("ana", "human", 40), ("ben", "human", 40),
                                                                          ("chloe", "human", 40)]
    step = sessions[0].steps[0]
    assert step.decision is not None
    assert step.decision.dwell_s in (12.5, 1.5)
    report = build_report(run.path)
    assert sorted(g.persona_id for g in report.groups) == ["ana", "ben", "chloe"]
    import asyncio

    from value_spectrum.runner.config import RunConfig
    from value_spectrum.runner.local import run_batch

    ref = asyncio.run(run_batch(RunConfig(personas=("family_oriented", "archetype_power"), steps=60,
                                          feed="replay", out=tmp_path / "ref")))
    cmp = compare_runs([ref.run_dir, run.path])
    assert cmp.models == ["reference", "human"]
    overall = [a for a in cmp.human_agreement if a.value == "all"]
    assert len(overall) == 1
    assert overall[0].model == "reference"
    assert overall[0].videos > 0
    a = overall[0]
    assert a.rate is not None
    assert a.low is not None
    assert a.high is not None
    assert a.low <= a.rate <= a.high
    assert {x.value for x in cmp.human_agreement} == {"all", *VALUE_IDS}
    assert sum(x.videos for x in cmp.human_agreement if x.value != "all") <= a.videos
    assert all(u.model != "human" for u in cmp.usage)


def test_a_stated_profile_is_the_participant_target(tmp_path: Path) -> None:
    corpus = load_demo_corpus()
    profile = {v: (0.9 if v == "benevolence" else 0.2) for v in VALUE_IDS}
    rows = [{"participant": "p1", "video": vid, "decision": "yes" if _likes(vid, "benevolence") else "no",
             "turn": 59 - n, **({"profile": profile} if n == 0 else {})} for n, vid in enumerate(corpus.ids[:60])]
    path = tmp_path / "log.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    run, _ = import_human_log(path, corpus, tmp_path / "run")
    (traj,) = RunLog(run.path).iter_sessions()
    assert traj.steps[0].video_id == corpus.ids[59]  # ordered by the turn given
    targets, _ = RunLog(run.path).read_personas()
    assert targets["p1"].as_dict()["benevolence"] == pytest.approx(0.9)
    (group,) = build_report(run.path).groups
    assert group.alignment is not None
    assert group.alignment > 0


def test_contradicting_rows_are_named(tmp_path: Path) -> None:
    corpus = load_demo_corpus()
    a, b = corpus.ids[:2]
    path = tmp_path / "log.csv"
    path.write_text(f"participant,video_id,decision,turn\nP 1,{a},like,0\nP 1,{a},skip,1\np-1,{b},like,0\n"
                    f"P 1,{b},like,0\n", encoding="utf-8")
    log = read_human_log(path, corpus)
    assert [e.split(": ", 1)[1] for e in log.errors] == [
        f"field 'video_id': value {a!r} was decided by 'P 1' already (row 2)",
        "field 'participant': value 'p-1' has the same id 'p-1' as 'P 1'; rename one",
        "field 'turn': value 0 was given for 'P 1' already (row 2)",
    ]
    assert [r.row for r in log.rows] == [2]
    missing = tmp_path / "bad.csv"
    missing.write_text("who,video_id,decision\n", encoding="utf-8")
    with pytest.raises(HumanLogError, match="row 1: field 'participant' is missing"):
        read_human_log(missing, corpus)


def test_cli_exit_codes(tmp_path: Path) -> None:
    app = build_app()
    log = _log(tmp_path / "log.csv")
    strict = CliRunner().invoke(app, ["humans", "import", str(log), "--out", str(tmp_path / "a")])
    assert strict.exit_code == 1
    assert "nothing imported" in strict.output
    assert "log.csv:123" in strict.output
    ok = CliRunner().invoke(app, ["humans", "import", str(_log(tmp_path / "good.csv", bad=False)), "--out",
                                  str(tmp_path / "b"), "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["participants"] == 3
    again = CliRunner().invoke(app, ["humans", "import", str(tmp_path / "good.csv"), "--out", str(tmp_path / "b")])
    assert again.exit_code == 2
    assert "already exists" in again.output
