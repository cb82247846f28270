"""`value-spectrum chat`: talk to a persona played by a model, let it browse, watch its values.

A thin terminal loop over :class:`value_spectrum.graphs.chat_session.ChatSession`. Heavy
imports happen inside :func:`chat`, so ``value-spectrum --help`` stays cheap.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from value_spectrum.cli._console import console, err_console, fail

if TYPE_CHECKING:
    from value_spectrum.graphs.chat_session import ChatSession
    from value_spectrum.personas.model import Persona
    from value_spectrum.retrieval.corpus import Corpus

HELP = """[bold]Commands[/]
  /feed N        browse N videos (default 5, at most 200); the persona likes or skips each, with a reason
  /search QUERY  search the video collection
  /values        the running revealed value profile beside the persona's target
  /probe         ask the persona the questionnaire now
  /persona ID    switch persona (starts a new thread)
  /model M       switch model (same thread), e.g. /model openai/gpt-4o or /model reference
  /save FILE     write the transcript and decisions as JSON
  /help          this list
  /quit          leave (Ctrl-D works too; Ctrl-C cancels a reply in progress)
Anything else is said to the persona."""


def _credentials_problem(model: str, api_base: str | None) -> str | None:
    """One line saying how to point at a model, or None when the model looks reachable."""
    if model == "reference":
        return None
    from value_spectrum.agents.gateway import credentials_problem

    return credentials_problem(model, api_base)


class _Chat:
    """State of the terminal front end: which persona, model and thread, and the services."""

    def __init__(self, *, model: str, api_base: str | None, db: Path, corpus: Corpus,
                 use_search: bool, embedder: str, temperature: float) -> None:
        self.model_name = model
        self.api_base = api_base
        self.db = db
        self.corpus = corpus
        self.use_search = use_search
        self.embedder = embedder
        self.temperature = temperature
        self._search: Any = None
        self.labels = {v.id: v.values for v in corpus if v.values is not None}

    # ---- services ----------------------------------------------------------------------
    def search(self, query: str, k: int = 5, platform: str | None = None) -> list[dict[str, Any]] | str:
        """The search tool, opening (and on first use building) the index lazily."""
        if self._search is None:
            from value_spectrum.retrieval.building import open_index
            from value_spectrum.retrieval.search import VideoSearch

            err_console.print("[dim]opening the video index (built on first use)...[/]")
            opened = open_index(self.corpus, self.embedder)
            self._search = VideoSearch(opened.index, opened.embedder, opened.corpus)
        result: list[dict[str, Any]] | str = self._search(query, k, platform)
        return result

    def chat_model(self) -> Any:
        """The talking model, or None for the reference viewer (which does not talk).

        Its client is built here, before the prompt, so that a Ctrl-C at the first reply never
        lands in the middle of importing the provider library."""
        if self.model_name == "reference":
            return None
        from value_spectrum.agents.gateway import Gateway

        gateway = Gateway(self.model_name, api_base=self.api_base)
        _ = gateway.router
        return gateway

    def viewer_factory(self, model: Any) -> Any:
        from value_spectrum.agents import LLMViewer, ReferenceViewer

        if model is None:
            return lambda: ReferenceViewer(self.labels, seed=0)
        return lambda: LLMViewer(model, strategy="simple", temperature=0.0)

    def session(self, persona: Persona, thread: str) -> ChatSession:
        from value_spectrum.graphs.chat_session import ChatSession

        model = self.chat_model()
        return ChatSession(
            persona, model, db_path=self.db, thread=thread,
            search=self.search if self.use_search else None, corpus=self.corpus,
            viewer_factory=self.viewer_factory(model),
        )


# ---- rendering ------------------------------------------------------------------------------
def _cards(cards: list[dict[str, Any]], title: str) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_lines=False)
    table.add_column("id", style="cyan", no_wrap=True)
    table.add_column("platform")
    table.add_column("title")
    table.add_column("score", justify="right")
    for c in cards:
        table.add_row(str(c.get("id")), str(c.get("platform", "")), str(c.get("title", "")),
                      f"{float(c.get('score', 0.0)):.2f}")
    console.print(table)


def _show_history(state: dict[str, Any], persona: Persona) -> None:
    messages = state.get("messages", [])
    decisions = state.get("decisions", [])
    if not messages and not decisions:
        return
    console.rule(f"earlier in this thread ({len(messages)} messages, {len(decisions)} feed reactions)")
    for m in messages:
        role, content = m.get("role"), m.get("content")
        if role == "user":
            console.print(f"[bold green]you>[/] {content}", highlight=False)
        elif role == "assistant" and content:
            console.print(f"[bold magenta]{persona.name}>[/] {content}", highlight=False)
        elif role == "assistant" and m.get("tool_calls"):
            for call in m["tool_calls"]:
                console.print(f"[dim]  (searched: {call['function'].get('arguments')})[/]")
    for d in decisions:
        console.print(f"[dim]  feed #{d['turn'] + 1}: {d['outcome']} {d.get('title', d['video_id'])}[/]",
                      highlight=False)
    console.rule()


def _values_panel(session: ChatSession, decisions: list[dict[str, Any]], corpus: Corpus) -> None:
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


def _probe_panel(probe: Any) -> None:
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


# ---- the loop -------------------------------------------------------------------------------
class _Runner:
    """Runs coroutines on one event loop; Ctrl-C cancels the one in progress, not the program."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def run(self, coro: Any) -> Any:
        task = self.loop.create_task(coro)
        try:
            return self.loop.run_until_complete(task)
        except KeyboardInterrupt:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                self.loop.run_until_complete(task)
            console.print("\n[yellow](cancelled)[/]")
            return None

    def close(self) -> None:
        self.loop.close()


