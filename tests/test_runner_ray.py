"""The Ray executor: its task body runs anywhere; Ray itself is tested only when installed."""

from __future__ import annotations

import asyncio
import importlib.util
from dataclasses import asdict
from pathlib import Path

import pytest

from value_spectrum.runlog import RunLog
from value_spectrum.runner.config import RunConfig
from value_spectrum.runner.local import run_batch
from value_spectrum.runner.plan import build_plan
from value_spectrum.runner.ray_executor import RAY_MISSING, run_session_job

HAS_RAY = importlib.util.find_spec("ray") is not None
PERSONAS = ("archetype_benevolence", "archetype_power")


def test_task_body_writes_the_same_record_as_the_local_executor(tmp_path: Path) -> None:
    local = RunConfig(personas=PERSONAS, steps=4, out=tmp_path / "local", record_latency=False)
    asyncio.run(run_batch(local))
    ray_cfg = RunConfig(**{**local.model_dump(), "out": tmp_path / "ray", "executor": "ray"})
    RunLog(tmp_path / "ray").sessions_path.mkdir(parents=True)
    for spec in build_plan(ray_cfg, PERSONAS):
        result = run_session_job(ray_cfg.model_dump_json(), asdict(spec), str(tmp_path / "ray"))
        assert result["session_id"] == spec.session_id
        assert result["steps"] == 4
    a = sorted((tmp_path / "local" / "sessions").glob("*.json"))
    b = sorted((tmp_path / "ray" / "sessions").glob("*.json"))
    assert [p.name for p in a] == [p.name for p in b]
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b, strict=True))
    assert not list((tmp_path / "ray" / "checkpoints").glob("*.sqlite*"))


@pytest.mark.skipif(HAS_RAY, reason="ray is installed")
def test_missing_ray_is_a_clear_error(tmp_path: Path) -> None:
    cfg = RunConfig(personas=PERSONAS[:1], steps=2, out=tmp_path / "r", executor="ray")
    with pytest.raises(ImportError, match=r"pip install 'value-spectrum\[ray\]'"):
        asyncio.run(run_batch(cfg))
    assert RAY_MISSING.startswith("the Ray executor needs ray")


@pytest.mark.skipif(not HAS_RAY, reason="ray is not installed (optional extra 'ray')")
def test_ray_batch_equals_local(tmp_path: Path) -> None:  # pragma: no cover - needs ray
    import ray

    local = RunConfig(personas=PERSONAS, steps=3, out=tmp_path / "local", record_latency=False)
    asyncio.run(run_batch(local))
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        cfg = RunConfig(**{**local.model_dump(), "out": tmp_path / "ray", "executor": "ray"})
        s = asyncio.run(run_batch(cfg))
    finally:
        ray.shutdown()
    assert s.sessions_finished == 2
    a = {p.name: p.read_bytes() for p in (tmp_path / "local" / "sessions").glob("*.json")}
    b = {p.name: p.read_bytes() for p in (tmp_path / "ray" / "sessions").glob("*.json")}
    assert a == b
