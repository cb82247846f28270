"""The reference viewer: deterministic per decision, like rate rising with value utility."""

from __future__ import annotations

import asyncio
import random

import numpy as np

from value_spectrum.agents import ReferenceViewer, make_viewer
from value_spectrum.personas.model import Persona
from value_spectrum.personas.questionnaire import Instrument, Item
from value_spectrum.records import Observation, Outcome
from value_spectrum.values import VALUE_IDS, ValueProfile


def _persona(pid: str = "carer", top: str = "benevolence") -> Persona:
    return Persona(
        id=pid,
        name=pid,
        traits=("I look after my family.", "I volunteer on weekends.", "I call my mother daily."),
        target=ValueProfile.from_mapping({top: 0.95}, default=0.2),
    )


def _labels(n: int = 200, seed: int = 3) -> dict[str, ValueProfile]:
    rng = np.random.default_rng(seed)
    return {f"v{i}": ValueProfile.from_array(rng.uniform(0, 1, 10)) for i in range(n)}


def _run(viewer: ReferenceViewer, persona: Persona | None, ids: list[str]) -> list[str]:
    async def go() -> list[str]:
        replies = await asyncio.gather(*(viewer.decide(persona, Observation(turn=t, video_id=v)) for t, v in enumerate(ids)))
        return [r.outcome.value for r in replies]

    return asyncio.run(go())


def test_same_inputs_same_choices_in_any_order() -> None:
    labels = _labels()
    viewer = ReferenceViewer(labels, beta=6.0, noise=0.3, seed=11)
    ids = list(labels)
    first = _run(viewer, _persona(), ids)
    again = _run(ReferenceViewer(labels, beta=6.0, noise=0.3, seed=11), _persona(), ids)
    assert first == again
    # decide each (turn, video) pair in a shuffled order: same answers per pair
    order = list(range(len(ids)))
    random.Random(5).shuffle(order)
    shuffled = {i: viewer.decide_sync(_persona(), Observation(turn=i, video_id=ids[i])).outcome.value for i in order}
    assert [shuffled[i] for i in range(len(ids))] == first
    other_seed = _run(ReferenceViewer(labels, beta=6.0, noise=0.3, seed=12), _persona(), ids)
    assert other_seed != first


def test_like_rate_rises_with_utility() -> None:
    labels = _labels(400)
    viewer = ReferenceViewer(labels, beta=8.0, seed=0)
    persona = _persona()
    ids = list(labels)
    outcomes = _run(viewer, persona, ids)
    utils = np.array([viewer.utility(persona, v) for v in ids])
    liked = np.array([o == "like" for o in outcomes])
    lo, hi = np.quantile(utils, [0.25, 0.75])
    assert liked[utils >= hi].mean() > liked[utils <= lo].mean() + 0.3
    # the persona's top value is liked more often among videos that carry it strongly
    strong = np.array([labels[v]["benevolence"] > 0.8 for v in ids])
    weak = np.array([labels[v]["benevolence"] < 0.2 for v in ids])
    assert liked[strong].mean() > liked[weak].mean()


def test_plain_viewer_is_a_coin_at_sigmoid_bias() -> None:
    labels = _labels(1)
    viewer = ReferenceViewer(labels, beta=6.0, bias=1.0)
    assert abs(viewer.p_like(None, "v0") - 1 / (1 + np.exp(-1.0))) < 1e-12


def test_unlabelled_video_is_a_recorded_error() -> None:
    reply = ReferenceViewer({}).decide_sync(_persona(), Observation(turn=0, video_id="nope"))
    assert reply.outcome == Outcome.ERROR
    assert "nope" in reply.error
    assert reply.decision is None


def test_rate_follows_target_and_flips_reversed_items() -> None:
    items = tuple(Item(id=f"{v}_1", value=v, text=f"It matters to be {v}.") for v in VALUE_IDS)
    items += (Item(id="benevolence_r", value="benevolence", text="Others are not my business.", reversed=True),)
    inst = Instrument(id="t", licence="test", scale_min=1, scale_max=6, items=items)
    viewer = ReferenceViewer({}, seed=1)

    async def ratings() -> dict[str, int | None]:
        return {i.id: (await viewer.rate(_persona(), inst, i)).rating for i in items}

    r = asyncio.run(ratings())
    assert r["benevolence_1"] == 6
    assert r["power_1"] == 2
    assert r["benevolence_r"] == 1
    noisy = ReferenceViewer({}, seed=1, noise=0.5)
    a = [asyncio.run(noisy.rate(_persona(), inst, i)).rating for i in items]
    b = [asyncio.run(noisy.rate(_persona(), inst, i)).rating for i in items]
    assert a == b
    assert all(x is not None and 1 <= x <= 6 for x in a)


def test_make_viewer_and_describe() -> None:
    viewer = make_viewer("reference", labels=_labels(3), beta=2.0, seed=4)
    assert isinstance(viewer, ReferenceViewer)
    d = viewer.describe()
    assert d["beta"] == 2.0
    assert d["seed"] == 4
    assert d["labelled_videos"] == 3