async def _say(session: ChatSession, text: str) -> None:
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
            _cards(event["cards"], f"search: {event['search']}")
        elif "error" in event:
            if started:
                sys.stdout.write("\n")
                started = False
            err_console.print(f"[red]model error:[/] {event['error']}", highlight=False)
    if started:
        sys.stdout.write("\n")


async def _feed(session: ChatSession, n: int) -> None:
    async for r in session.feed(n):
        step = r.step
        mark = {"like": "[green]♥ like[/]", "skip": "[dim]· skip[/]"}.get(step.outcome.value,
                                                                       f"[red]{step.outcome.value}[/]")
        reason = step.decision.reason if step.decision else step.error
        console.print(f"#{step.turn + 1} {mark} [bold]{r.video.title}[/] [dim]({r.video.platform})[/]",
                      highlight=False)
        if reason:
            console.print(f"    [italic]{reason}[/]", highlight=False)


def chat(
    persona: Annotated[str, typer.Option("--persona", "-p", help="Persona id or YAML file.")] = "family_oriented",
    model: Annotated[str, typer.Option("--model", "-m", help="litellm model string, or 'reference' (offline; no talking).")] = "reference",
    api_base: Annotated[str | None, typer.Option("--api-base", help="OpenAI-compatible server URL (vLLM, llama.cpp, Ollama).")] = None,
    thread: Annotated[str | None, typer.Option("--thread", "-t", help="Thread name; the same name resumes the conversation.")] = None,
    db: Annotated[Path | None, typer.Option("--db", help="SQLite file that keeps threads (default: in the user cache).")] = None,
    corpus: Annotated[str | None, typer.Option("--corpus", help="Corpus directory (default: the demo corpus).")] = None,
    embedder: Annotated[str, typer.Option("--embedder", help="Embedder for search: auto, clip, text or fake.")] = "auto",
    no_search: Annotated[bool, typer.Option("--no-search", help="Do not give the persona the search tool.")] = False,
    temperature: Annotated[float, typer.Option("--temperature", help="Sampling temperature of chat replies.")] = 0.7,
) -> None:
    """Chat with a persona played by a model; /help lists the commands."""
    import logging

    from value_spectrum.personas import PersonaError, get_persona
    from value_spectrum.retrieval.cache import cache_dir
    from value_spectrum.retrieval.corpus import CorpusError, load_corpus

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("LiteLLM", "litellm", "httpx"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    try:
        who = get_persona(persona)
        corp = load_corpus(corpus)
    except (PersonaError, CorpusError, KeyError) as exc:
        fail(str(exc).strip("'\""))
    problem = _credentials_problem(model, api_base)
    if problem:
        err_console.print(f"[yellow]{problem}[/]", highlight=False)
        err_console.print("[yellow]continuing with the reference viewer: /feed, /values and /probe work offline.[/]")
        model = "reference"
    db_path = db or cache_dir() / "chat" / "threads.sqlite"
    front = _Chat(model=model, api_base=api_base, db=db_path,
                  corpus=corp, use_search=not no_search, embedder=embedder, temperature=temperature)
    name = thread or f"{who.id}-{os.getpid()}"
    runner = _Runner()
    session = front.session(who, name)
    try:
        runner.run(session.open())
        other = runner.run(session.check_persona())
    except (OSError, sqlite3.Error) as exc:
        with contextlib.suppress(Exception):
            runner.run(session.close())
        runner.close()
        fail(f"{db_path}: cannot open the thread database ({getattr(exc, 'strerror', None) or exc})")
    try:
        if other:
            fail(f"thread {name!r} belongs to persona {other!r}; use --persona {other} or another --thread")
        console.print(f"[bold]{who.name}[/] ({who.id}) · model [cyan]{model}[/] · thread [cyan]{name}[/]"
                      f"  [dim](/help for commands; resume with --thread {name})[/]", highlight=False)
        _show_history(runner.run(session.state()) or {}, who)
        session = _loop(runner, front, session)
    finally:
        runner.run(session.close())
        runner.close()


def _loop(runner: _Runner, front: _Chat, session: ChatSession) -> ChatSession:
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401  (line editing and history for input())
    while True:
        try:
            line = input("you> ").strip()
        except EOFError:
            console.print()
            return session
        except KeyboardInterrupt:
            console.print()
            continue
        if not line:
            continue
        if not line.startswith("/"):
            if session.model is None:
                console.print("[yellow]the reference viewer does not talk; /model openai/NAME (with "
                              "--api-base or an API key) picks a model. /feed, /values, /probe work.[/]")
                continue
            try:
                runner.run(_say(session, line))
            except Exception as exc:  # one line, and the chat goes on
                err_console.print(f"[red]error:[/] {type(exc).__name__}: {exc}", highlight=False)
            continue
        cmd, _, arg = line.partition(" ")
        arg = arg.strip()
        try:
            result = _command(runner, front, session, cmd.lower(), arg)
        except Exception as exc:  # one line, and the chat goes on
            err_console.print(f"[red]{cmd}:[/] {exc}", highlight=False)
            continue
        if result is None:
            return session
        session = result


def _command(runner: _Runner, front: _Chat, session: ChatSession, cmd: str, arg: str) -> ChatSession | None:
    """Run one slash command; returns the (possibly new) session, or None to quit."""
    if cmd in {"/quit", "/exit", "/q"}:
        return None
    if cmd == "/help":
        console.print(HELP)
    elif cmd == "/feed":
        try:
            n = int(arg or "5")
        except ValueError:
            raise ValueError(f"N must be a whole number, got {arg!r}") from None
        if not 1 <= n <= 200:
            raise ValueError(f"N must be between 1 and 200, got {n}")
        runner.run(_feed(session, n))
    elif cmd == "/search":
        if not arg:
            raise ValueError("usage: /search QUERY")
        result = front.search(arg)
        if isinstance(result, str):
            console.print(result, highlight=False)
        else:
            _cards(result, f"search: {arg}")
    elif cmd == "/values":
        state = runner.run(session.state()) or {}
        _values_panel(session, list(state.get("decisions", [])), front.corpus)
    elif cmd == "/probe":
        from value_spectrum.personas import load_instrument

        probe = runner.run(session.probe(load_instrument(None)))
        if probe is not None:
            _probe_panel(probe)
    elif cmd == "/persona":
        from value_spectrum.personas import get_persona

        if not arg:
            raise ValueError("usage: /persona ID")
        who = get_persona(arg)
        runner.run(session.close())
        new = front.session(who, f"{who.id}-{os.getpid()}")
        runner.run(new.open())
        console.print(f"now chatting with [bold]{who.name}[/] ({who.id}) · new thread [cyan]{new.thread}[/]",
                      highlight=False)
        return new
    elif cmd == "/model":
        if not arg:
            raise ValueError("usage: /model MODEL (a litellm model string, or 'reference')")
        problem = _credentials_problem(arg, front.api_base)
        if problem:
            raise ValueError(problem)
        front.model_name = arg
        model = front.chat_model()
        session.set_model(model, front.viewer_factory(model))
        console.print(f"model is now [cyan]{arg}[/]", highlight=False)
    elif cmd == "/save":
        if not arg:
            raise ValueError("usage: /save FILE")
        path = runner.run(session.save(Path(arg).expanduser()))
        if path is not None:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            console.print(f"saved {len(data['messages'])} messages and {len(data['decisions'])} "
                          f"decisions to {path}", highlight=False)
    else:
        raise ValueError(f"unknown command {cmd!r}; /help lists them")
    return session
