"""`value-spectrum chat`: talk to a persona played by a model, let it browse, watch its values.

A thin terminal loop over :class:`value_spectrum.graphs.chat_session.ChatSession`. Heavy
imports happen inside :func:`chat`, so ``value-spectrum --help`` stays cheap, and for a new
thread the prompt comes first: LangGraph, the thread store and the model client load in a
background thread (:class:`_Loader`) while the user types, and the first line waits for them
with a visible "loading" note when they are not ready yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from value_spectrum.cli._console import console, err_console, fail, index_progress

if TYPE_CHECKING:
    from value_spectrum.graphs.chat_session import ChatSession
    from value_spectrum.personas.model import Persona
    from value_spectrum.retrieval.corpus import Corpus

HELP = """[bold]Commands[/]
  /feed N [M]    browse N videos (default 5, at most 200) shown as M (frames, caption or title;
                 default --modality); the persona likes or skips each, with a reason
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


PROVIDER_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm", "openai", "httpx", "httpcore")
"""Loggers of the provider libraries: their own lines (``LiteLLM Router:ERROR ...``) stay out of
the terminal; chat prints one line per failure itself."""


def _quiet_providers() -> None:
    for name in PROVIDER_LOGGERS:
        lg = logging.getLogger(name)
        lg.setLevel(logging.CRITICAL + 1)
        lg.propagate = False


class _Loader:
    """Imports the heavy modules of a chat (LangGraph, the thread store, the model client) in
    a background thread while the prompt is already up."""

    def __init__(self, model: str, api_base: str | None) -> None:
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(model, api_base), name="vs-chat-loader", daemon=True)
        self._thread.start()

    def _run(self, model: str, api_base: str | None) -> None:
        try:
            import value_spectrum.graphs.chat_session  # noqa: F401  (langgraph, aiosqlite)

            if model != "reference":
                from value_spectrum.agents.direct import is_compatible

                if is_compatible(model, api_base):
                    import openai  # noqa: F401
                else:
                    import litellm  # noqa: F401
                _quiet_providers()  # litellm adds its own handlers on import
        except BaseException as exc:  # reported when the front end needs the modules
            self.error = exc

    def wait(self) -> None:
        """Block until loaded, saying so when that takes a moment."""
        if self._thread.is_alive():
            err_console.print("[dim](loading the model client and the thread store...)[/]")
            self._thread.join()


class _Chat:
    """State of the terminal front end: which persona, model and thread, and the services."""

    def __init__(self, *, model: str, api_base: str | None, db: Path, corpus: Corpus,
                 use_search: bool, embedder: str, temperature: float, modality: str = "frames",
                 max_tokens: int | None = 512, context: int | None = None) -> None:
        self.model_name = model
        self.api_base = api_base
        self.db = db
        self.corpus = corpus
        self.use_search = use_search
        self.embedder = embedder
        self.temperature = temperature
        self.modality = modality
        self.max_tokens = max_tokens
        self.context = context
        self._search: Any = None
        self.labels = {v.id: v.values for v in corpus if v.values is not None}

    # ---- services ----------------------------------------------------------------------
    def search(self, query: str, k: int = 5, platform: str | None = None) -> list[dict[str, Any]] | str:
        """The search tool, opening (and on first use building) the index lazily."""
        if self._search is None:
            from value_spectrum.retrieval.building import open_index
            from value_spectrum.retrieval.search import VideoSearch

            err_console.print("[dim]opening the video index (built with a progress bar on first use)...[/]")
            with index_progress(f"indexing {self.corpus.name} (first use)") as progress:
                opened = open_index(self.corpus, self.embedder, progress=progress)
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
        if not gateway.direct:
            _ = gateway.router
        return gateway

    def context_tokens(self) -> int:
        """``--context``, else the model's window from litellm's map, else 4096 (llama.cpp's
        usual ``n_ctx``)."""
        if self.context:
            return self.context
        from value_spectrum.agents.pricing import context_tokens

        return context_tokens(self.model_name) or 4096

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
            viewer_factory=self.viewer_factory(model), modality=self.modality,  # type: ignore[arg-type]
            max_tokens=self.max_tokens, context_tokens=self.context_tokens(), temperature=self.temperature,
        )


# ---- rendering ------------------------------------------------------------------------------
def _cards(cards: list[dict[str, Any]], title: str) -> None:
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


def _show_history(state: dict[str, Any], persona: Persona) -> None:
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
                sys.stdout.flush()
                started = False
            line = " ".join(str(event["error"]).split())[:300]
            err_console.print(f"[red]no reply (not kept):[/] {escape(line)}", highlight=False, soft_wrap=True)
    if started:
        sys.stdout.write("\n")


