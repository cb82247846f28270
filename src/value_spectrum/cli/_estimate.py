"""Printing a dry run's estimate (``--dry-run``) and the estimate beside what a run spent."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from value_spectrum.cli._console import console, err_console, fail, print_json

if TYPE_CHECKING:
    from value_spectrum.runner.estimate import Estimate
    from value_spectrum.runner.summary import RunSummary


def show_estimate(make: Callable[[], Estimate], *, as_json: bool, names: dict[str, str] | None = None) -> None:
    """``--dry-run``: print ``make()``'s estimate (JSON: ``Estimate.to_dict()``); a bad option is
    one line and exit 2 (``names``: field -> option, for the message)."""
    from pydantic import ValidationError

    from value_spectrum.cli._gateway_flags import error_line
    from value_spectrum.cli._running import one_line

    try:
        est = make()
    except ValidationError as exc:
        fail(error_line(exc, names or {}))
    except (ValueError, OSError, KeyError) as exc:
        fail(one_line(exc))
    if as_json:
        print_json(est.to_dict())
    else:
        print_estimate(est)


def estimate_quietly(make: Callable[[], Estimate]) -> Estimate | None:
    """The estimate shown beside a run's spending; None (logged) when it cannot be made: the run
    itself checks and reports the same problems."""
    try:
        return make()
    except Exception as exc:  # never stop a run for its estimate
        logging.getLogger(__name__).info("no estimate: %s", exc)
        return None


def _usd(x: float | None) -> str:
    return "no price" if x is None else f"${x:,.4f}"


def print_estimate(est: Estimate) -> None:
    """The estimate as a table per model, then the totals and the notes."""
    from rich import box
    from rich.table import Table

    t = Table(title="Dry run: nothing was called or written", box=box.SIMPLE_HEAD, pad_edge=False,
              collapse_padding=True)
    for col in ("model", "sessions", "calls", "cached", "tokens\nin", "images", "tokens\nout", "cost"):
        # no minimum widths: rich crops the last column when they do not fit (the cost showed as
        # "$" on an 80-column pipe); narrow terminals fold the cells instead
        t.add_column(col, justify="left" if col == "model" else "right", overflow="fold")
    for m in est.models:
        t.add_row(m.model, str(m.sessions), f"{m.calls:,}", f"{m.cached_calls:,}", f"{m.input_tokens:,}",
                  f"{m.images:,}", f"{m.output_tokens:,}", _usd(m.cost_usd))
    t.add_row("[bold]all[/]", str(est.sessions), f"{est.calls:,}", f"{est.cached_calls:,}", f"{est.input_tokens:,}",
              f"{sum(m.images for m in est.models):,}", f"{est.output_tokens:,}", f"[bold]{_usd(est.cost_usd)}[/]")
    console.print(t)
    console.print(f"total: {est.calls:,} calls ({est.cached_calls:,} from the response cache), "
                  f"{est.input_tokens:,} tokens in, {est.output_tokens:,} tokens out, "
                  f"[bold]{_usd(est.cost_usd)}[/]{' (priced models only)' if est.unpriced else ''}", highlight=False)
    if est.image_tokens:
        console.print(f"[dim]images: {est.image_tokens:,} of the tokens in[/]", highlight=False)
    for name in est.unpriced:
        err_console.print(f"[yellow]no price:[/] litellm's map has no price for {name}; its cost is not in the total",
                          highlight=False)
    for note in est.notes:
        err_console.print(f"[dim]{note}[/]", highlight=False)


def versus(est: Estimate, summary: RunSummary) -> dict[str, Any]:
    """Estimate and actual side by side (the run's finished sessions, all invocations)."""
    return {
        "estimated": {"input_tokens": est.input_tokens, "output_tokens": est.output_tokens,
                      "cost_usd": est.cost_usd, "calls": est.calls, "cached_calls": est.cached_calls,
                      "decisions": est.decisions},
        "actual": {"input_tokens": summary.prompt_tokens, "output_tokens": summary.completion_tokens,
                   "cost_usd": summary.cost_usd, "decisions": summary.decisions},
    }


def print_versus(est: Estimate, summary: RunSummary) -> None:
    """One line each for tokens and cost: estimated before the run, spent by it."""
    v = versus(est, summary)
    e, a = v["estimated"], v["actual"]
    err_console.print(
        f"[dim]estimate vs actual: decisions {e['decisions']:,} vs {a['decisions']:,}, "
        f"tokens in {e['input_tokens']:,} vs {a['input_tokens']:,}, tokens out "
        f"{e['output_tokens']:,} vs {a['output_tokens']:,}, cost {_usd(e['cost_usd'])} vs {_usd(a['cost_usd'])}"
        f"{' (unpriced: ' + ', '.join(est.unpriced) + ')' if est.unpriced else ''}[/]", highlight=False)
