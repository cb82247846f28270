"""The chat's services behind the terminal: the model, viewer and search tool of a
:class:`~value_spectrum.graphs.chat_session.ChatSession` (:class:`ChatFront`), the background
loading of the heavy modules while the prompt is already up (:class:`Loader`), and the checks
made before the prompt (credentials, the thread database)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from value_spectrum.cli._console import err_console, fail, index_progress

if TYPE_CHECKING:
    from value_spectrum.graphs.chat_session import ChatSession
    from value_spectrum.personas.model import Persona
    from value_spectrum.retrieval.corpus import Corpus


def credentials_problem(model: str, api_base: str | None) -> str | None:
    """One line saying how to point at a model, or None when the model looks reachable."""
    if model == "reference":
        return None
    from value_spectrum.agents.gateway import credentials_problem as gateway_problem

    return gateway_problem(model, api_base)


PROVIDER_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm", "openai", "httpx", "httpcore")
"""Loggers of the provider libraries: their own lines (``LiteLLM Router:ERROR ...``) stay out of
the terminal; chat prints one line per failure itself."""


def quiet_providers() -> None:
    """Keep the provider libraries' own log lines off the terminal."""
    for name in PROVIDER_LOGGERS:
        lg = logging.getLogger(name)
        lg.setLevel(logging.CRITICAL + 1)
        lg.propagate = False


class Loader:
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
                quiet_providers()  # litellm adds its own handlers on import
        except BaseException as exc:  # reported when the front end needs the modules
            self.error = exc

    def wait(self) -> None:
        """Block until loaded, saying so when that takes a moment."""
        if self._thread.is_alive():
            err_console.print("[dim](loading the model client and the thread store...)[/]")
            self._thread.join()


class ChatFront:
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


SQLITE_MAGIC = b"SQLite format 3\x00"


def check_db(path: Path) -> None:
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
