"""The gateway settings of a batch (``--rpm``, ``--tpm``, ``--max-parallel``, ``--timeout``,
``--retries``, ``--rate-limit-retries``, ``--fallback``): validated as one-line errors, passed to
every LLM viewer's Router, recorded in the manifest, and not part of the run's identity."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from value_spectrum.agents.testing import TestServer, fast_retries
from value_spectrum.cli.app import build_app
from value_spectrum.records import Trajectory
from value_spectrum.runner.config import GatewayConfig, RunConfig
from value_spectrum.runner.manifest import run_name

LIKE = '{"action": "like", "reason": "nice"}'
PERSONA = ["--personas", "family_oriented"]


@pytest.fixture(autouse=True)
def _fast_backoff() -> Iterator[None]:
    with fast_retries():
        yield


@pytest.fixture
def server() -> Iterator[TestServer]:
    with TestServer(reply=lambda body: LIKE) as s:
        yield s


def _simulate(*args: str) -> Any:
    return CliRunner().invoke(build_app(), ["simulate", "--steps", "2", *PERSONA, "--json", *args])


def test_gateway_options_are_only_the_given_ones() -> None:
    assert GatewayConfig().options() == {}
    opts = GatewayConfig(rpm=60, max_parallel_requests=4, num_retries=0, fallbacks=("openai/b",)).options()
    assert opts == {"rpm": 60, "max_parallel_requests": 4, "num_retries": 0, "fallbacks": ("openai/b",)}


def test_gateway_settings_are_not_part_of_the_identity() -> None:
    plain = RunConfig(models=("openai/m",))
    limited = RunConfig(models=("openai/m",), gateway=GatewayConfig(rpm=5, timeout_s=3, fallbacks=("openai/b",)))
    assert "gateway" not in limited.identity()
    assert run_name(plain) == run_name(limited)
    assert limited.differences(plain.model_dump(mode="json")) == []
    assert plain.differences(limited.model_dump(mode="json")) == []
    # a manifest written before the gateway field existed still matches
    old = plain.model_dump(mode="json")
    del old["gateway"]
    assert limited.differences(old) == []


def test_rpm_and_max_parallel_reach_the_router(server: TestServer, tmp_path: Path) -> None:
    from value_spectrum.runner.plan import build_plan
    from value_spectrum.runner.services import Services

    config = RunConfig(
        models=("openai/test-vlm",), personas=("family_oriented",), api_base=server.base_url, steps=1,
        gateway=GatewayConfig(rpm=600, tpm=90000, max_parallel_requests=4, timeout_s=7.5, num_retries=1,
                              rate_limit_retries=20, fallbacks=("openai/backup",)),
    )
    services = Services(config)
    specs = build_plan(config, services.persona_ids)
    viewer = services.viewer(specs[0])
    assert services.viewer(specs[0]) is viewer  # one viewer (one Router) per model, shared
    router = viewer.model.router  # type: ignore[attr-defined]
    deployments = {d["model_name"]: d["litellm_params"] for d in router.model_list}
    assert set(deployments) == {"openai/test-vlm", "openai/backup"}
    for params in deployments.values():
        assert params["rpm"] == 600
        assert params["tpm"] == 90000
        assert params["max_parallel_requests"] == 4
        assert params["api_base"] == server.base_url
    assert router.timeout == 7.5
    assert router.num_retries == 1
    assert router.retry_policy.RateLimitErrorRetries == 20
    assert router.fallbacks == [{"openai/test-vlm": ["openai/backup"]}]


def test_simulate_flags_are_used_and_recorded(server: TestServer, tmp_path: Path) -> None:
    out = tmp_path / "r"
    res = _simulate("--model", "openai/test-vlm", "--api-base", server.base_url, "--out", str(out),
                    "--rpm", "600", "--max-parallel", "3", "--timeout", "9", "--retries", "2")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["outcomes"]["like"] == 2
    manifest = json.loads((out / "manifest.json").read_text())
    gateway = manifest["config"]["gateway"]
    assert gateway["rpm"] == 600
    assert gateway["max_parallel_requests"] == 3
    assert gateway["timeout_s"] == 9.0
    assert gateway["num_retries"] == 2
    assert gateway["tpm"] is None
    (record,) = (out / "sessions").glob("*.json")
    described = Trajectory.model_validate_json(record.read_text()).extra["viewer"]["gateway"]
    assert (described["rpm"], described["max_parallel_requests"], described["timeout_s"]) == (600, 3, 9.0)


def test_fallback_answers_when_the_primary_is_down(server: TestServer, tmp_path: Path) -> None:
    server.fail_model("primary")
    res = _simulate("--model", "openai/primary", "--api-base", server.base_url, "--out", str(tmp_path / "r"),
                    "--no-cache", "--retries", "0", "--fallback", "openai/backup")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["outcomes"]["like"] == 2
    models = [r["model"] for r in server.requests]
    assert "primary" in models
    assert models[-1] == "backup"


def test_a_different_rpm_continues_the_same_run(server: TestServer, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    common = ("--model", "openai/test-vlm", "--api-base", server.base_url)
    first = _simulate(*common, "--rpm", "600")
    assert first.exit_code == 0, first.output
    again = _simulate(*common, "--rpm", "1200", "--max-parallel", "2", "--timeout", "30", "--fallback", "openai/b")
    assert again.exit_code == 0, again.output
    a, b = json.loads(first.stdout), json.loads(again.stdout)
    assert a["run_dir"] == b["run_dir"]
    assert b["sessions_skipped"] == 1
    assert b["sessions_run"] == 0
    # and with an explicit --out, too
    out = str(tmp_path / "explicit")
    assert _simulate(*common, "--out", out).exit_code == 0
    res = _simulate(*common, "--out", out, "--rpm", "5")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["sessions_skipped"] == 1


@pytest.mark.parametrize(
    ("flag", "value", "needle"),
    [
        ("--rpm", "0", "got 0"),
        ("--rpm", "-5", "got -5"),
        ("--tpm", "0", "got 0"),
        ("--max-parallel", "0", "got 0"),
        ("--timeout", "0", "got 0.0"),
        ("--timeout", "-1.5", "got -1.5"),
        ("--retries", "-1", "got -1"),
        ("--rate-limit-retries", "-2", "got -2"),
        ("--fallback", "reference", "got 'reference'"),
        ("--fallback", " ", "got ' '"),
    ],
)
def test_bad_values_are_one_line_errors(tmp_path: Path, flag: str, value: str, needle: str) -> None:
    res = _simulate("--model", "openai/test-vlm", "--out", str(tmp_path / "r"), flag, value)
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(f"error: {flag}: ")
    assert needle in lines[0]
    assert not (tmp_path / "r").exists()


def test_gateway_flags_without_a_model_viewer_are_refused(tmp_path: Path) -> None:
    res = _simulate("--out", str(tmp_path / "r"), "--rpm", "10")
    assert res.exit_code == 2
    assert res.stderr.strip() == "error: --rpm: only used with model viewers (--model other than reference)"
    assert not (tmp_path / "r").exists()


def test_bench_preference_uses_and_records_the_flags_and_continues(tmp_path: Path) -> None:
    out = tmp_path / "pref"
    with TestServer(reply=lambda body: '{"answer": "yes"}') as server:
        common = ["bench", "preference", "--model", "openai/primary", "--api-base", server.base_url,
                  "--items", "authored", "--per-value", "1", "--out", str(out), "--json"]
        server.fail_model("primary")
        res = CliRunner().invoke(build_app(), [*common, "--rpm", "600", "--retries", "0", "--fallback", "openai/backup"])
        assert res.exit_code == 0, res.output
        assert [r["model"] for r in server.requests][-1] == "backup"
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["config"]["gateway"]["rpm"] == 600
        assert manifest["config"]["gateway"]["fallbacks"] == ["openai/backup"]
        again = CliRunner().invoke(build_app(), [*common, "--rpm", "30", "--fallback", "openai/backup"])
    assert again.exit_code == 0, again.output
    assert "different run" not in again.output


@pytest.mark.parametrize("command", [["probe", "-p", "family_oriented"], ["bench", "preference"]])
def test_probe_and_bench_refuse_bad_values_in_one_line(command: list[str], tmp_path: Path) -> None:
    out = ["--out", str(tmp_path / "r")]
    bad = CliRunner().invoke(build_app(), [*command, "--model", "openai/m", *out, "--max-parallel", "0"])
    assert bad.exit_code == 2
    assert bad.stderr.strip().splitlines() == [
        "error: --max-parallel: Input should be greater than or equal to 1 (got 0)"
    ]
    unused = CliRunner().invoke(build_app(), [*command, *out, "--timeout", "5"])
    assert unused.exit_code == 2
    assert unused.stderr.strip() == "error: --timeout: only used with model viewers (--model other than reference)"
    assert not (tmp_path / "r").exists()


def test_probe_session_passes_the_gateway_to_the_run(server: TestServer, tmp_path: Path) -> None:
    from value_spectrum.cli.probe_cmd import run_probe_session

    run_dir = run_probe_session("family_oriented", "openai/test-vlm", out=tmp_path / "p", api_base=server.base_url,
                                turns=1, every=1, gateway=GatewayConfig(rpm=600, max_parallel_requests=2))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["config"]["gateway"]["rpm"] == 600
    (record,) = (run_dir / "sessions").glob("*.json")
    gateway = Trajectory.model_validate_json(record.read_text()).extra["viewer"]["gateway"]
    assert (gateway["rpm"], gateway["max_parallel_requests"]) == (600, 2)
