"""`value-spectrum bench preference`: the paper's preference benchmark.

Items per value come from keyword retrieval over the corpus index, as the paper did (each value's
keywords retrieve their top 5 videos; an item retrieved by two values' keywords is asked for
both); when the index cannot be opened (or ``--items authored``), from the corpus's authored
primary values, with a note saying so. Each item is asked the paper's question (the ``plain``
strategy: like it? why? describe it) or, with ``--persona``, the persona's like/skip question.
The answers are written as a run directory (``report`` works on it) and scored as % yes per
value, abstains (refused, unparseable, error) kept apart, beside the paper's figures.

:func:`run_preference_benchmark` is the library function behind the command. Everything heavy
(agents, retrieval, litellm) is imported inside it, never at import of this module.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from value_spectrum.cli._console import console, err_console, fail, print_json
from value_spectrum.cli._gateway_flags import (
    FallbackOption,
    MaxParallelOption,
    RateLimitRetriesOption,
    ResponseFormatOption,
    RetriesOption,
    RpmOption,
    TimeoutOption,
    TpmOption,
    check_modality,
    check_modality_name,
    gateway_config,
)

if TYPE_CHECKING:
    from value_spectrum.records import Modality, Step, Video
    from value_spectrum.runner.config import GatewayConfig

log = logging.getLogger(__name__)

ItemSource = Literal["auto", "retrieval", "authored"]
DEFAULT_PER_VALUE = 50
"""Items per value (the paper's about 50)."""


def _slug(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_.-]+", "-", text).strip("-") or "model"


def select_items(
    corpus: Any,
    *,
    per_value: int,
    source: ItemSource = "auto",
    embedder: str = "auto",
    seed: int = 0,
) -> tuple[dict[str, list[Video]], str]:
    """Items per value, and how they were chosen (``keyword-retrieval`` or ``authored``).

    Keyword retrieval orders each value's retrieved videos by similarity; authored selection
    takes a seeded sample of the videos whose authored primary value it is.
    """
    from value_spectrum.values import VALUE_IDS

    if source in ("auto", "retrieval"):
        try:
            from value_spectrum.retrieval.building import open_index
            from value_spectrum.retrieval.labelling import keyword_retrieval, load_value_keywords

            opened = open_index(corpus, embedder)
            _, pairs = keyword_retrieval(opened.index, opened.embedder, load_value_keywords())
            best: dict[str, dict[str, float]] = {v: {} for v in VALUE_IDS}
            for value, _kw, vid, score in pairs:
                scores = best[value.value]
                scores[vid] = max(score, scores.get(vid, -1.0))
            items = {
                v: [corpus.get(i) for i, _ in sorted(s.items(), key=lambda kv: -kv[1])][:per_value]
                for v, s in best.items()
            }
            how = f"keyword-retrieval ({opened.embedder.describe().get('name', embedder)})"
            return items, how
        except Exception as exc:  # retrieval is optional: fall back, and say so
            if source == "retrieval":
                raise
            err_console.print(
                f"[yellow]note:[/] keyword retrieval unavailable ({str(exc).splitlines()[0][:160]}); "
                "using the corpus's authored primary values instead"
            )
    rng = random.Random(seed)
    items = {}
    for v in VALUE_IDS:
        pool = [video for video in corpus if video.primary_value == v]
        rng.shuffle(pool)
        items[v] = pool[:per_value]
    return items, "authored"


async def _ask_all(
    viewer: Any,
    persona: Any,
    items: Mapping[str, list[Video]],
    corpus: Any,
    modality: Modality,
    concurrency: int,
    need_frames: bool,
) -> dict[str, list[Step]]:
    from value_spectrum.records import Observation, Step

    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(turn: int, video: Video) -> Step:
        async with gate:
            frames: tuple[str, ...] = ()
            if need_frames and modality == "frames":
                frames = tuple(str(p) for p in corpus.keyframe_paths(video))
            obs = Observation.of(video, turn=turn, keyframes=frames, modality=modality)
            reply = await viewer.decide(persona, obs)
            return Step(
                turn=turn,
                video_id=video.id,
                outcome=reply.outcome,
                decision=reply.decision,
                raw=reply.raw,
                error=reply.error,
                usage=reply.usage,
            )

    out: dict[str, list[Step]] = {}
    for v, videos in items.items():
        out[v] = list(await asyncio.gather(*(one(t, video) for t, video in enumerate(videos))))
    return out


def run_preference_benchmark(
    model: str,
    *,
    out: Path,
    api_base: str | None = None,
    persona_id: str | None = None,
    per_value: int = DEFAULT_PER_VALUE,
    modality: Modality = "frames",
    corpus_spec: str | None = None,
    items: ItemSource = "auto",
    embedder: str = "auto",
    seed: int = 0,
    concurrency: int = 8,
    gateway: GatewayConfig | None = None,
) -> Path:
    """Ask every item, write the run directory ``out`` and return it.

    Sessions already in ``out`` from the same configuration are kept, not asked again.
    ``gateway`` (rate limits, retries, timeout, fallbacks of model calls) is recorded in the
    manifest but is not part of that configuration: another value continues the same run.

    Raises:
        ValueError: an unknown persona, or ``out`` holding a different run.
    """
    from value_spectrum.agents import make_viewer
    from value_spectrum.personas import get_persona
    from value_spectrum.records import RunManifest, Trajectory
    from value_spectrum.retrieval.corpus import load_corpus
    from value_spectrum.runlog import RunLog
    from value_spectrum.runner.manifest import git_revision, package_versions
    from value_spectrum.scoring.preference import BENCHMARK, VALUE_KEY

    persona = get_persona(persona_id) if persona_id else None
    corpus = load_corpus(corpus_spec)
    chosen, how = select_items(
        corpus, per_value=per_value, source=items, embedder=embedder, seed=seed
    )
    strategy = "plain" if persona is None else "simple"
    config = {
        "benchmark": BENCHMARK,
        "model": model,
        "api_base": api_base,
        "persona": persona_id,
        "per_value": per_value,
        "modality": modality,
        "corpus": corpus_spec or "demo",
        "items": how,
        "strategy": strategy,
        "seed": seed,
    }
    log = RunLog(out)
    if not log.exists():
        log.check_can_create()
    else:
        old = dict(log.read_manifest().config)
        old.pop("gateway", None)
        if old != config:
            diff = [k for k in config if old.get(k) != config[k]]
            raise ValueError(
                f"{out}: holds a different run (differs in {', '.join(diff)}); choose another --out"
            )
    labels = {v.id: v.values for v in corpus if v.values is not None}
    if model == "reference":
        viewer = make_viewer(model, labels=labels, seed=seed)
    else:
        viewer = make_viewer(
            model, strategy=strategy, modality=modality, api_base=api_base, seed=seed,
            **(gateway.options() if gateway is not None else {}),
        )
    slug = _slug(model)
    todo = {
        v: vids for v, vids in chosen.items() if not log.session_path(f"{v}-{slug}").is_file()
    }
    manifest = RunManifest(
        run_id=out.name,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        config={**config, "gateway": None if gateway is None else gateway.model_dump(mode="json")},
        package_versions=package_versions(),
        git_revision=git_revision(),
        models=(model,),
        personas=(persona_id or "plain",),
        corpus=corpus.describe(),
        seeds=(seed,),
        prompt_strategy=strategy,
    )
    if not log.exists():
        log.create(manifest)
    asked = [video for vids in chosen.values() for video in vids]
    keyframes = {}
    if model != "reference" and modality == "frames":
        keyframes = {video.id: [str(p) for p in corpus.keyframe_paths(video)] for video in asked}
    unique = {video.id: video for video in asked}
    log.write_labels(unique.values(), corpus=corpus.describe(), keyframes=keyframes)
    log.write_personas([] if persona is None else [persona])
    steps = asyncio.run(
        _ask_all(viewer, persona, todo, corpus, modality, concurrency, model != "reference")
    )
    for v, value_steps in steps.items():
        traj = Trajectory(
            session_id=f"{v}-{slug}",
            persona_id=persona_id or "plain",
            model=model,
            strategy=strategy,
            modality=modality,
            feed=BENCHMARK,
            seed=seed,
            steps=tuple(value_steps),
            extra={VALUE_KEY: v, "items": how},
        )
        log.write_session(traj)
    return out


def preference_json(report: Any, *, items: str = "") -> dict[str, Any]:
    """The ``--json`` object: ``scores`` (value -> % yes), ``scores_ci`` (value -> 95% Wilson
    interval, %), ``abstain``, ``n``, ``mean``, ``sd``, ``reference`` (the paper's table) and
    where it came from."""
    from value_spectrum.scoring.reference import CITATION, preference_reference

    p = report.preference[0]
    return {
        "model": p.model,
        "scores": p.scores,
        "scores_ci": p.scores_ci,
        "scores_ci_method": "wilson 95%",
        "abstain": p.abstain,
        "abstain_total": sum(p.abstain.values()),
        "yes": p.yes,
        "no": p.no,
        "n": p.n,
        "mean": p.mean,
        "sd": p.sd,
        "items": items,
        "run_dir": report.run_dir,
        "reference": preference_reference(),
        "citation": CITATION,
    }


def preference(
    model: Annotated[
        str, typer.Option("--model", "-m", help="Model string, or 'reference' (offline).")
    ] = "reference",
    api_base: Annotated[
        str | None, typer.Option("--api-base", help="OpenAI-compatible endpoint.")
    ] = None,
    persona: Annotated[
        str | None, typer.Option("--persona", "-p", help="Ask in character: a persona id or YAML file (default: no persona).")
    ] = None,
    per_value: Annotated[
        int, typer.Option("--per-value", min=1, help="Items per value.")
    ] = DEFAULT_PER_VALUE,
    modality: Annotated[
        str, typer.Option("--modality", help="What the model sees: frames | caption | title.")
    ] = "frames",
    corpus: Annotated[
        str | None, typer.Option("--corpus", help="Corpus directory (default: demo).")
    ] = None,
    items: Annotated[str, typer.Option("--items", help="How items are chosen: retrieval (each value's keywords search the index), authored (the cards' own primary values), or auto (retrieval when the index opens, else authored).")] = "auto",
    embedder: Annotated[
        str, typer.Option("--embedder", help="Embedder for keyword retrieval: auto | clip | text | fake.")
    ] = "auto",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Run directory to write (default runs/preference-<model>[-<persona>]-<hash of the options>).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the item choice and the viewer.")] = 0,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, help="Questions at once.")
    ] = 8,
    rpm: RpmOption = None,
    tpm: TpmOption = None,
    max_parallel: MaxParallelOption = None,
    timeout: TimeoutOption = None,
    retries: RetriesOption = None,
    rate_limit_retries: RateLimitRetriesOption = None,
    fallback: FallbackOption = None,
    response_format: ResponseFormatOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The paper's preference test: % of 'yes' per value, beside the paper's figures."""
    check_modality_name(modality)
    if items not in ("auto", "retrieval", "authored"):
        fail(f"--items: unknown item source {items!r}; choose auto, retrieval or authored")
    if embedder not in ("auto", "clip", "text", "fake"):
        fail(f"--embedder: unknown embedder {embedder!r}; choose auto, clip, text or fake")
    gateway = gateway_config(
        models=(model,), rpm=rpm, tpm=tpm, max_parallel=max_parallel, timeout=timeout, retries=retries,
        rate_limit_retries=rate_limit_retries, fallback=fallback, response_format=response_format,
    )
    check_modality((model,), api_base, modality, gateway)
    import hashlib

    key = hashlib.sha256(repr((per_value, modality, corpus, items, seed)).encode()).hexdigest()[:8]
    who = _slug(f"{model}-{Path(persona).stem}" if persona else model)
    target = out or Path("runs") / f"preference-{who}-{key}"
    try:
        run_dir = run_preference_benchmark(
            model,
            out=target,
            api_base=api_base,
            persona_id=persona,
            per_value=per_value,
            modality=modality,  # type: ignore[arg-type]
            corpus_spec=corpus,
            items=items,  # type: ignore[arg-type]
            embedder=embedder,
            seed=seed,
            concurrency=concurrency,
            gateway=gateway,
        )
    except (ValueError, KeyError) as exc:
        fail(str(exc).strip("'\""))
    from value_spectrum.scoring.report import ScoringOptions, build_report

    rep = build_report(run_dir, ScoringOptions(n_boot=0))
    scored = sum(sum(p.yes.values()) + sum(p.no.values()) for p in rep.preference)
    asked = sum(sum(p.n.values()) for p in rep.preference)
    if scored == 0:
        hint = "; a model that takes no images needs --modality caption" if modality == "frames" else ""
        fail(f"no item could be scored: {asked} of {asked} abstained (refused, unreadable or errors; "
             f"see {run_dir}){hint}", code=1)
    if as_json:
        from value_spectrum.runlog import RunLog

        how = str(RunLog(run_dir).read_manifest().config.get("items", ""))
        print_json(preference_json(rep, items=how))
        return
    from value_spectrum.scoring.tables import preference_table

    console.print(preference_table(rep.preference, rep.reference))
    console.print(f"[dim]{rep.citation}[/]")
    console.print(f"run directory: {run_dir}  (value-spectrum report {run_dir} --html report.html)")


def build() -> typer.Typer:
    """The `bench` command group."""
    app = typer.Typer(no_args_is_help=True)
    app.command("preference")(preference)
    return app
