"""What a run did: counts, outcomes, errors, tokens, cost, time. The CLI prints it; ``--json``
emits :meth:`RunSummary.to_dict`. It is aggregated as sessions end (:meth:`RunSummary.add`), so
memory does not grow with the run."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from value_spectrum.records import Outcome, Trajectory


@dataclass
class ReplyCounts:
    """Repairs and retries over trajectories, counted from their steps."""

    repairs: int = 0
    """Repair requests sent."""
    repaired: int = 0
    """Decisions taken from a repair turn's reply."""
    retries: int | None = None
    """Requests re-sent (:attr:`~value_spectrum.records.Usage.retries`; None: not reported by any step)."""

    def add(self, trajectory: Trajectory) -> None:
        """Count one trajectory's steps."""
        for s in trajectory.steps:
            self.repairs += s.usage.repairs or 0
            self.repaired += int(s.repaired)
            if s.usage.retries is not None:
                self.retries = (self.retries or 0) + s.usage.retries


@dataclass
class RunSummary:
    """The result of one invocation of a batch, over the whole run directory."""

    run_dir: str
    """The run directory."""
    run_id: str
    """Its name."""
    sessions_planned: int = 0
    """Sessions in the plan."""
    sessions_finished: int = 0
    """Sessions with a record in the run directory after this invocation."""
    sessions_run: int = 0
    """Sessions finished by this invocation."""
    sessions_skipped: int = 0
    """Sessions already finished before (not redone)."""
    sessions_resumed: int = 0
    """Sessions this invocation continued from a checkpoint."""
    sessions_retried: int = 0
    """Sessions that had ended in error and were continued from their last good turn."""
    sessions_pending: int = 0
    """Sessions left unfinished (budget or interrupt): the next invocation continues them."""
    sessions_failed: list[str] = field(default_factory=list)
    """``session_id: why`` for sessions that crashed outside the viewer (a bug; logged)."""
    corrupt: list[str] = field(default_factory=list)
    """Corrupt records found and redone."""
    status_counts: dict[str, int] = field(default_factory=dict)
    """Finished sessions by status (finished, error)."""
    decisions: int = 0
    """Steps over every finished session."""
    outcomes: dict[str, int] = field(default_factory=dict)
    """Outcome -> count over every finished session."""
    like_rate: float | None = None
    """Likes / (likes + skips); None when there were no decisions."""
    prompt_tokens: int = 0
    """Over every finished session."""
    completion_tokens: int = 0
    """Over every finished session."""
    cost_usd: float = 0.0
    """Over every finished session."""
    cost_usd_this_run: float = 0.0
    """Spent by this invocation (budgeted by --max-cost), finished sessions or not."""
    decisions_this_run: int = 0
    """Steps recorded by this invocation."""
    _cost: float = field(default=0.0, repr=False)
    elapsed_s: float = 0.0
    """Wall time of this invocation."""
    stopped: str | None = None
    """Why the batch stopped early: ``budget`` or ``interrupt``; None when it ran to the end."""
    repairs: int = 0
    """Repair requests sent after unreadable replies, over every finished session."""
    repaired: int = 0
    """Decisions taken from a repair turn's reply (the first reply is kept in the step)."""
    retries: int | None = None
    """Requests re-sent by the model clients and the gateway, over every finished session
    (:attr:`~value_spectrum.records.Usage.retries`; None: none reported them)."""
    sessions_error: int = 0
    """Ended sessions whose status is ``error`` (too many failed turns in a row)."""
    error_decisions: int = 0
    """Decisions with outcome ``error`` over every ended session."""
    first_error: str = ""
    """The first error text met (a session's ``error``, else a decision's), for the summary line."""
    warnings: list[str] = field(default_factory=list)
    """Warnings of the checks before the run (e.g. a model ``max_cost`` cannot stop)."""

    @property
    def failed(self) -> bool:
        """True when any session ended in error, any decision is an ``error`` outcome, or a
        session crashed: the command exits 1."""
        return bool(self.sessions_error or self.error_decisions or self.sessions_failed)

    def add(self, t: Trajectory) -> None:
        """Count one ended session (then the trajectory can be dropped)."""
        if not self.outcomes:
            self.outcomes = {o.value: 0 for o in Outcome}
        self.sessions_finished += 1
        self.status_counts[t.status] = self.status_counts.get(t.status, 0) + 1
        counts = ReplyCounts(self.repairs, self.repaired, self.retries)
        counts.add(t)
        self.repairs, self.repaired, self.retries = counts.repairs, counts.repaired, counts.retries
        errors = 0
        first_step_error = ""
        for s in t.steps:
            self.outcomes[s.outcome.value] += 1
            if s.outcome is Outcome.ERROR:
                errors += 1
                first_step_error = first_step_error or s.error
        self.decisions += len(t.steps)
        self.error_decisions += errors
        self.prompt_tokens += t.usage.prompt_tokens
        self.completion_tokens += t.usage.completion_tokens
        self._cost += t.usage.cost_usd
        self.cost_usd = round(self._cost, 8)
        if t.status == "error":
            self.sessions_error += 1
        if not self.first_error:
            if t.status == "error" and t.error:
                self.first_error = f"{t.session_id}: {t.error}"
            elif first_step_error:
                self.first_error = f"{t.session_id}: {first_step_error}"

    def finish(self) -> None:
        """Fill the derived figures (like rate; the first crash as first error)."""
        if not self.outcomes:
            self.outcomes = {o.value: 0 for o in Outcome}
        chosen = self.outcomes["like"] + self.outcomes["skip"]
        self.like_rate = self.outcomes["like"] / chosen if chosen else None
        if not self.first_error and self.sessions_failed:
            self.first_error = self.sessions_failed[0]

    def add_trajectories(self, trajectories: Iterable[Trajectory]) -> None:
        """:meth:`add` each, then :meth:`finish`."""
        for t in trajectories:
            self.add(t)
        self.finish()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (with ``failed``)."""
        out = asdict(self)
        out.pop("_cost", None)
        out["failed"] = self.failed
        return out
