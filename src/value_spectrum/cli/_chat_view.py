"""What the chat prints: search cards, a thread's history, the values and questionnaire panels,
a streamed reply and a feed's reactions. Every text from a model, a title or a query is escaped,
never read as rich markup."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from value_spectrum.cli._console import console, err_console

if TYPE_CHECKING:
    from value_spectrum.graphs.chat_session import ChatSession
    from value_spectrum.personas.model import Persona
    from value_spectrum.retrieval.corpus import Corpus


def cards(cards: list[dict[str, Any]], title: str) -> None:
    from rich.table import Table

    table = Table(title=escape(title), title_justify="left", show_lines=False)
    table.add_column("id", style="cyan", no_wrap=True)
    table.add_column("platform")
    table.add_column("title")
    table.add_column("score", justify="right")
    for c in cards:
        table.add_row(escape(str(c.get("id"))), escape(str(c.get("platform", ""))), escape(str(c.get("title", ""))),
                      f"{float(c.get('score', 0.0)):.2f}")
    console.print(table)


def show_history(state: dict[str, Any], persona: Persona) -> None:
    messages = state.get("messages", [])
    decisions = state.get("decisions", [])
    if not messages and not decisions:
        return
    console.rule(f"earlier in this thread ({len(messages)} messages, {len(decisions)} feed reactions)")
    for m in messages:
        role, content = m.get("role"), m.get("content")
        if role == "user":
            console.print(f"[bold green]you>[/] {escape(str(content))}", highlight=False)
        elif role == "assistant" and content:
            console.print(f"[bold magenta]{escape(persona.name)}>[/] {escape(str(content))}", highlight=False)
        elif role == "assistant" and m.get("tool_calls"):
            for call in m["tool_calls"]:
                console.print(f"[dim]  (searched: {escape(str(call['function'].get('arguments')))})[/]")
    for d in decisions:
        console.print(f"[dim]  feed #{d['turn'] + 1}: {d['outcome']} {escape(str(d.get('title', d['video_id'])))}[/]",
                      highlight=False)
    console.rule()


def values_panel(session: ChatSession, decisions: list[dict[str, Any]], corpus: Corpus) -> None:
    from rich.table import Table

    from value_spectrum.records import Step, Trajectory
    from value_spectrum.scoring.alignment import align
    from value_spectrum.scoring.revealed import decision_table, revealed_profile
    from value_spectrum.scoring.rundir import LabelledVideo
    from value_spectrum.values import VALUE_IDS

    labels = {
        v.id: LabelledVideo(id=v.id, values=v.values, primary_value=v.primary_value, title=v.title)
        for v in corpus
    }
    steps = tuple(Step.model_validate({k: d[k] for k in Step.model_fields if k in d}) for d in decisions)

    def revealed(upto: int) -> Any:
        traj = Trajectory(session_id=session.thread, persona_id=session.persona.id,
                          model="chat", steps=steps[:upto])
        return revealed_profile(decision_table([traj], labels), min_decisions=6)

    now = revealed(len(steps))
    target = session.persona.target
    table = Table(title=f"values of {session.persona.name} after {len(steps)} feed reactions",
                  title_justify="left")
    table.add_column("value")
    table.add_column("target", justify="right")
    table.add_column("revealed (centred)", justify="right")
    table.add_column("like rate", justify="right")
    rates = now.like_rate
    counts = now.like_counts
    for v in VALUE_IDS:
        rev = "—" if now.profile is None else f"{now.profile[v]:+.2f}"
        k, n = counts.get(v, (0, 0))
        rate = "—" if rates.get(v) is None else f"{rates[v]:.0f}% ({k}/{n})"
        table.add_row(v, f"{target[v]:.2f}", rev, rate)
    console.print(table)
    if now.profile is None:
        console.print(f"[yellow]revealed profile: cannot score yet ({now.reason}); try /feed 10[/]")
        return
    a_now = align(now.profile, target)
    line = f"alignment with target (Spearman): {a_now.spearman:+.2f}; top-3 overlap {a_now.top3_overlap}/3"
    half = len(steps) // 2
    earlier = revealed(half) if half >= 6 else None
    if earlier is not None and earlier.profile is not None:
        a_then = align(earlier.profile, target)
        line += f"; drift since turn {half}: {a_now.spearman - a_then.spearman:+.2f}"
    console.print(line, highlight=False)


def probe_panel(probe: Any) -> None:
    from rich.table import Table

    from value_spectrum.agents.probing import probe_coverage
    from value_spectrum.scoring.questionnaire import score_probe

    stated = score_probe(probe)
    coverage = probe_coverage([probe])
    answered = coverage.answered
    table = Table(title=f"questionnaire: {answered}/{len(probe.answers)} items answered",
                  title_justify="left")
    table.add_column("value")
    table.add_column("stated (centred)", justify="right")
    profile = stated.centred
    for v, x in (profile.as_dict().items() if profile is not None else []):
        table.add_row(v, f"{x:+.2f}")
    if coverage.sample_reply is not None:
        err_console.print(f"questionnaire: {coverage.describe()}", style="yellow", markup=False,
                          highlight=False, soft_wrap=True)
    if profile is None:
        console.print(f"[yellow]questionnaire: {answered}/{len(probe.answers)} items answered; "
                      f"cannot score the answers: {escape(stated.reason or 'no readable answer')}[/]")
        return
    console.print(table)


async def say(session: ChatSession, text: str) -> None:
    name = session.persona.name
    started = False
    async for event in session.send(text):
        if "delta" in event:
            if not started:
                console.print(f"[bold magenta]{name}>[/] ", end="")
                started = True
            sys.stdout.write(event["delta"])
            sys.stdout.flush()
        elif "cards" in event:
            if started:
                sys.stdout.write("\n")
                started = False
            cards(event["cards"], f"search: {event['search']}")
        elif "error" in event:
            if started:
                sys.stdout.write("\n")
                sys.stdout.flush()
                started = False
            line = " ".join(str(event["error"]).split())[:300]
            err_console.print(f"[red]no reply (not kept):[/] {escape(line)}", highlight=False, soft_wrap=True)
    if started:
        sys.stdout.write("\n")


async def feed(session: ChatSession, n: int, modality: str | None = None) -> None:
    async for r in session.feed(n, modality):  # type: ignore[arg-type]
        step = r.step
        mark = {"like": "[green]♥ like[/]", "skip": "[dim]· skip[/]"}.get(step.outcome.value,
                                                                       f"[red]{step.outcome.value}[/]")
        reason = step.decision.reason if step.decision else step.error
        console.print(f"#{step.turn + 1} {mark} [bold]{escape(r.video.title)}[/] [dim]({r.video.platform})[/]",
                      highlight=False)
        if reason:
            console.print(f"    [italic]{escape(reason)}[/]", highlight=False)
    problem = getattr(getattr(session.viewer(), "model", None), "modality_problem", None)
    if problem and (modality or session.modality) == "frames":
        err_console.print(f"[red]feed stopped:[/] {escape(str(problem))}; in chat: /feed {n} caption", highlight=False, soft_wrap=True)
