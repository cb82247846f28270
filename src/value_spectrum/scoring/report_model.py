"""The report's records: every number a report shows, as frozen pydantic models.

:func:`value_spectrum.scoring.report.build_report` fills them; ``Report.model_dump(mode="json")``
is what ``value-spectrum report --json`` prints. A metric that cannot be computed is ``None``
with a ``*_reason`` field, never a zero.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from value_spectrum.scoring.alignment import STEER_WINDOW
from value_spectrum.scoring.consistency import DRIFT_ALPHA, DRIFT_THRESHOLD, N_PERM
from value_spectrum.scoring.revealed import DEFAULT_CIRCLE_PRIOR, DEFAULT_L2, MIN_DECISIONS
from value_spectrum.scoring.session_length import SessionLength
from value_spectrum.scoring.usage import UsageRow


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ScoringOptions(_Model):
    """How the report was computed (recorded in it)."""

    window: int | None = None
    """Turns per consistency window; None picks one per group with
    :func:`~value_spectrum.scoring.consistency.auto_window` (about three windows a session)."""
    drift_threshold: float = DRIFT_THRESHOLD
    """Alignment below which a window counts as drifted."""
    steer_window: int = STEER_WINDOW
    """Decisions at each end for steerability."""
    min_decisions: int = MIN_DECISIONS
    """Fewest decisions a profile is fitted on."""
    l2: float = DEFAULT_L2
    """Ridge strength of the smoothed estimate (0: none); never used for the intervals."""
    circle_prior: float = DEFAULT_CIRCLE_PRIOR
    """Strength of the value-circle smoothness prior of the smoothed estimate (0: none)."""
    ci: str = "wald"
    """How the weights' intervals are computed: 'wald' (Firth fit's information; calibrated)
    or 'bootstrap' (sessions, or blocks of decisions with fewer than ten sessions)."""
    n_boot: int = 200
    """Draws for the alignment interval, and resamples for ``ci='bootstrap'`` (0: none)."""
    n_perm: int = N_PERM
    """Permutations of the drift and steerability tests (0: not tested)."""
    alpha: float = DRIFT_ALPHA
    """Level of the drift test."""
    seed: int = 0
    """The run's scoring seed; each group's is derived from it and the group's names."""


class SessionSummary(_Model):
    """One session, scored on its own."""

    session_id: str
    """The session."""
    status: str
    """How it ended."""
    n_decisions: int
    """Labelled like/skip decisions."""
    outcomes: dict[str, int]
    """Outcome -> count."""
    revealed: dict[str, float] | None
    """Centred decomposition weights, or None."""
    revealed_reason: str
    """Why ``revealed`` is None."""
    alignment: float | None
    """Spearman with the target."""
    steerability_pp: float | None
    """Like-ratio change, percentage points, first to last window."""
    steerability_window: int
    """Decisions per end."""
    steerability_reason: str
    """Why it is None."""


