"""The LLM viewer: a prompt strategy, a chat model and the decision contract.

One decision is: render the persona (strategy) and the observation (modality), optionally let the
model call ``search_videos`` (at most ``max_tool_rounds`` rounds), parse the reply, and on an
unreadable reply ask once for a repair. Whatever happens, a :class:`ViewerReply` comes back;
this class never raises for a model's behaviour or a provider failure.

Example:
    >>> import asyncio
    >>> from value_spectrum.agents.fake import ScriptedViewer
    >>> from value_spectrum.records import Observation
    >>> viewer = ScriptedViewer(['{"decision": "like", "reason": "fun"}'], strategy="plain")
    >>> asyncio.run(viewer.decide(None, Observation(turn=0, video_id="v1", modality="title"))).outcome.value
    'like'
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from value_spectrum.agents.base import SearchTool, ViewerReply
from value_spectrum.agents.chat import (
    ChatModel,
    ChatRequest,
    ChatResponse,
    Message,
    ModelError,
    ModelRefusal,
)
from value_spectrum.agents.observe import observation_content
from value_spectrum.agents.parsing import ParseFailure, parse_decision, parse_rating
from value_spectrum.personas.model import Persona
from value_spectrum.personas.prompts import (
    HISTORY_HEADER,
    RATING_SCHEMA,
    SEARCH_HINT,
    Prompt,
    PromptStrategy,
    contract,
    rating_question,
    repair_request,
    resolve_strategy,
    template_hash,
)
from value_spectrum.personas.questionnaire import Instrument, Item
from value_spectrum.records import (
    Decision,
    Modality,
    Observation,
    Outcome,
    ProbeAnswer,
    Step,
    Usage,
)

logger = logging.getLogger(__name__)

SEARCH_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "search_videos",
        "description": "Search the video collection, as a person types into a search box.",
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "What to look for."},
                "k": {"type": "integer", "description": "How many results (1-10).", "default": 5},
            },
            "required": ["query"],
        },
    },
}
"""The search tool offered to the model when the session gives the viewer a :class:`SearchTool`."""


def _collapse_text(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """Content with no image as one plain string: text-only servers (llama.cpp's chat templates,
    many local models) reject a list of parts, and every provider accepts a string."""
    if all(p.get("type") == "text" for p in parts):
        return "\n\n".join(str(p["text"]) for p in parts)
    return parts


def sum_usage(usages: Sequence[Usage]) -> Usage:
    """Total of several calls; cached only when every call was served from the cache."""
    return Usage(
        prompt_tokens=sum(u.prompt_tokens for u in usages),
        completion_tokens=sum(u.completion_tokens for u in usages),
        cost_usd=sum(u.cost_usd for u in usages),
        cached=bool(usages) and all(u.cached for u in usages),
        repairs=_known_sum(u.repairs for u in usages),
        retries=_known_sum(u.retries for u in usages),
    )


def _known_sum(values: Iterable[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def history_text(history: Sequence[Step], n: int) -> str:
    """The last ``n`` steps as short lines; failed turns are marked as such, never shown as
    decisions."""
    if n <= 0 or not history:
        return ""
    lines = []
    for s in history[-n:]:
        if s.decision is not None:
            verb = "liked" if s.outcome == Outcome.LIKE else "skipped"
            why = f" ({s.decision.reason[:80]})" if s.decision.reason else ""
            lines.append(f"- turn {s.turn}: {verb} video {s.video_id}{why}")
        else:
            lines.append(f"- turn {s.turn}: video {s.video_id}, no decision recorded ({s.outcome.value})")
    return HISTORY_HEADER.format(lines="\n".join(lines))


class LLMViewer:
    """A viewer backed by a chat model.

    Args:
        model: a litellm model string (``openai/gpt-4o``, ``ollama/llava``, ...) or any
            :class:`~value_spectrum.agents.chat.ChatModel` (e.g. the scripted fake).
        strategy: prompt strategy: plain | simple | isq | values, or your own callable
            ``persona -> Prompt`` (recorded as ``user:<its name>``).
        modality: frames | caption | title; None shows each observation in its own modality.
        api_base: an OpenAI-compatible endpoint (vLLM, llama.cpp, Ollama, the test server).
        api_key_env: the name of the environment variable holding the key (never the key).
        temperature: sampling temperature (0: deterministic and cached).
        seed: provider seed, when supported.
        history_turns: how many recent decisions to summarise in each prompt (0: none).
        max_tool_rounds: how many rounds of search tool calls before an answer is required.
        structured: ask for a JSON-schema ``response_format`` where the provider supports it.
        repair_refusals: also send the repair turn after a refusal (off: a refusal is data).
        leave: also ask, every turn, whether the viewer leaves the feed after this video (a
            leave ends the session with status ``left``); off by default.
        dwell: also ask how many seconds the viewer would watch the video (``Decision.dwell_s``;
            an unreadable answer is recorded as absent); off by default.
        gateway: extra keyword arguments for :class:`~value_spectrum.agents.gateway.Gateway`
            (retries, timeout_s, rpm, tpm, fallbacks, cache_dir, cache, ...).
    """

    def __init__(
        self,
        model: str | ChatModel,
        *,
        strategy: str | PromptStrategy = "simple",
        modality: Modality | None = None,
        api_base: str | None = None,
        api_key_env: str | None = None,
        temperature: float = 0.0,
        seed: int | None = None,
        history_turns: int = 0,
        max_tool_rounds: int = 2,
        structured: bool = True,
        repair_refusals: bool = False,
        max_tokens: int | None = 512,
        leave: bool = False,
        dwell: bool = False,
        **gateway: Any,
    ) -> None:
        self.strategy_name, self.strategy = resolve_strategy(strategy)
        if isinstance(model, str):
            from value_spectrum.agents.gateway import Gateway

            self.model: ChatModel = Gateway(model, api_base=api_base, api_key_env=api_key_env, **gateway)
        else:
            if gateway:
                raise TypeError(f"gateway options {sorted(gateway)!r} need a model string, not a model object")
            self.model = model
        self.name = self.model.name
        self.modality = modality
        self.api_base = api_base
        self.temperature = float(temperature)
        self.seed = seed
        self.history_turns = int(history_turns)
        self.max_tool_rounds = int(max_tool_rounds)
        self.structured = structured
        self.repair_refusals = repair_refusals
        self.max_tokens = max_tokens
        self.leave = bool(leave)
        self.dwell = bool(dwell)

    @property
    def wants_images(self) -> bool:
        """True unless the viewer was built for a text modality (caption, title)."""
        return self.modality in (None, "frames")

    # ---- provenance ---------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """Parameters for the run manifest (never a key)."""
        info: dict[str, Any] = {
            "viewer": "llm",
            "model": self.name,
            "strategy": self.strategy_name,
            "template_hash": template_hash(self.strategy_name, leave=self.leave, dwell=self.dwell),
            "modality": self.modality,
            "temperature": self.temperature,
            "seed": self.seed,
            "history_turns": self.history_turns,
            "max_tool_rounds": self.max_tool_rounds,
            "structured": self.structured and self.model.supports_schema(),
            "api_base": self.api_base,
            **({"leave": True} if self.leave else {}),
            **({"dwell": True} if self.dwell else {}),
        }
        extra = getattr(self.model, "describe", None)
        if callable(extra):
            info["gateway"] = extra()
        return info

    # ---- requests -----------------------------------------------------------------------------
    def prompt(self, persona: Persona | None) -> Prompt:
        """The strategy's prompt for ``persona``, with the leave and dwell questions when on."""
        return contract(self.strategy(persona), leave=self.leave, dwell=self.dwell)

    def _request(self, messages: list[Message], *, schema: dict[str, Any] | None, tools: bool, purpose: str) -> ChatRequest:
        rf = None
        if schema is not None and self.structured and self.model.supports_schema():
            rf = {"type": "json_schema", "json_schema": {"name": "reply", "schema": schema, "strict": True}}
        return ChatRequest(
            messages=tuple(messages),
            temperature=self.temperature,
            seed=self.seed,
            max_tokens=self.max_tokens,
            response_format=None if tools else rf,
            tools=(SEARCH_TOOL,) if tools else (),
            purpose=purpose,
        )

    def messages_for(
        self, prompt: Prompt, observation: Observation, history: Sequence[Step], *, search: bool,
        image_url: Callable[[str], str] | None = None,
    ) -> list[Message]:
        """The opening messages of one decision: system prompt first (stable across turns), then
        the recent history, the observation and the question (``image_url``: as in
        :func:`~value_spectrum.agents.observe.observation_content`)."""
        obs = observation if self.modality is None else observation.model_copy(update={"modality": self.modality})
        content: list[dict[str, Any]] = []
        past = history_text(history, self.history_turns)
        if past:
            content.append({"type": "text", "text": past})
        content.extend(observation_content(obs, image_url=image_url))
        question = f"{SEARCH_HINT}\n{prompt.question}" if search else prompt.question
        content.append({"type": "text", "text": question})
        messages: list[Message] = []
        if prompt.system:
            messages.append({"role": "system", "content": prompt.system})
        messages.append({"role": "user", "content": _collapse_text(content)})
        return messages

    def first_request(
        self, persona: Persona | None, observation: Observation, *, search: bool = False,
        image_url: Callable[[str], str] | None = None,
    ) -> ChatRequest:
        """The first request of a decision without history, exactly as :meth:`decide` sends it
        (the dry run counts these and looks them up in the response cache)."""
        prompt = self.prompt(persona)
        messages = self.messages_for(prompt, observation, (), search=search, image_url=image_url)
        return self._request(messages, schema=prompt.schema, tools=search, purpose="decide")

    def rating_request(self, persona: Persona | None, instrument: Instrument, item: Item) -> ChatRequest:
        """The first request of a questionnaire item, exactly as :meth:`rate` sends it."""
        return self._request(self._rating_messages(persona, instrument, item), schema=RATING_SCHEMA, tools=False, purpose="rate")

    def _rating_messages(self, persona: Persona | None, instrument: Instrument, item: Item) -> list[Message]:
        prompt = self.strategy(persona)
        messages: list[Message] = []
        if prompt.system:
            messages.append({"role": "system", "content": prompt.system})
        messages.append({"role": "user", "content": rating_question(instrument, item)})
        return messages

    async def _run_tools(self, response: ChatResponse, messages: list[Message], search: SearchTool, queries: list[str]) -> None:
        messages.append({
            "role": "assistant",
            "content": response.text or None,
            "tool_calls": [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in response.tool_calls
            ],
        })
        for call in response.tool_calls:
            result: Any
            if call.name != "search_videos":
                result = f"unknown tool {call.name!r}; only search_videos exists"
            else:
                try:
                    args = json.loads(call.arguments or "{}")
                    query = str(args["query"])
                    k = max(1, min(10, int(args.get("k", 5))))
                except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                    result = f"bad arguments {call.arguments!r}: {exc}"
                else:
                    queries.append(query)
                    result = await asyncio.to_thread(search, query, k)
            messages.append({
                "role": "tool",
                "tool_call_id": call.id,
                "content": result if isinstance(result, str) else json.dumps(result, ensure_ascii=False, default=str),
            })

    # ---- the decision -------------------------------------------------------------------------
    async def decide(
        self,
        persona: Persona | None,
        observation: Observation,
        *,
        history: Sequence[Step] = (),
        search: SearchTool | None = None,
    ) -> ViewerReply:
        """One decision; failures come back as outcomes, never as exceptions."""
        started = time.perf_counter()
        usages: list[Usage] = []
        queries: list[str] = []
        raw = ""
        earlier: list[str] = []
        repairs = 0
        try:
            prompt = self.prompt(persona)
            messages = self.messages_for(prompt, observation, history, search=search is not None)
            response: ChatResponse | None = None
            for round_no in range(self.max_tool_rounds + 1):
                offer = search is not None and round_no < self.max_tool_rounds
                response = await self.model.complete(self._request(messages, schema=prompt.schema, tools=offer, purpose="decide" if round_no == 0 else "tool"))
                usages.append(response.usage)
                if not (offer and response.tool_calls and search is not None):
                    break
                await self._run_tools(response, messages, search, queries)
            assert response is not None
            raw = response.text
            if not raw.strip() and response.finish_reason == "content_filter":
                raise ModelRefusal("the provider's content filter stopped the reply")
            parsed = self._parse(raw, observation)
            if isinstance(parsed, ParseFailure) and (parsed.outcome == Outcome.UNPARSEABLE or self.repair_refusals):
                first_error = parsed.error
                messages.append({"role": "assistant", "content": raw})
                messages.append({"role": "user", "content": repair_request(parsed.error)})
                earlier.append(raw)  # kept: the repair's reply does not overwrite it
                repairs += 1
                response = await self.model.complete(self._request(messages, schema=prompt.schema, tools=False, purpose="repair"))
                usages.append(response.usage)
                raw = response.text
                parsed = self._parse(raw, observation)
                if isinstance(parsed, ParseFailure):
                    parsed = ParseFailure(parsed.outcome, f"{parsed.error} (after repair; first reply: {first_error})")
        except ModelRefusal as exc:
            if exc.retries is not None:  # the failed call's re-sent requests
                usages.append(Usage(retries=exc.retries))
            return self._failure(Outcome.REFUSED, f"refused by the provider: {exc}", raw, queries, usages, started, earlier, repairs)
        except ModelError as exc:
            if exc.retries is not None:
                usages.append(Usage(retries=exc.retries))
            return self._failure(Outcome.ERROR, f"model error: {exc}", raw, queries, usages, started, earlier, repairs)
        except OSError as exc:
            return self._failure(Outcome.ERROR, f"cannot read observation media: {exc}", raw, queries, usages, started, earlier, repairs)
        except Exception as exc:  # a viewer never raises for one bad turn
            logger.exception("viewer %s: unexpected failure on video %s", self.name, observation.video_id)
            return self._failure(Outcome.ERROR, f"{type(exc).__name__}: {exc}", raw, queries, usages, started, earlier, repairs)
        if isinstance(parsed, ParseFailure):
            return self._failure(parsed.outcome, parsed.error, raw, queries, usages, started, earlier, repairs)
        decision: Decision = parsed
        return ViewerReply(
            outcome=Outcome.LIKE if decision.action == "like" else Outcome.SKIP,
            decision=decision,
            raw=raw,
            earlier_raws=tuple(earlier),
            repaired=repairs > 0,
            searches=tuple(queries),
            usage=self._usage(usages, repairs),
        )

    def _parse(self, raw: str, observation: Observation) -> Decision | ParseFailure:
        return parse_decision(raw, leave=self.leave, dwell=self.dwell, duration_s=observation.duration_s)

    @staticmethod
    def _usage(usages: list[Usage], repairs: int) -> Usage:
        """The decision's usage, with the repairs it needed counted (0 when none)."""
        total = sum_usage(usages)
        return total.model_copy(update={"repairs": repairs})

    def _failure(
        self, outcome: Outcome, error: str, raw: str, queries: list[str], usages: list[Usage], started: float,
        earlier: list[str] | None = None, repairs: int = 0,
    ) -> ViewerReply:
        logger.info("viewer %s: %s after %.2fs: %s", self.name, outcome.value, time.perf_counter() - started, error[:200])
        return ViewerReply(outcome=outcome, raw=raw, earlier_raws=tuple(earlier or ()), error=error,
                           searches=tuple(queries), usage=self._usage(usages, repairs))

    # ---- questionnaires -----------------------------------------------------------------------
    async def rate(self, persona: Persona | None, instrument: Instrument, item: Item) -> ProbeAnswer:
        """Answer one item in character; an unreadable reply (after one repair) gives None."""
        raw = ""
        rating: int | None = None
        try:
            messages = self._rating_messages(persona, instrument, item)
            response = await self.model.complete(self._request(messages, schema=RATING_SCHEMA, tools=False, purpose="rate"))
            raw = response.text
            rating = parse_rating(raw, instrument.scale_min, instrument.scale_max)
            if rating is None:
                messages.append({"role": "assistant", "content": raw})
                messages.append({"role": "user", "content": repair_request(f"expected an integer rating from {instrument.scale_min} to {instrument.scale_max}")})
                response = await self.model.complete(self._request(messages, schema=RATING_SCHEMA, tools=False, purpose="repair"))
                raw = response.text
                rating = parse_rating(raw, instrument.scale_min, instrument.scale_max)
        except Exception as exc:  # one item never poisons the questionnaire
            logger.info("viewer %s: rating item %s failed: %s", self.name, item.id, exc)
            raw = raw or f"error: {type(exc).__name__}: {exc}"
        return ProbeAnswer(item_id=item.id, value=item.value, rating=rating, raw=raw, reversed=item.reversed)
