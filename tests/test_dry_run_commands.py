"""``probe --dry-run`` and ``bench preference --dry-run``: the plan's calls, tokens and cost with
every socket refused and nothing written; the real runs then show the same estimate beside what
they spent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from value_spectrum.agents.testing import TestServer
from value_spectrum.personas.instruments import load_instrument

LIKE = '{"decision": "like", "reason": "nice", "trait_number": 1}'

ISOLATED = r"""
import socket, sys
def refuse(self, address):
    raise RuntimeError(f"dry run reached for the network: {address!r}")
socket.socket.connect = refuse
socket.create_connection = lambda *a, **k: refuse(None, a)
from value_spectrum.cli.app import main
sys.argv = ["value-spectrum", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    assert not exc.code, exc.code
print("LITELLM", "litellm" in sys.modules)
"""
REFUSING = "http://127.0.0.1:9/v1"
"""A base URL nothing listens on: a request there would fail."""


def _isolated(tmp_path: Path, *argv: str) -> tuple[dict[str, Any], str, Path, Path]:
    work, cache = tmp_path / "work", tmp_path / "cache"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "LITELLM_LOCAL_MODEL_COST_MAP"}
    env |= {"VALUE_SPECTRUM_CACHE": str(cache), "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    out = subprocess.run([sys.executable, "-c", ISOLATED, *argv], cwd=work, env=env, capture_output=True,
                         text=True, check=False)
    assert out.returncode == 0, out.stderr
    body, _, tail = out.stdout.rpartition("LITELLM")
    assert tail.strip() == "False"  # importing litellm would fetch its price map
    return json.loads(body), out.stderr, work, cache


def test_probe_dry_run(tmp_path: Path) -> None:
    est, _, work, cache = _isolated(tmp_path, "probe", "--dry-run", "--json", "-p", "family_oriented", "--model",
                                    "openai/gpt-4o", "--api-base", REFUSING, "--turns", "40", "--every", "20",
                                    "--out", str(tmp_path / "run"))
    items = len(load_instrument(None).items)
    (m,) = est["models"]
    assert (m["model"], m["sessions"], m["decisions"]) == ("openai/gpt-4o", 1, 40)
    assert m["calls"] == est["calls"] == 40 + 2 * items
    assert m["images"] == 40 * 3  # frames: three keyframes a video
    assert m["cost_usd"] > 0
    assert list(work.iterdir()) == []
    assert not cache.exists()
    assert not (tmp_path / "run").exists()


def test_preference_dry_run_builds_no_index(tmp_path: Path) -> None:
    est, _, work, cache = _isolated(tmp_path, "bench", "preference", "--dry-run", "--json", "--model",
                                    "openai/gpt-4o-mini", "--api-base", REFUSING, "--per-value", "4",
                                    "--modality", "caption", "--embedder", "fake", "--out", str(tmp_path / "run"))
    (m,) = est["models"]
    assert (m["sessions"], m["decisions"], m["calls"], m["images"]) == (10, 40, 40, 0)
    assert m["cost_usd"] > 0
    assert any("authored" in n and "not built yet" in n for n in est["notes"]), est["notes"]
    assert list(work.iterdir()) == []
    assert not cache.exists()  # the real run would build the index here; the dry run does not
    assert not (tmp_path / "run").exists()


def test_probe_run_shows_estimate_and_actual(tmp_path: Path) -> None:
    from value_spectrum.cli.app import build_app

    args = ["probe", "-p", "family_oriented", "--model", "openai/test-vlm", "--turns", "6", "--every", "3",
            "--modality", "caption", "--json"]
    with TestServer(reply=lambda body: '{"rating": 4}' if '"rating"' in json.dumps(body) else LIKE) as server:
        base = ["--api-base", server.base_url]
        dry = CliRunner().invoke(build_app(), [*args, *base, "--dry-run"])
        assert dry.exit_code == 0, dry.output
        assert server.requests == []
        res = CliRunner().invoke(build_app(), [*args, *base, "--out", str(tmp_path / "run")])
        sent = len(server.requests)
        text = CliRunner().invoke(build_app(), [*args[:-1], *base, "--out", str(tmp_path / "text")])
    assert res.exit_code == 0, res.output
    assert text.exit_code == 0, text.output
    assert "estimate vs actual" in text.output
    planned = json.loads(dry.stdout)
    data = json.loads(res.stdout)
    est, actual = data["estimate"]["estimated"], data["estimate"]["actual"]
    items = len(load_instrument(None).items)
    assert est["calls"] == planned["calls"] == 6 + 2 * items
    # the second probe asks the same items: the response cache answers them, as estimated
    assert est["cached_calls"] == planned["cached_calls"] == items
    assert sent == est["calls"] - est["cached_calls"]
    assert est["input_tokens"] == planned["input_tokens"]
    assert actual["decisions"] == 6
    assert actual["input_tokens"] > 0


def test_preference_run_shows_estimate_and_actual(tmp_path: Path) -> None:
    from value_spectrum.cli.app import build_app

    args = ["bench", "preference", "--model", "openai/test-vlm", "--per-value", "3", "--items", "authored",
            "--modality", "caption", "--json"]
    with TestServer(reply=lambda body: "Yes. I like it.") as server:
        base = ["--api-base", server.base_url]
        dry = CliRunner().invoke(build_app(), [*args, *base, "--dry-run"])
        assert dry.exit_code == 0, dry.output
        assert server.requests == []
        res = CliRunner().invoke(build_app(), [*args, *base, "--out", str(tmp_path / "run")])
        sent = len(server.requests)
    assert res.exit_code == 0, res.output
    planned = json.loads(dry.stdout)
    data = json.loads(res.stdout)
    est, actual = data["estimate"]["estimated"], data["estimate"]["actual"]
    assert est["calls"] == planned["calls"] == 30 == sent == actual["decisions"]
    assert est["input_tokens"] == planned["input_tokens"]
    assert any(n.endswith("authored") for n in planned["notes"])
    assert sum(data["n"].values()) == 30


def test_preference_dry_run_queries_a_copy_of_a_built_index(tmp_path: Path, monkeypatch: Any) -> None:
    import hashlib

    from value_spectrum.api import estimate_preference
    from value_spectrum.retrieval.building import open_index
    from value_spectrum.retrieval.corpus import load_corpus
    from value_spectrum.runner.preference import preference_plan

    monkeypatch.setenv("VALUE_SPECTRUM_CACHE", str(tmp_path / "cache"))
    open_index(None, "fake")

    def snapshot() -> dict[str, str]:
        return {str(p.relative_to(tmp_path)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted((tmp_path / "cache").rglob("*")) if p.is_file()}

    before = snapshot()
    est = estimate_preference("openai/gpt-4o", per_value=4, modality="caption", embedder="fake")
    assert snapshot() == before  # Chroma writes to an index it opens: the dry run opened a copy
    assert any("keyword-retrieval" in n for n in est.notes), est.notes
    real = preference_plan(load_corpus(None), "openai/gpt-4o", per_value=4, modality="caption", embedder="fake")
    assert est.calls == sum(len(v) for v in real.items.values())