class GroupReport(_Model):
    """One persona x model, its sessions pooled."""

    persona_id: str
    """The persona."""
    persona_name: str
    """Its display name."""
    model: str
    """The model string."""
    strategies: list[str]
    """Prompt strategies among the sessions."""
    modalities: list[str]
    """Modalities among the sessions."""
    n_sessions: int
    """Sessions pooled."""
    n_decisions: int
    """Labelled like/skip decisions."""
    unlabelled: int
    """Like/skip decisions on videos without labels (not scored)."""
    outcomes: dict[str, int]
    """Outcome -> count, every outcome present (like, skip, unparseable, refused, error)."""
    like_rate_overall: float | None
    """% likes over all decisions."""
    like_rate: dict[str, float | None]
    """Value id -> % likes among decisions on videos of that primary value (the paper's score)."""
    like_rate_overall_ci: list[float] | None = None
    """95% Wilson interval of ``like_rate_overall`` (%)."""
    like_counts: dict[str, list[int]]
    """Value id -> [likes, decisions]."""
    like_rate_ci: dict[str, list[float] | None] = {}
    """Value id -> 95% Wilson interval of its like rate (%), None without decisions."""
    target: dict[str, float] | None
    """The persona's target profile (0-1), when known."""
    revealed: dict[str, float] | None
    """Value id -> MRAT-centred decomposition weight (logit units); None when it cannot be scored."""
    revealed_reason: str
    """Why ``revealed`` is None ('' otherwise)."""
    revealed_ci: dict[str, list[float | None]] | None
    """Value id -> [low, high] 95% Wald interval from the Firth-corrected fit."""
    revealed_se: dict[str, float] | None = None
    """Value id -> standard error of the centred weight."""
    ci_unit: str | None
    """How ``revealed_ci`` was computed: 'wald', or what the bootstrap resampled ('sessions',
    'blocks')."""
    revealed_smoothed: dict[str, float] | None = None
    """The estimate with the ridge / circle prior (``l2``, ``circle_prior``), shown beside the
    calibrated one; not used for the intervals."""
    alignment_smoothed: float | None = None
    """Spearman between ``revealed_smoothed`` and the target."""
    alignment: float | None
    """Spearman between centred revealed and target; None with ``alignment_reason``."""
    alignment_reason: str
    """Why ``alignment`` is None."""
    alignment_ci: list[float | None] | None
    """[low, high] bootstrap interval of ``alignment``."""
    alignment_boot: dict[str, Any] | None = None
    """The draws behind ``alignment_ci``: n_boot, n_ok (usable draws), unit ('normal': from the
    Wald covariance; 'sessions' or 'blocks': bootstrap resamples), the group's seed."""
    pearson: float | None
    """Pearson between centred revealed and target."""
    top3_overlap: int | None
    """Shared values among the two top-3 sets (0-3)."""
    circle_distance_deg: float | None
    """Angle between circular mean directions of revealed and target (0-180)."""
    recovery: float | None
    """Reference viewer only: Spearman between the recovered and the injected profile."""
    recovery_reason: str
    """Why ``recovery`` is None."""
    injected: dict[str, float] | None = None
    """Reference viewer only: the injected weights (beta x centred target, logit units)."""
    injected_params: dict[str, float] | None = None
    """Reference viewer only: its beta and bias as recorded in the sessions."""
    calibration: dict[str, Any] | None = None
    """Reference viewer only: slope of the revealed on the injected weights (1: recovered at
    their size), its 95% interval, reason."""
    steerability_pp: float | None
    """Mean over sessions of the like-ratio change (percentage points), first to last window."""
    steerability_rel_pct: float | None
    """Mean over sessions of the relative like-ratio change (%): the paper's I_avg."""
    steerability_p: float | None = None
    """Permutation p-value of ``steerability_pp`` (decisions shuffled within sessions)."""
    steerability_null_sd_pp: float | None = None
    """Spread (SD, pp) of ``steerability_pp`` with nothing planted."""
    consistency: dict[str, Any]
    """Windows (start, end, n, like_rate with its Wilson like_rate_ci, alignment), stability, decision-weighted drift slope
    per 100 turns with its permutation test (drift_verdict, drift_p, drift_z, drift_change,
    drift_n_perm, drift_n_ok, drift_alpha, drift_reference), time to drift, threshold, reason.
    Sessions are pooled by turn."""
    stated: dict[str, Any] | None
    """Questionnaire probes: per probe centred profile, reason (refusals name item and value)
    and flags (straight-lining, missingness); stability across probes; Cronbach's alpha per
    value over probes; test-retest ICC(2,1) within sessions (mean) and across sessions; the mean
    stated profile, its alignment and the stated-vs-revealed gap. None without probes."""
    sessions: list[SessionSummary]
    """Each session scored alone."""
    session_length: SessionLength | None = None
    """Turns per session, sessions that ended ``left``, and dwell where recorded
    (:mod:`value_spectrum.scoring.session_length`)."""


class Example(_Model):
    """One decision shown in the HTML report."""

    session_id: str
    """Session."""
    persona_id: str
    """Persona."""
    model: str
    """Model."""
    turn: int
    """Turn."""
    video_id: str
    """Video."""
    title: str
    """Its title."""
    primary_value: str | None
    """Its primary value."""
    outcome: str
    """like | skip | unparseable | refused | error."""
    reason: str
    """The model's reason, or the error, or the raw reply."""
    keyframe: str | None
    """Absolute path of its first keyframe, when known."""


