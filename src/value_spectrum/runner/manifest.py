"""The run manifest: config, versions, git revision, models, embedder, corpus, seeds, prompts."""

from __future__ import annotations

import secrets
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from value_spectrum.records import RunManifest
from value_spectrum.runner.config import RunConfig
from value_spectrum.runner.plan import Plan

PACKAGES: tuple[str, ...] = (
    "value-spectrum", "langgraph", "langgraph-checkpoint-sqlite", "litellm", "pydantic",
    "numpy", "open-clip-torch", "torch", "chromadb", "sentence-transformers",
)
"""Distributions whose versions every manifest records."""


def package_versions() -> dict[str, str]:
    """Installed versions of :data:`PACKAGES` (missing ones are left out)."""
    out: dict[str, str] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def git_revision(where: Path | None = None) -> str | None:
    """``git rev-parse HEAD`` of the source tree (with ``+dirty`` when it has changes), or None."""
    cwd = where or Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev or None


def prompt_template_hash(strategy: str, viewer_options: dict[str, Any] | None = None) -> str:
    """The strategy's template hash from ``personas.prompts`` ('' when unavailable), with the
    leave and dwell clauses when the run's viewer options ask for them."""
    try:
        from value_spectrum.personas.prompts import template_hash
    except ImportError:
        return ""
    try:
        opts = viewer_options or {}
        return template_hash(strategy, leave=bool(opts.get("leave")), dwell=bool(opts.get("dwell")))
    except ValueError:
        return ""


def run_name(config: RunConfig) -> str:
    """A deterministic name from a simulate run's identity: the same command gives the same
    directory, so re-running it continues (``Plan.run_name``)."""
    return Plan(config=config).run_name()


def build_manifest(
    plan: Plan,
    *,
    run_id: str,
    persona_ids: tuple[str, ...],
    corpus: dict[str, Any],
    embedder: dict[str, Any],
    seeds: tuple[int, ...],
    created: str | None = None,
    thread_ns: str | None = None,
) -> RunManifest:
    """The manifest of a new run (``config``: the plan's :meth:`~Plan.manifest_config`;
    ``thread_ns``: the namespace of its checkpoint threads, default a new random one)."""
    config = plan.config
    return RunManifest(
        run_id=run_id,
        created=created or datetime.now(UTC).isoformat(timespec="seconds"),
        config=plan.manifest_config(),
        package_versions=package_versions(),
        git_revision=git_revision(),
        models=config.models,
        personas=persona_ids,
        embedder=embedder,
        corpus=corpus,
        seeds=(config.seed, *seeds),
        prompt_strategy=config.strategy,
        prompt_template_hash=prompt_template_hash(config.strategy, config.viewer_options),
        thread_ns=secrets.token_hex(8) if thread_ns is None else thread_ns,
    )
