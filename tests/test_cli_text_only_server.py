"""Against a text-only llama.cpp-style server (HTTP 500 on image parts and on json_schema):
`simulate` with default options stops in one line naming `--modality caption` (exit 1); with
`--modality caption` every decision is recorded as like, skip, unparseable or refused, and the
manifest says which response format the model ran in. `probe` and `bench preference` take
`--modality` and check the same way."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from value_spectrum.agents.testing import TestServer, count_images, fast_retries
from value_spectrum.cli.app import build_app


@pytest.fixture
def server() -> Iterator[TestServer]:
    with fast_retries(), TestServer(text_only=True) as s:
        yield s


def _simulate(server: TestServer, out: Path, *extra: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(build_app(), [
        "simulate", "--model", "openai/smol", "--api-base", server.base_url, "--personas", "archetype_benevolence",
        "--steps", "4", "--out", str(out), "--no-cache", "--quiet", *extra,
    ])
    return res.exit_code, res.stdout, res.stderr


def test_default_frames_stop_in_one_line_naming_the_fix(server: TestServer, tmp_path: Path) -> None:
    code, _, err = _simulate(server, tmp_path / "run")
    assert code == 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "openai/smol" in lines[0]
    assert "--modality caption" in lines[0]
    assert not (tmp_path / "run").exists()  # stopped before anything ran
    assert len(server.requests) <= 8  # one tiny probe (with its retries and fallbacks), not a run


def test_caption_records_every_decision_and_the_format_used(server: TestServer, tmp_path: Path) -> None:
    code, out, err = _simulate(server, tmp_path / "run", "--modality", "caption", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert sum(summary["outcomes"].values()) == 4
    assert {k for k, n in summary["outcomes"].items() if n} <= {"like", "skip", "unparseable", "refused"}
    assert all(count_images(b) == 0 for b in server.requests)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["response_formats"] == {"openai/smol": "json_object"}


def test_probe_and_bench_take_modality_and_check_it(server: TestServer, tmp_path: Path) -> None:
    app = build_app()
    res = CliRunner().invoke(app, ["probe", "-p", "archetype_benevolence", "-m", "openai/smol", "--api-base",
                                   server.base_url, "--turns", "2", "--every", "1", "--out", str(tmp_path / "p")])
    assert res.exit_code == 1
    assert "--modality caption" in res.stderr
    res = CliRunner().invoke(app, ["bench", "preference", "-m", "openai/smol", "--api-base", server.base_url,
                                   "--per-value", "1", "--items", "authored", "--out", str(tmp_path / "b")])
    assert res.exit_code == 1
    assert "--modality caption" in res.stderr
    res = CliRunner().invoke(app, ["bench", "preference", "-m", "openai/smol", "--api-base", server.base_url,
                                   "--per-value", "1", "--items", "authored", "--modality", "title",
                                   "--out", str(tmp_path / "b2"), "--json"])
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)


def test_a_preference_run_that_scores_nothing_exits_1(tmp_path: Path) -> None:
    with fast_retries(), TestServer(lambda body: "I cannot say.") as s:
        res = CliRunner().invoke(build_app(), ["bench", "preference", "-m", "openai/vague", "--api-base", s.base_url,
                                               "--per-value", "1", "--items", "authored", "--modality", "title",
                                               "--out", str(tmp_path / "b")])
    assert res.exit_code == 1
    assert "no item could be scored" in res.stderr


def test_library_simulate_gets_the_same_one_line_check(server: TestServer, tmp_path: Path) -> None:
    from value_spectrum.api import bench_preference, simulate
    from value_spectrum.runner.checks import ModalityCheckError

    with pytest.raises(ModalityCheckError) as info:
        simulate("archetype_benevolence", "openai/smol", api_base=server.base_url, steps=2, out=tmp_path / "run",
                 cache=False)
    (line,) = str(info.value).splitlines()
    assert "openai/smol" in line
    assert "--modality caption" in line
    assert not (tmp_path / "run").exists()
    with pytest.raises(ModalityCheckError):
        bench_preference("openai/smol", api_base=server.base_url, per_value=1, items="authored", out=tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_library_refuses_gateway_options_with_only_the_reference_viewer(tmp_path: Path) -> None:
    from value_spectrum.api import simulate
    from value_spectrum.runner.checks import RunCheckError

    with pytest.raises(RunCheckError, match=r"^gateway\.rpm: only used with model viewers"):
        simulate("archetype_benevolence", "reference", steps=2, out=tmp_path / "run", gateway={"rpm": 10})
    assert not (tmp_path / "run").exists()
    res = CliRunner().invoke(build_app(), ["simulate", "--model", "reference", "--rpm", "10", "--steps", "2",
                                           "--out", str(tmp_path / "cli")])
    assert res.exit_code == 2
    assert "--rpm: only used with model viewers" in res.stderr