class PreferenceReport(_Model):
    """The paper's preference benchmark for one model."""

    model: str
    """The model."""
    scores: dict[str, float | None]
    """Value id -> % yes among yes + no."""
    scores_ci: dict[str, list[float] | None] = {}
    """Value id -> 95% Wilson interval of its score (%), None without answers."""
    pct_of_all: dict[str, float | None]
    """Value id -> % yes among all items (abstains as not-yes)."""
    pct_of_all_ci: dict[str, list[float] | None] = {}
    """Value id -> 95% Wilson interval of ``pct_of_all`` (%)."""
    yes: dict[str, int]
    """Likes per value."""
    no: dict[str, int]
    """Skips per value."""
    abstain: dict[str, int]
    """Refused + unparseable + error per value."""
    n: dict[str, int]
    """Items per value."""
    mean: float | None
    """Mean of the scores."""
    sd: float | None
    """Sample SD of the scores."""


class Summary(_Model):
    """Run-wide figures."""

    n_groups: int
    """Persona x model groups."""
    n_sessions: int
    """Sessions read."""
    n_decisions: int
    """Labelled like/skip decisions."""
    outcomes: dict[str, int]
    """Outcome -> count over the run."""
    median_alignment: float | None
    """Median alignment over the groups that could be scored."""
    median_recovery: float | None
    """Median recovery over reference-viewer groups."""
    median_calibration_slope: float | None = None
    """Median calibration slope (revealed on injected weights) over reference-viewer groups."""
    scored_groups: int
    """Groups with a revealed profile."""
    cannot_score_groups: int
    """Groups without one."""


class Report(_Model):
    """A whole report."""

    run_dir: str
    """Where it was read from."""
    run_id: str
    """The manifest's run id (the directory name when there is no manifest)."""
    created: str
    """When the run started."""
    kind: str
    """'feed' or 'preference'."""
    models: list[str]
    """Models in the run."""
    corpus: dict[str, Any]
    """Corpus provenance from the manifest."""
    labels_available: bool
    """Whether the run directory has video labels (without them nothing can be scored)."""
    options: ScoringOptions
    """How it was scored."""
    summary: Summary
    """Run-wide figures."""
    groups: list[GroupReport]
    """One per persona x model."""
    preference: list[PreferenceReport]
    """Per model, for a preference run."""
    reference: dict[str, dict[str, float]]
    """The paper's preference table (model -> value -> % yes), for a preference run."""
    citation: str
    """Where the reference numbers come from."""
    examples: list[Example]
    """Decisions to show in the HTML report."""
    circumplex: dict[str, Any] | None = None
    """Circle-fit r^2 of the revealed profiles (median) and across-group correlations of
    adjacent and opposite values."""
    problems: list[str]
    """Files that could not be read."""
    usage: list[UsageRow] = Field(default_factory=list)
    """Turns, tokens, images, retries, repairs and cost per model, then 'all'."""

    # ---- for Python callers (value_spectrum.score) -----------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Exactly what ``value-spectrum report RUN --json`` prints."""
        return self.model_dump(mode="json")

    def groups_frame(self) -> Any:
        """One row per persona x model: counts, like rate, alignment, recovery, steerability,
        and the revealed profile as ``revealed_<value>`` columns (a pandas DataFrame)."""
        import pandas as pd

        rows: list[dict[str, Any]] = []
        for g in self.groups:
            row: dict[str, Any] = {
                "persona_id": g.persona_id, "persona_name": g.persona_name, "model": g.model,
                "n_sessions": g.n_sessions, "n_decisions": g.n_decisions, "unlabelled": g.unlabelled,
                "like_rate": g.like_rate_overall, "alignment": g.alignment, "pearson": g.pearson,
                "recovery": g.recovery, "steerability_pp": g.steerability_pp,
                "revealed_reason": g.revealed_reason,
            }
            row |= {f"outcome_{k}": v for k, v in g.outcomes.items()}
            row |= {f"revealed_{k}": v for k, v in (g.revealed or {}).items()}
            rows.append(row)
        return pd.DataFrame(rows)

    def decisions_frame(self) -> Any:
        """One row per decision of the run (the ``export`` columns: each joined with the video's
        labels and the persona's target; a pandas DataFrame), read from the run directory."""
        import pandas as pd

        from value_spectrum.scoring.rundir import read_run
        from value_spectrum.scoring.tidy import DECISION_COLUMNS, decision_rows

        return pd.DataFrame(list(decision_rows(read_run(self.run_dir))), columns=list(DECISION_COLUMNS))
