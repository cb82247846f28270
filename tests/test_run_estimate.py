"""The dry run: calls, tokens and cost of a plan before running it, touching no network and
writing nothing; cache hits counted from the real response cache."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from value_spectrum.agents.testing import TestServer
from value_spectrum.agents.tokens import image_tokens, text_counter
from value_spectrum.runner.config import RunConfig
from value_spectrum.runner.estimate import TYPICAL_REPLY, estimate

LIKE = '{"decision": "like", "reason": "nice", "trait_number": 1}'

ISOLATED = r"""
import json, os, socket, sys
def refuse(self, address):
    raise RuntimeError(f"dry run reached for the network: {address!r}")
socket.socket.connect = refuse
socket.create_connection = lambda *a, **k: refuse(None, a)
from value_spectrum.runner.config import RunConfig
from value_spectrum.runner.estimate import estimate
est = estimate(RunConfig(models=("openai/gpt-4o", "reference"), personas=("family_oriented", "archetype_power"), steps=50))
print(json.dumps({"est": est.to_dict(), "litellm": "litellm" in sys.modules}))
"""


def test_dry_run_touches_no_network_and_writes_nothing(tmp_path: Path) -> None:
    cache = tmp_path / "cache"  # not there: the dry run must not make it
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "LITELLM_LOCAL_MODEL_COST_MAP"}
    env |= {"VALUE_SPECTRUM_CACHE": str(cache), "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    out = subprocess.run([sys.executable, "-c", ISOLATED], cwd=work, env=env, capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["litellm"] is False  # importing litellm would fetch its price map
    assert not cache.exists()
    assert list(work.iterdir()) == []
    est = data["est"]
    gpt, ref = est["models"]
    assert (gpt["model"], gpt["sessions"], gpt["decisions"], gpt["calls"]) == ("openai/gpt-4o", 2, 100, 100)
    assert gpt["images"] == 300
    assert gpt["image_tokens"] > 0
    assert gpt["priced"]
    assert gpt["cost_usd"] > 0
    assert gpt["tokenizer"] == "o200k_base"
    assert (ref["calls"], ref["cost_usd"]) == (0, 0.0)
    assert est["calls"] == 100
    assert est["unpriced"] == []


def test_tokens_follow_the_prompt_and_the_price_map() -> None:
    caption = estimate(RunConfig(models=("openai/gpt-4o",), personas=("family_oriented",), steps=10,
                                 modality="caption", cache=False))
    frames = estimate(RunConfig(models=("openai/gpt-4o",), personas=("family_oriented",), steps=10, cache=False))
    m = caption.models[0]
    assert m.image_tokens == 0
    assert m.images == 0
    assert frames.models[0].image_tokens > 0
    assert frames.input_tokens > caption.input_tokens
    reply = text_counter("openai/gpt-4o").count(TYPICAL_REPLY["simple"])
    assert m.output_tokens == 10 * reply
    # the system prompt alone is more than the observation's share of a caption prompt
    assert m.input_tokens > 10 * 100
    from value_spectrum.agents.pricing import cost_usd

    assert m.cost_usd == pytest.approx(cost_usd("openai/gpt-4o", m.input_tokens, m.output_tokens), rel=1e-6)
    unknown = estimate(RunConfig(models=("openai/my-own-model",), personas=("family_oriented",), steps=2,
                                 modality="title", cache=False))
    assert unknown.unpriced == ("openai/my-own-model",)
    assert unknown.models[0].cost_usd is None
    assert unknown.cost_usd == 0.0


def test_probes_add_one_call_per_item() -> None:
    from value_spectrum.personas.instruments import load_instrument

    items = len(load_instrument(None).items)
    est = estimate(RunConfig(models=("openai/gpt-4o",), personas=("family_oriented",), steps=6, probe_every=3,
                             modality="title", cache=False))
    assert est.calls == 6 + 2 * items


def test_image_formulas() -> None:
    assert image_tokens("openai/gpt-4o", 512, 512) == 85 + 170
    assert image_tokens("openai/gpt-4o", 360, 640) == 85 + 170 * 2
    assert image_tokens("openai/gpt-4o-mini", 512, 512) == 2833 + 5667
    assert image_tokens("gemini/gemini-2.0-flash", 300, 300) == 258


def test_a_finished_run_is_expected_from_the_cache(tmp_path: Path) -> None:
    from value_spectrum.runner.local import run_batch

    with TestServer(reply=lambda body: LIKE) as server:
        config = RunConfig(models=("openai/test-vlm",), personas=("family_oriented",), api_base=server.base_url,
                           steps=4, out=tmp_path / "run")
        before = estimate(config)
        assert before.cached_calls == 0
        summary = asyncio.run(run_batch(config))
        assert summary.decisions == 4
        after = estimate(config)
        assert after.calls == 4
        assert after.cached_calls == 4
        other = estimate(config.model_copy(update={"strategy": "values"}))
        assert other.cached_calls == 0


CLI_ISOLATED = r"""
import socket, sys
def refuse(self, address):
    raise RuntimeError(f"dry run reached for the network: {address!r}")
socket.socket.connect = refuse
from value_spectrum.cli.app import main
sys.argv = ["value-spectrum", "simulate", "--dry-run", "--model", "openai/gpt-4o", "--steps", "50", "--json"]
try:
    main()
except SystemExit as exc:
    assert not exc.code, exc.code
print("LITELLM", "litellm" in sys.modules)
"""


def test_simulate_dry_run_prints_the_bill_and_writes_nothing(tmp_path: Path) -> None:
    work, cache = tmp_path / "work", tmp_path / "cache"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "LITELLM_LOCAL_MODEL_COST_MAP"}
    env |= {"VALUE_SPECTRUM_CACHE": str(cache), "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    out = subprocess.run([sys.executable, "-c", CLI_ISOLATED], cwd=work, env=env, capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stderr
    body, _, tail = out.stdout.rpartition("LITELLM")
    assert tail.strip() == "False"
    est = json.loads(body)
    assert est["calls"] == 26 * 50
    assert est["models"][0]["model"] == "openai/gpt-4o"
    assert est["cost_usd"] > 0
    assert est["image_tokens"] > 0
    assert list(work.iterdir()) == []
    assert not cache.exists()


def test_the_run_summary_shows_estimate_and_actual(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from value_spectrum.cli.app import build_app

    with TestServer(reply=lambda body: LIKE) as server:
        res = CliRunner().invoke(build_app(), [
            "simulate", "--model", "openai/test-vlm", "--api-base", server.base_url, "--personas", "family_oriented",
            "--steps", "3", "--modality", "caption", "--out", str(tmp_path / "run"), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    est, actual = data["estimate"]["estimated"], data["estimate"]["actual"]
    assert est["calls"] == 3
    assert actual["decisions"] == 3
    assert actual["input_tokens"] == data["prompt_tokens"]
    assert est["input_tokens"] > 0
    assert est["cost_usd"] == 0.0  # the test server's model has no price
