"""`value-spectrum chat`: talk to a persona played by a model, let it browse, watch its values.

A thin terminal loop over :class:`value_spectrum.graphs.chat_session.ChatSession`: the services
are in ``_chat_front``, what is printed in ``_chat_view``, the loop and its slash commands in
``_chat_loop``. Every import beyond typer happens inside :func:`chat`, so ``value-spectrum
--help`` stays cheap, and for a new thread the prompt comes first: LangGraph, the thread store
and the model client load in a background thread (``_chat_front.Loader``) while the user types,
and the first line waits for them with a visible "loading" note when they are not ready yet.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from value_spectrum.cli._console import console, err_console, fail


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
    from value_spectrum.cli._chat_front import (
        ChatFront,
        Loader,
        check_db,
        credentials_problem,
        quiet_providers,
    )
    from value_spectrum.cli._chat_loop import Opener, Runner, read_lines
    from value_spectrum.cli._gateway_flags import check_modality_name
    from value_spectrum.personas import PersonaError, get_persona
    from value_spectrum.retrieval.cache import cache_dir
    from value_spectrum.retrieval.corpus import CorpusError, load_corpus

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    quiet_providers()
    check_modality_name(modality)
    if context is not None and context <= max_tokens:
        fail(f"--context: {context} tokens leave no room for a --max-tokens {max_tokens} reply")
    try:
        who = get_persona(persona)
        corp = load_corpus(corpus)
    except (PersonaError, CorpusError, KeyError) as exc:
        fail(str(exc).strip("'\""))
    problem = credentials_problem(model, api_base)
    if problem:
        err_console.print(f"[yellow]{problem}[/]", highlight=False)
        err_console.print("[yellow]continuing with the reference viewer: /feed, /values and /probe work offline.[/]")
        model = "reference"
    db_path = db or cache_dir() / "chat" / "threads.sqlite"
    check_db(db_path)
    front = ChatFront(model=model, api_base=api_base, db=db_path, corpus=corp, use_search=not no_search,
                      embedder=embedder, temperature=temperature, modality=modality, max_tokens=max_tokens,
                      context=context)
    name = thread or f"{who.id}-{os.getpid()}"
    loader = Loader(model, api_base)
    runner = Runner()
    header = (f"[bold]{who.name}[/] ({who.id}) · model [cyan]{model}[/] · thread [cyan]{name}[/]"
              f"  [dim](/help for commands; resume with --thread {name})[/]")
    opener = Opener(front, who, name, loader, runner, db_path)
    try:
        if thread is not None:  # resuming, perhaps: the history comes before the prompt
            opener.get()
        console.print(header, highlight=False)
        read_lines(runner, front, opener)
    finally:
        if opener.session is not None:
            runner.run(opener.session.close())
        runner.close()
