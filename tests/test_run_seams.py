"""The seams a user plugs into: a feed policy object, a prompt strategy callable and a viewer
reach every executor; capabilities are on the Viewer protocol."""

from __future__ import annotations

import importlib.util
import json
import os
import random
from dataclasses import asdict
from pathlib import Path

import pytest

import value_spectrum as vs
from _sim_fakes import reference_factory, tiny_corpus, two_personas
from value_spectrum.agents.base import Viewer
from value_spectrum.agents.reference import ReferenceViewer
from value_spectrum.agents.testing import TestServer
from value_spectrum.graphs.feeds import FeedState
from value_spectrum.personas.model import Persona
from value_spectrum.personas.prompts import STRATEGIES, Prompt
from value_spectrum.runlog import RunLog
from value_spectrum.runner.plan import Plan
from value_spectrum.runner.ray_executor import run_session_job
from value_spectrum.runner.services import Services

HAS_RAY = importlib.util.find_spec("ray") is not None


class Backwards:
    """A user's feed: the corpus from its last video to its first."""

    name = "backwards"

    def __init__(self, ids: list[str]) -> None:
        self.ids = ids

    def next(self, state: FeedState, rng: random.Random) -> str | None:
        left = [i for i in reversed(self.ids) if i not in state.seen]
        return left[0] if left else None


def _seen(run_dir: Path) -> list[list[str]]:
    return [[s.video_id for s in t.steps] for t in RunLog(run_dir).iter_sessions()]


def test_a_user_feed_object_is_used_and_recorded(tmp_path: Path) -> None:
    corpus = tiny_corpus()
    ids = [v.id for v in corpus]
    run = vs.simulate(persona_objects=two_personas(), corpus=corpus, feed=Backwards(ids), steps=5,
                      out=tmp_path / "r", viewer_factory=reference_factory(corpus))
    assert run.ok
    assert _seen(run.path) == [ids[::-1][:5]] * 2
    manifest = RunLog(run.path).read_manifest()
    assert manifest.config["feed"] == "user:backwards"
    with pytest.raises(ValueError, match="pass the object itself"):
        vs.simulate(persona_objects=two_personas(), corpus=corpus, feed="user:backwards", steps=5,
                    out=tmp_path / "r", viewer_factory=reference_factory(corpus))


def test_the_callers_parts_reach_a_remote_worker(tmp_path: Path) -> None:
    corpus = tiny_corpus()
    ids = [v.id for v in corpus]
    services = Services(
        vs.RunConfig(feed="user:backwards", steps=4, out=tmp_path / "w", record_latency=False),
        corpus=corpus, personas=two_personas(), feed=Backwards(ids), viewer_factory=reference_factory(corpus),
    )
    plan = Plan(config=services.config)
    RunLog(tmp_path / "w").sessions_path.mkdir(parents=True)
    for spec in plan.sessions(services.persona_ids):  # the Ray task body, with what Ray would ship
        run_session_job(services.config.model_dump_json(), asdict(spec), str(tmp_path / "w"),
                        plan_json=plan.model_dump_json(), given=services.given, given_key="k")
    assert _seen(tmp_path / "w") == [ids[::-1][:4]] * 2


@pytest.mark.skipif(not HAS_RAY, reason="ray is not installed (optional extra 'ray')")
def test_a_user_feed_reaches_the_ray_executor(tmp_path: Path) -> None:  # pragma: no cover - needs ray
    import ray

    corpus = tiny_corpus()
    ids = [v.id for v in corpus]
    kw = dict(persona_objects=two_personas(), corpus=corpus, feed=Backwards(ids), steps=3, latency=False,
              viewer_factory=reference_factory(corpus))
    local = vs.simulate(out=tmp_path / "local", **kw)
    tests = str(Path(__file__).resolve().parent)  # the workers import this module's feed and fakes
    path = os.pathsep.join([tests, str(Path(tests).parent / "src"), os.environ.get("PYTHONPATH", "")])
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": {"PYTHONPATH": path}})
    try:
        remote = vs.simulate(out=tmp_path / "ray", executor="ray", **kw)
    finally:
        ray.shutdown()
    assert remote.summary.sessions_finished == 2
    a = {p.name: p.read_bytes() for p in RunLog(local.path).session_files()}
    b = {p.name: p.read_bytes() for p in RunLog(remote.path).session_files()}
    assert a == b


def test_a_user_strategy_reaches_the_model(tmp_path: Path) -> None:
    def terse(persona: Persona | None) -> Prompt:
        base = STRATEGIES["simple"](persona)
        return Prompt("user:terse", "You are terse. " + (base.system or ""), base.question, base.schema)

    like = '{"decision": "like", "reason": "ok", "trait_number": 1}'
    with TestServer(reply=lambda body: like) as server:
        run = vs.simulate(personas=["family_oriented"], models=["openai/test-vlm"], api_base=server.base_url,
                          strategy=terse, modality="caption", steps=2, out=tmp_path / "s")
        systems = [m["content"] for b in server.requests for m in b["messages"] if m["role"] == "system"]
    assert run.ok
    assert systems
    assert all(str(s).startswith("You are terse.") for s in systems)
    manifest = json.loads((run.path / "manifest.json").read_text())
    assert manifest["config"]["strategy"] == "user:terse"


def test_capabilities_are_on_the_viewer_protocol() -> None:
    ref = ReferenceViewer({}, seed=1)
    assert isinstance(ref, Viewer)
    assert ref.wants_images is False
    assert ref.describe()["viewer"] == "reference"