async def _feed(session: ChatSession, n: int, modality: str | None = None) -> None:
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
    modality: Annotated[str, typer.Option("--modality", help="What /feed shows of each video: frames | caption | title.")] = "frames",
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=16, help="Longest chat reply, in tokens.")] = 512,
    context: Annotated[int | None, typer.Option("--context", min=256, help="The model's context window in tokens; older turns are left out of requests beyond it (default: litellm's figure for the model, else 4096).")] = None,
) -> None:
    """Chat with a persona played by a model; /help lists the commands."""
    from value_spectrum.cli._gateway_flags import check_modality_name
    from value_spectrum.personas import PersonaError, get_persona
    from value_spectrum.retrieval.cache import cache_dir
    from value_spectrum.retrieval.corpus import CorpusError, load_corpus

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _quiet_providers()
    check_modality_name(modality)
    if context is not None and context <= max_tokens:
        fail(f"--context: {context} tokens leave no room for a --max-tokens {max_tokens} reply")
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
    _check_db(db_path)
    front = _Chat(model=model, api_base=api_base, db=db_path, corpus=corp, use_search=not no_search,
                  embedder=embedder, temperature=temperature, modality=modality, max_tokens=max_tokens,
                  context=context)
    name = thread or f"{who.id}-{os.getpid()}"
    loader = _Loader(model, api_base)
    runner = _Runner()
    header = (f"[bold]{who.name}[/] ({who.id}) · model [cyan]{model}[/] · thread [cyan]{name}[/]"
              f"  [dim](/help for commands; resume with --thread {name})[/]")
    opener = _Opener(front, who, name, loader, runner, db_path)
    try:
        if thread is not None:  # resuming, perhaps: the history comes before the prompt
            opener.get()
        console.print(header, highlight=False)
        _loop(runner, front, opener)
    finally:
        if opener.session is not None:
            runner.run(opener.session.close())
        runner.close()


SQLITE_MAGIC = b"SQLite format 3\x00"


def _check_db(path: Path) -> None:
    """Exit with one line, before the prompt, when ``path`` is there and is not a SQLite file
    (the store itself opens later, in the background)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except FileNotFoundError:
        return
    except OSError as exc:
        fail(f"{path}: cannot open the thread database ({exc.strerror or exc})")
    if head and head != SQLITE_MAGIC:
        fail(f"{path}: cannot open the thread database (file is not a database)")


class _Opener:
    """The chat's session, opened on first need: waits for the :class:`_Loader`, opens the
    thread, checks its persona and shows its history (once)."""

    def __init__(self, front: _Chat, who: Persona, name: str, loader: _Loader, runner: _Runner, db_path: Path) -> None:
        self.front, self.who, self.name, self.loader, self.runner, self.db_path = front, who, name, loader, runner, db_path
        self.session: ChatSession | None = None

    def get(self) -> ChatSession:
        if self.session is not None:
            return self.session
        self.loader.wait()
        if self.loader.error is not None:
            fail(f"cannot load the chat: {type(self.loader.error).__name__}: {self.loader.error}")
        session = self.front.session(self.who, self.name)
        try:
            self.runner.run(session.open())
            other = self.runner.run(session.check_persona())
        except (OSError, sqlite3.Error) as exc:
            with contextlib.suppress(Exception):
                self.runner.run(session.close())
            fail(f"{self.db_path}: cannot open the thread database ({getattr(exc, 'strerror', None) or exc})")
        self.session = session
        if other:
            fail(f"thread {self.name!r} belongs to persona {other!r}; use --persona {other} or another --thread")
        _show_history(self.runner.run(session.state()) or {}, self.who)
        return session


def _loop(runner: _Runner, front: _Chat, opener: _Opener) -> None:
    """Read lines until /quit or EOF; the session opens (waiting for the background loading)
    on the first line that needs it."""
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401  (line editing and history for input())
    while True:
        try:
            line = input("you> ").strip()
        except EOFError:
            console.print()
            return
        except KeyboardInterrupt:
            console.print()
            continue
        if not line:
            continue
        cmd, _, arg = line.partition(" ")
        if cmd.lower() in {"/quit", "/exit", "/q"}:
            return
        if cmd.lower() == "/help":
            console.print(HELP)
            continue
        try:
            session = opener.get()
        except KeyboardInterrupt:  # loading goes on in the background; the line is dropped
            console.print("\n[yellow](cancelled)[/]")
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
        arg = arg.strip()
        try:
            result = _command(runner, front, session, cmd.lower(), arg)
        except Exception as exc:  # one line, and the chat goes on
            err_console.print(f"[red]{cmd}:[/] {exc}", highlight=False)
            continue
        if result is None:
            return
        opener.session = result


def _command(runner: _Runner, front: _Chat, session: ChatSession, cmd: str, arg: str) -> ChatSession | None:
    """Run one slash command; returns the (possibly new) session, or None to quit."""
    if cmd in {"/quit", "/exit", "/q"}:
        return None
    if cmd == "/help":
        console.print(HELP)
    elif cmd == "/feed":
        words = arg.split()
        try:
            n = int(words[0] if words else "5")
        except ValueError:
            raise ValueError(f"N must be a whole number, got {words[0]!r}") from None
        if not 1 <= n <= 200:
            raise ValueError(f"N must be between 1 and 200, got {n}")
        shown = words[1].lower() if len(words) > 1 else None
        if shown is not None and shown not in ("frames", "caption", "title"):
            raise ValueError(f"usage: /feed N [frames|caption|title], got {shown!r}")
        runner.run(_feed(session, n, shown))
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
