"""`bench preference` (offline with the reference viewer, and through litellm against the local
OpenAI-compatible test server) and `probe` (stated vs revealed), end to end on the demo corpus."""

from __future__ import annotations

import itertools
import json
import threading
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from value_spectrum.agents.testing import TestServer, count_images
from value_spectrum.cli.app import build_app
from value_spectrum.values import VALUE_IDS


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(build_app(), list(args))
    # JSON goes to stdout; litellm may log to stderr, which CliRunner folds into .output
    return result.exit_code, (result.stdout if result.exit_code == 0 else result.output)


def test_bench_preference_reference_scores_all_values(tmp_path: Path) -> None:
    out = tmp_path / "pref"
    code, text = _invoke(
        "bench",
        "preference",
        "--model",
        "reference",
        "--items",
        "authored",
        "--per-value",
        "6",
        "--out",
        str(out),
        "--json",
    )
    assert code == 0, text
    data = json.loads(text)
    assert set(data["scores"]) == set(VALUE_IDS)
    assert all(isinstance(data["scores"][v], float) for v in VALUE_IDS)
    assert all(data["n"][v] == 6 for v in VALUE_IDS)
    assert data["abstain_total"] == 0
    assert data["items"] == "authored"
    assert "GPT-4o" in data["reference"]
    assert "approximate" in data["citation"].lower()
    assert data["mean"] is not None
    assert data["sd"] is not None
    # the run directory is a run directory: report reads it and knows it is a preference run
    code, text = _invoke("report", str(out), "--json", "--boot", "0")
    assert code == 0, text
    rep = json.loads(text)
    assert rep["kind"] == "preference"
    assert rep["preference"][0]["scores"] == data["scores"]
    # re-running the same command keeps the sessions; another config is refused
    code, text = _invoke(
        "bench",
        "preference",
        "--model",
        "reference",
        "--items",
        "authored",
        "--per-value",
        "6",
        "--out",
        str(out),
        "--json",
    )
    assert code == 0
    assert json.loads(text)["scores"] == data["scores"]
    code, text = _invoke(
        "bench",
        "preference",
        "--model",
        "reference",
        "--items",
        "authored",
        "--per-value",
        "7",
        "--out",
        str(out),
    )
    assert code == 2
    assert "per_value" in text


def test_bench_preference_against_openai_compatible_server(tmp_path: Path) -> None:
    answers = itertools.cycle(
        [
            "Yes. The colours are warm and it looks fun. It shows people outdoors.",
            "No. It does not appeal to me. A person talks to the camera.",
            "I'm sorry, but I can't share personal preferences about images.",
        ]
    )
    lock = threading.Lock()

    def reply(body: dict[str, Any]) -> str:
        with lock:
            return next(answers)

    with TestServer(reply=reply) as server:
        code, text = _invoke(
            "bench",
            "preference",
            "--model",
            "openai/test-vlm",
            "--api-base",
            server.base_url,
            "--items",
            "authored",
            "--per-value",
            "3",
            "--out",
            str(tmp_path / "srv"),
            "--concurrency",
            "1",
            "--json",
        )
        images = sum(count_images(b) for b in server.requests)
    assert code == 0, text
    data = json.loads(text)
    assert set(data["scores"]) == set(VALUE_IDS)
    assert sum(data["n"].values()) == 30
    assert data["abstain_total"] >= 5  # the refusals are kept apart, not counted as "no"
    assert sum(data["yes"].values()) >= 5
    assert sum(data["no"].values()) >= 5
    assert images >= 30  # keyframes were sent


def test_probe_reference_reports_stated_and_revealed(tmp_path: Path) -> None:
    code, text = _invoke(
        "probe",
        "--persona",
        "archetype_benevolence",
        "--model",
        "reference",
        "--turns",
        "40",
        "--every",
        "20",
        "--out",
        str(tmp_path / "probe"),
        "--json",
    )
    assert code == 0, text
    data = json.loads(text)
    assert len(data["probes"]) >= 2
    assert data["stated"] is not None
    assert data["stated_alignment"] > 0.8  # the reference viewer states its target
    assert data["stated_stability"] is not None
    assert data["revealed"] is not None
    assert data["gap_spearman"] is not None
    assert set(data["gap_difference"]) == set(VALUE_IDS)
    assert (tmp_path / "probe" / "labels.json").is_file()


def test_probe_bad_options_are_one_line() -> None:
    code, text = _invoke("probe", "--persona", "family_oriented", "--turns", "10", "--every", "20")
    assert code == 2
    assert "--every: 20 is more than --turns 10" in text
    code, text = _invoke("probe", "--persona", "family_oriented", "--feed", "tiktok")
    assert code == 2
    assert "--feed: unknown feed policy 'tiktok'" in text
    assert "validation error" not in text


def test_probe_default_run_dirs_follow_the_options(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    first = _invoke("probe", "--persona", "family_oriented", "--turns", "6", "--every", "3", "--json")
    assert first[0] == 0, first[1]
    again = _invoke("probe", "--persona", "family_oriented", "--turns", "6", "--every", "3", "--json")
    assert json.loads(again[1])["run_dir"] == json.loads(first[1])["run_dir"]  # continued
    other = _invoke("probe", "--persona", "family_oriented", "--turns", "8", "--every", "4", "--json")
    assert other[0] == 0, other[1]  # changed options: a new run, not a refusal
    assert json.loads(other[1])["run_dir"] != json.loads(first[1])["run_dir"]
    assert len(list((tmp_path / "runs").iterdir())) == 2


def test_bench_refuses_a_folder_that_holds_something_else(tmp_path: Path) -> None:
    busy = tmp_path / "notes"
    busy.mkdir()
    (busy / "todo.txt").write_text("mine", encoding="utf-8")
    code, text = _invoke("bench", "preference", "--items", "authored", "--per-value", "2", "--out", str(busy))
    assert code == 2
    assert "no manifest.json" in text
    assert [p.name for p in busy.iterdir()] == ["todo.txt"]
