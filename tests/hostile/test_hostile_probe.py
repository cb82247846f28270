"""Issue 12 item 10: a probe that gets no ratings says how many items were unanswered, shows one
raw reply, and exits 1 when nothing could be scored (``probe`` and chat's ``/probe``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _hostile import cli

from value_spectrum.agents.probing import probe_coverage
from value_spectrum.agents.testing import TestServer
from value_spectrum.records import Probe, ProbeAnswer

LIKE = '{"action": "like", "reason": "nice"}'


def _rating_or_like(body: dict[str, object]) -> str:
    text = json.dumps(body.get("messages"))
    return '{"rating": 4}' if "How much is this like you" in text else LIKE


def _probe(tmp_path: Path, reply: object, *extra: str) -> object:
    with TestServer(reply=reply) as server:  # type: ignore[arg-type]
        return cli("probe", "--persona", "family_oriented", "--model", "openai/test-vlm", "--api-base",
                   server.base_url, "--turns", "2", "--every", "2", "--out", str(tmp_path / "run"), *extra)


def test_probe_with_no_ratings_exits_1_and_shows_a_reply(tmp_path: Path) -> None:
    result = _probe(tmp_path, lambda body: LIKE, "--json")
    assert result.code == 1, result.stderr  # type: ignore[attr-defined]
    data = json.loads(result.stdout)  # type: ignore[attr-defined]
    assert data["items_asked"] > 0
    assert data["items_unanswered"] == data["items_asked"]
    assert "like" in data["unanswered_sample"]
    lines = [line for line in result.stderr.splitlines() if line.startswith("probe:")]  # type: ignore[attr-defined]
    assert lines
    assert f"{data['items_asked']} of {data['items_asked']} questionnaire items unanswered" in lines[0]


def test_probe_table_says_why_and_exits_1(tmp_path: Path) -> None:
    result = _probe(tmp_path, lambda body: LIKE)
    assert result.code == 1  # type: ignore[attr-defined]
    assert "no questionnaire answer could be scored" in result.stderr  # type: ignore[attr-defined]
    assert "one reply was" in result.stderr  # type: ignore[attr-defined]


def test_probe_with_ratings_exits_0(tmp_path: Path) -> None:
    result = _probe(tmp_path, _rating_or_like, "--json")
    assert result.code == 0, result.stderr  # type: ignore[attr-defined]
    data = json.loads(result.stdout)  # type: ignore[attr-defined]
    assert data["items_unanswered"] == 0
    assert data["unanswered_sample"] is None


def test_coverage_counts_and_bounds_the_sample() -> None:
    answers = (ProbeAnswer(item_id="a", value="power", rating=None, raw="x" * 1000),
               ProbeAnswer(item_id="b", value="power", rating=3))
    cov = probe_coverage([Probe(after_turn=1, instrument="i", answers=answers)])
    assert (cov.asked, cov.unanswered, cov.answered) == (2, 1, 1)
    assert cov.sample_reply is not None
    assert len(cov.sample_reply) <= 160


def test_chat_probe_panel_shows_a_reply(capsys: pytest.CaptureFixture[str]) -> None:
    from value_spectrum.cli._chat_view import probe_panel as _probe_panel

    answers = tuple(ProbeAnswer(item_id=f"i{n}", value="power", rating=None, raw=LIKE) for n in range(3))
    _probe_panel(Probe(after_turn=0, instrument="ours", answers=answers))
    out = capsys.readouterr()
    text = " ".join((out.out + out.err).split())
    assert "0/3 items answered" in text
    assert "3 of 3 questionnaire items unanswered" in text
    assert '"action": "like"' in text
