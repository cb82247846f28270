"""The chat's read-eval loop: one event loop where Ctrl-C cancels the reply in progress, not
the program (:class:`Runner`); the session opened on first need (:class:`Opener`); the lines and
slash commands (:func:`read_lines`, :func:`command`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from value_spectrum.cli._chat_front import ChatFront, Loader, credentials_problem
from value_spectrum.cli._chat_view import cards, feed, probe_panel, say, show_history, values_panel
from value_spectrum.cli._console import console, err_console, fail

if TYPE_CHECKING:
    from value_spectrum.graphs.chat_session import ChatSession
    from value_spectrum.personas.model import Persona

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


class Runner:
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


class Opener:
    """The chat's session, opened on first need: waits for the :class:`Loader`, opens the
    thread, checks its persona and shows its history (once)."""

    def __init__(self, front: ChatFront, who: Persona, name: str, loader: Loader, runner: Runner, db_path: Path) -> None:
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
        show_history(self.runner.run(session.state()) or {}, self.who)
        return session


def read_lines(runner: Runner, front: ChatFront, opener: Opener) -> None:
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
                runner.run(say(session, line))
            except Exception as exc:  # one line, and the chat goes on
                err_console.print(f"[red]error:[/] {type(exc).__name__}: {exc}", highlight=False)
            continue
        arg = arg.strip()
        try:
            result = command(runner, front, session, cmd.lower(), arg)
        except Exception as exc:  # one line, and the chat goes on
            err_console.print(f"[red]{cmd}:[/] {exc}", highlight=False)
            continue
        if result is None:
            return
        opener.session = result


def command(runner: Runner, front: ChatFront, session: ChatSession, cmd: str, arg: str) -> ChatSession | None:
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
        runner.run(feed(session, n, shown))
    elif cmd == "/search":
        if not arg:
            raise ValueError("usage: /search QUERY")
        result = front.search(arg)
        if isinstance(result, str):
            console.print(result, highlight=False)
        else:
            cards(result, f"search: {arg}")
    elif cmd == "/values":
        state = runner.run(session.state()) or {}
        values_panel(session, list(state.get("decisions", [])), front.corpus)
    elif cmd == "/probe":
        from value_spectrum.personas import load_instrument

        probe = runner.run(session.probe(load_instrument(None)))
        if probe is not None:
            probe_panel(probe)
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
        problem = credentials_problem(arg, front.api_base)
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
