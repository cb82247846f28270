"""What a batch did: counts, outcomes, tokens, cost, time. The CLI prints it; ``--json`` emits
:meth:`RunSummary.to_dict`."""

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
    """Provider retries reported (None: not reported by any step)."""

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
    elapsed_s: float = 0.0
    """Wall time of this invocation."""
    stopped: str | None = None
    """Why the batch stopped early: ``budget`` or ``interrupt``; None when it ran to the end."""
    repairs: int = 0
    """Repair requests sent after unreadable replies, over every finished session."""
    repaired: int = 0
    """Decisions taken from a repair turn's reply (the first reply is kept in the step)."""
    retries: int | None = None
    """Provider retries the model clients reported (None: none reported them)."""

    def add_trajectories(self, trajectories: Iterable[Trajectory]) -> None:
        """Fill the run-wide totals from the finished sessions."""
        outcomes = {o.value: 0 for o in Outcome}
        statuses: dict[str, int] = {}
        n = decisions = pt = ct = 0
        cost = 0.0
        counts = ReplyCounts()
        for t in trajectories:
            counts.add(t)
            n += 1
            statuses[t.status] = statuses.get(t.status, 0) + 1
            for k, v in t.outcome_counts().items():
                outcomes[k] += v
            decisions += len(t.steps)
            pt += t.usage.prompt_tokens
            ct += t.usage.completion_tokens
            cost += t.usage.cost_usd
        self.sessions_finished = n
        self.status_counts = statuses
        self.outcomes = outcomes
        self.decisions = decisions
        self.prompt_tokens, self.completion_tokens = pt, ct
        self.cost_usd = round(cost, 8)
        self.repairs, self.repaired, self.retries = counts.repairs, counts.repaired, counts.retries
        chosen = outcomes["like"] + outcomes["skip"]
        self.like_rate = outcomes["like"] / chosen if chosen else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)
