"""The LLM viewer's side of leaving and dwell: the contract asks for them only when the run says
so (``leave`` / ``dwell`` viewer options, ``simulate --leave --dwell``), in the JSON schema, the
json_object question and the plain-text fallback; the parser reads them robustly; a model that
answers "leave" ends its session ``left`` and its dwell is recorded and scored."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from value_spectrum.agents import LLMViewer, ScriptedViewer, make_viewer
from value_spectrum.agents.cache import request_key
from value_spectrum.agents.parsing import parse_decision
from value_spectrum.agents.reference import DEFAULT_BOREDOM, ReferenceViewer
from value_spectrum.agents.testing import TestServer
from value_spectrum.agents.watching import read_dwell
from value_spectrum.personas.loading import get_persona
from value_spectrum.personas.prompts import STRATEGIES, contract, template_hash
from value_spectrum.records import Observation, Outcome
from value_spectrum.values import ValueProfile

PERSONA = get_persona("family_oriented")
OBS = Observation(turn=0, video_id="v1", title="A family picnic", caption="Kids and grandparents.",
                  modality="caption", duration_s=40.0)


# ---- the contract -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["simple", "isq", "values"])
def test_json_strategies_ask_in_the_schema_and_the_question(name: str) -> None:
    base = STRATEGIES[name](PERSONA)
    assert contract(base) == base
    on = contract(base, leave=True, dwell=True)
    assert on.system == base.system
    assert on.question.startswith(base.question)
    assert '"dwell_s"' in on.question
    assert '"leave"' in on.question
    assert on.schema is not None
    assert base.schema is not None
    assert on.schema["properties"]["dwell_s"] == {"type": "number"}
    assert on.schema["properties"]["leave"] == {"type": "boolean"}
    # strict structured output wants every property required
    assert set(on.schema["required"]) == set(on.schema["properties"])
    assert set(base.schema["properties"]) == set(base.schema["required"]) - {"dwell_s", "leave"}
    only_dwell = contract(base, dwell=True)
    assert "leave" not in only_dwell.schema["properties"]  # type: ignore[index]
    assert '"leave"' not in only_dwell.question


def test_the_plain_question_asks_for_text_lines() -> None:
    on = contract(STRATEGIES["plain"](None), leave=True, dwell=True)
    assert on.schema is None
    assert '"Watched: <seconds> s"' in on.question
    assert '"Leave: yes"' in on.question


def test_template_hash_and_cache_key_change_with_the_contract(tmp_path: Path) -> None:
    assert template_hash("simple") != template_hash("simple", leave=True)
    assert template_hash("simple", dwell=True) != template_hash("simple", leave=True)
    keys = {}
    for leave, dwell in itertools.product((False, True), repeat=2):
        viewer = LLMViewer("openai/gpt-4o", leave=leave, dwell=dwell, cache=False)
        keys[leave, dwell] = request_key("openai/gpt-4o", None, viewer.first_request(PERSONA, OBS))
        assert viewer.describe()["template_hash"] == template_hash("simple", leave=leave, dwell=dwell)
    assert len(set(keys.values())) == 4
    again = LLMViewer("openai/gpt-4o", leave=True, dwell=True, cache=False)
    assert request_key("openai/gpt-4o", None, again.first_request(PERSONA, OBS)) == keys[True, True]


# ---- the parser ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("reply", "leave", "dwell"), [
    ('{"decision": "skip", "reason": "dull", "leave": true, "dwell_s": 3}', True, 3.0),
    ('{"decision": "like", "reason": "sweet", "leave": false, "dwell_s": "25 seconds"}', False, 25.0),
    ('{"decision": "leave", "reason": "enough"}', True, None),
    ('{"leave": "yes", "reason": "bored of all this"}', True, None),
    ('{"decision": "like", "keep_scrolling": true, "dwell_s": "1:05"}', False, 65.0),
    ('{"decision": "like", "dwell_s": "watched it to the end"}', False, 40.0),
    ('{"decision": "like", "dwell_s": "50%"}', False, 20.0),
    ('{"decision": "skip", "leave": "maybe", "dwell_s": "forever"}', False, None),
    ('{"decision": "skip", "dwell_s": -4}', False, None),
    ('{"decision": "skip", "dwell_s": 1e300}', False, None),
    ('{"decision": "skip", "dwell_s": [1, 2]}', False, None),
    ('{"decision": "skip", "dwell_s": null, "leave": null}', False, None),
    ('No, it bores me.\nWatched: 2 s\n**Leave:** yes', True, 2.0),
    ('Yes. A lovely picnic.\nWatched: about 30 seconds\nLeave: no', False, 30.0),
    ('{"decision": "skip", "reason": "x"}\nLeave: yes\nWatched: 1.5', True, 1.5),
    ('{"decision": "skip", "leave": false, "dwell_s": 3}\nLeave: yes\nWatched: 9 s', False, 3.0),  # JSON wins
])
def test_leave_and_dwell_are_read_and_bad_values_are_absent(reply: str, leave: bool, dwell: float | None) -> None:
    got = parse_decision(reply, leave=True, dwell=True, duration_s=40.0)
    assert not hasattr(got, "outcome"), got
    assert got.leave is leave  # type: ignore[union-attr]
    assert got.dwell_s == dwell  # type: ignore[union-attr]


def test_skipped_early_is_kept_without_seconds() -> None:
    got = parse_decision('{"decision": "skip", "dwell_s": "skipped early"}', dwell=True)
    assert got.dwell_s is None  # type: ignore[union-attr]
    assert got.scores["watched"] == 0.0  # type: ignore[union-attr]


def test_not_asked_not_read() -> None:
    got = parse_decision('{"decision": "skip", "leave": true, "dwell_s": 3}')
    assert (got.leave, got.dwell_s) == (False, None)  # type: ignore[union-attr]
    assert parse_decision('{"decision": "leave"}').outcome == Outcome.UNPARSEABLE  # type: ignore[union-attr]


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                     max_leaves=6)


@settings(max_examples=300, deadline=None)
@given(dwell=_JSON, leave=_JSON, duration=st.none() | st.floats(min_value=0.0, max_value=600.0))
def test_any_dwell_or_leave_value_never_crashes(dwell: Any, leave: Any, duration: float | None) -> None:
    reply = json.dumps({"decision": "like", "reason": "r", "dwell_s": dwell, "leave": leave}, allow_nan=True)
    got = parse_decision(reply, leave=True, dwell=True, duration_s=duration)
    assert got.action == "like"  # type: ignore[union-attr]
    assert got.leave in (True, False)  # type: ignore[union-attr]
    d = got.dwell_s  # type: ignore[union-attr]
    assert d is None or (math.isfinite(d) and 0.0 <= d <= 86_400.0)
    seconds, _ = read_dwell(dwell, duration)
    assert seconds is None or seconds >= 0.0


# ---- the viewers --------------------------------------------------------------------------------
def test_scripted_model_answering_leave() -> None:
    viewer = ScriptedViewer(['{"decision": "leave", "reason": "I have seen enough", "dwell_s": "two"}'],
                            leave=True, dwell=True, schema=True)
    reply = asyncio.run(viewer.decide(PERSONA, OBS))
    assert reply.outcome == Outcome.SKIP
    assert reply.decision is not None
    assert reply.decision.leave
    assert reply.decision.dwell_s is None  # "two" is no number: absent, not an error
    sent = viewer.model.requests[0]
    assert sent.response_format is not None
    assert "leave" in sent.response_format["json_schema"]["schema"]["required"]
    assert viewer.describe()["leave"] is True


def test_one_switch_for_both_viewers() -> None:
    labels = {"v1": ValueProfile.from_mapping({"benevolence": 1.0}, default=0.0)}
    ref = make_viewer("reference", labels=labels, leave=True, dwell=True)
    assert isinstance(ref, ReferenceViewer)
    assert ref.boredom == DEFAULT_BOREDOM
    assert ReferenceViewer(labels, leave=True, boredom=0.4).boredom == 0.4
    llm = make_viewer("openai/gpt-4o", leave=True, dwell=True, boredom=0.4, beta=2.0, cache=False)
    assert isinstance(llm, LLMViewer)
    assert (llm.leave, llm.dwell) == (True, True)


def _leaving_server(leave_at: int) -> tuple[TestServer, list[str]]:
    """A server whose model skips, watches 4.5 s, and leaves on its ``leave_at``-th decision of
    each persona; it fails a request that does not ask for leave and dwell."""
    lock = threading.Lock()
    count: dict[str, int] = {}
    missing: list[str] = []

    def reply(body: dict[str, Any]) -> str:
        text = json.dumps(body["messages"])
        if '\\"leave\\"' not in text or "dwell_s" not in text:
            missing.append(text[:200])
        system = str(body["messages"][0]["content"])
        with lock:
            count[system] = n = count.get(system, 0) + 1
        return json.dumps({"decision": "skip", "reason": "not for me", "trait_number": 1, "dwell_s": 4.5,
                           "leave": n >= leave_at})

    return TestServer(reply), missing


def test_a_model_that_leaves_ends_its_session_left(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from value_spectrum.cli.app import build_app
    from value_spectrum.runlog import RunLog

    app = build_app()
    server, missing = _leaving_server(3)
    with server:
        res = CliRunner().invoke(app, [
            "simulate", "--model", "openai/test-vlm", "--model", "reference", "--api-base", server.base_url,
            "--personas", "family_oriented", "--personas", "archetype_power", "--steps", "12", "--modality",
            "caption", "--leave", "--dwell", "--boredom", "2", "--out", str(tmp_path / "run"), "--json",
            "--no-cache"])
    assert res.exit_code == 0, res.output
    assert missing == []
    sessions = {(t.model, t.persona_id): t for t in RunLog(tmp_path / "run").iter_sessions()}
    for persona in ("family_oriented", "archetype_power"):
        t = sessions["openai/test-vlm", persona]
        assert t.status == "left"
        assert len(t.steps) == 3
        assert [s.decision.dwell_s for s in t.steps if s.decision] == [4.5, 4.5, 4.5]
        assert t.steps[-1].decision is not None
        assert t.steps[-1].decision.leave
    assert all(t.status == "left" for t in sessions.values())  # the reference viewer's boredom too
    data = json.loads(res.stdout)
    assert data["status_counts"] == {"left": 4}
    report = CliRunner().invoke(app, ["report", str(tmp_path / "run"), "--json"])
    assert report.exit_code == 0, report.output
    groups = {(g["model"], g["persona_id"]): g for g in json.loads(report.stdout)["groups"]}
    length = groups["openai/test-vlm", "family_oriented"]["session_length"]
    assert (length["sessions"], length["left"], length["mean_turns"]) == (1, 1, 3.0)
    assert length["dwell_n"] == 3
    assert length["dwell_skip_s"] == 4.5


@pytest.mark.parametrize("mode", ["json_object", "text"])
def test_the_degrade_ladder_keeps_the_contract(tmp_path: Path, mode: str) -> None:
    rejected = ("json_schema",) if mode == "json_object" else ("json_schema", "json_object")
    plain = mode == "text"
    answer = "No, not for me.\nWatched: 2 s\nLeave: yes" if plain else '{"decision": "skip", "leave": true, "dwell_s": 2}'
    with TestServer(lambda body: answer, reject_formats=rejected) as s:
        viewer = LLMViewer("openai/local-alias", api_base=s.base_url, cache=False, num_retries=0,
                           strategy="plain" if plain else "simple", leave=True, dwell=True)
        reply = asyncio.run(viewer.decide(None if plain else PERSONA, OBS))
        last = s.requests[-1]
    assert (last.get("response_format") or {}).get("type") == (None if plain else "json_object")
    question = last["messages"][-1]["content"]
    assert ("Leave: yes" if plain else '"leave": true') in question
    assert reply.decision is not None
    assert (reply.decision.leave, reply.decision.dwell_s) == (True, 2.0)


def test_a_newcomer_sees_how_sessions_ended(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from value_spectrum.cli.app import build_app
    from value_spectrum.scoring.report import build_report
    from value_spectrum.scoring.tables import length_table

    app = build_app()
    run = tmp_path / "run"
    res = CliRunner().invoke(app, ["simulate", "--leave", "--personas", "family_oriented", "--steps", "30",
                                   "--sessions", "3", "--out", str(run)])
    assert res.exit_code == 0, res.output
    assert "ended" in res.output
    assert "left 3" in res.output
    table = length_table(build_report(run))
    assert table is not None
    assert [c.header for c in table.columns] == ["persona", "model", "n", "turns", "range", "left"]  # no dwell: no dwell columns
    html = CliRunner().invoke(app, ["report", str(run), "--html", str(tmp_path / "r.html")])
    assert html.exit_code == 0, html.output
    assert "3 of 3 left the feed" in (tmp_path / "r.html").read_text()


def test_the_estimate_counts_the_longer_contract() -> None:
    from value_spectrum.runner.config import RunConfig
    from value_spectrum.runner.estimate import estimate, typical_reply

    def est(**viewer: bool):  # type: ignore[no-untyped-def]
        return estimate(RunConfig(models=("openai/gpt-4o",), personas=("family_oriented",), steps=3, modality="title",
                                  cache=False, viewer_options=dict(viewer)))

    plain, asked = est(), est(leave=True, dwell=True)
    assert asked.input_tokens > plain.input_tokens  # the question and the schema are longer
    assert asked.output_tokens > plain.output_tokens
    assert any("upper bound" in n for n in asked.notes)
    assert not any("upper bound" in n for n in plain.notes)
    reply = parse_decision(typical_reply("simple", {"leave": True, "dwell": True}), leave=True, dwell=True)
    assert (reply.dwell_s, reply.leave) == (12.0, False)  # type: ignore[union-attr]
    text = parse_decision(typical_reply("plain", {"leave": True, "dwell": True}), leave=True, dwell=True)
    assert text.dwell_s == 12.0  # type: ignore[union-attr]


def test_an_llm_dwell_is_scored_as_a_graded_signal(tmp_path: Path) -> None:
    """A scripted model that lingers on benevolent videos: its dwell profile puts benevolence
    first, from dwell alone (it likes everything, so like/skip says nothing)."""
    from value_spectrum.agents.chat import ChatRequest
    from value_spectrum.api import simulate
    from value_spectrum.retrieval.corpus import load_corpus
    from value_spectrum.scoring.report import build_report

    corpus = load_corpus(None)
    by_title = sorted(((v.title, v) for v in corpus if v.title and v.values is not None), key=lambda tv: -len(tv[0]))

    def reply(request: ChatRequest) -> str:
        text = json.dumps([m.get("content") for m in request.messages])
        video = next(v for title, v in by_title if json.dumps(title)[1:-1] in text)
        assert video.values is not None
        return json.dumps({"decision": "like", "reason": "r", "trait_number": 1,
                           "dwell_s": round(2 + 40 * video.values["benevolence"], 2), "leave": False})

    run = simulate(personas="family_oriented", models="scripted", steps=60, modality="caption", out=tmp_path / "run",
                   viewer_options={"dwell": True, "leave": True}, latency=False,
                   viewer_factory=lambda spec: ScriptedViewer([reply], cycle=True, dwell=True, leave=True))
    assert run.summary.decisions == 60
    (group,) = build_report(run.path).groups
    sl = group.session_length
    assert sl is not None
    assert sl.dwell_n == 60
    assert sl.dwell_profile is not None, sl.dwell_reason
    assert max(sl.dwell_profile, key=sl.dwell_profile.__getitem__) == "benevolence"
    assert sl.dwell_alignment is not None
