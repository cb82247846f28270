"""A tiny OpenAI-compatible chat server on 127.0.0.1, for tests, benchmarks and offline chat.

It implements ``POST /v1/chat/completions`` (plain JSON and streaming SSE, tool calls optional)
and ``GET /v1/models``, answers with a reply function, waits a fixed latency, and injects faults
on request: HTTP 429 / 500 / 503, a hang (for client timeouts), a malformed JSON body, an empty
reply. Every request body is recorded, so a test can check that the images arrived.

It can also play a text-only llama.cpp server (``text_only=True``, ``--text-only``): a request
with image parts gets HTTP 500 ``can only concatenate str (not "list") to str`` (what
llama.cpp's chat templates answer), and ``reject_formats`` (default for a text-only server:
``json_schema``) get HTTP 500 too.

Example:
    >>> import litellm  # doctest: +SKIP
    >>> with TestServer(reply=lambda body: "Yes.") as server:  # doctest: +SKIP
    ...     server.inject("429", times=2)
    ...     # point any OpenAI client at server.base_url
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

logger = logging.getLogger(__name__)

Fault = Literal["429", "500", "503", "timeout", "malformed", "empty"]
"""Injectable faults, applied to the next requests in order."""


@dataclass(frozen=True)
class ServerReply:
    """A reply with tool calls, for reply functions that need more than text."""

    content: str = ""
    """Assistant text."""
    tool_calls: tuple[tuple[str, dict[str, Any]], ...] = ()
    """(function name, arguments) pairs."""


def count_images(body: dict[str, Any]) -> int:
    """The number of ``image_url`` parts in a recorded request body."""
    n = 0
    for m in body.get("messages", []):
        content = m.get("content")
        if isinstance(content, list):
            n += sum(1 for p in content if isinstance(p, dict) and p.get("type") == "image_url")
    return n


def _text_of(body: dict[str, Any]) -> str:
    parts: list[str] = []
    for m in body.get("messages", []):
        c = m.get("content")
        if isinstance(c, str):
            parts.append(c)
        elif isinstance(c, list):
            parts.extend(str(p.get("text", "")) for p in c if isinstance(p, dict))
    return "\n".join(parts)


def default_reply(body: dict[str, Any]) -> str:
    """A deterministic decision: like or skip from a hash of the request's text; a rating of
    4 when a rating is asked for."""
    text = _text_of(body)
    if '"rating"' in text:
        return '{"rating": 4}'
    like = hashlib.sha256(text.encode()).digest()[0] % 2 == 0
    return json.dumps({"decision": "like" if like else "skip", "reason": "test server", "trait_number": 1, "confidence": 0.7})


@dataclass
class _State:
    reply: Callable[[dict[str, Any]], str | ServerReply]
    latency_s: float
    hang_s: float
    faults: deque[Fault] = field(default_factory=deque)
    failing_models: set[str] = field(default_factory=set)
    text_only: bool = False
    reject_formats: frozenset[str] = frozenset()
    requests: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    counter: int = 0


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("test server: " + format, *args)

    def _send(self, status: int, payload: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        if status == 429:
            self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(payload)
        with self.server.state.lock:
            self.server.state.statuses.append(status)

    def do_GET(self) -> None:
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            self._send(200, json.dumps({"object": "list", "data": [{"id": "test", "object": "model"}]}).encode())
        else:
            self._send(404, b'{"error": {"message": "not found"}}')

    def do_POST(self) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, b'{"error": {"message": "not found"}}')
            return
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            self._send(400, b'{"error": {"message": "request body is not JSON"}}')
            return
        with state.lock:
            state.requests.append(body)
            state.counter += 1
            n = state.counter
            fault = state.faults.popleft() if state.faults else None
        if state.latency_s:
            time.sleep(state.latency_s)
        if str(body.get("model")) in state.failing_models:
            self._send(500, json.dumps({"error": {"message": f"model {body.get('model')!r} is down (injected)"}}).encode())
            return
        refusal = self._refusal(body)
        if refusal is not None:
            self._send(500, json.dumps({"error": {"code": 500, "message": refusal, "type": "server_error"}}).encode())
            return
        if fault in ("429", "500", "503"):
            msg = {"429": "rate limited (injected)", "500": "server error (injected)", "503": "unavailable (injected)"}[fault]
            self._send(int(fault), json.dumps({"error": {"message": msg, "type": "injected", "code": fault}}).encode())
            return
        if fault == "timeout":
            time.sleep(state.hang_s)
        if fault == "malformed":
            self._send(200, b'{"id": "x", "choices": [{"message": {"content": "unterminated')
            return
        out = ServerReply(content="") if fault == "empty" else state.reply(body)
        reply = out if isinstance(out, ServerReply) else ServerReply(content=str(out))
        model = str(body.get("model", "test"))
        if body.get("stream"):
            self._stream(n, model, reply, body)
        else:
            self._send(200, json.dumps(self._completion(n, model, reply, body)).encode())

    def _refusal(self, body: dict[str, Any]) -> str | None:
        """The error a text-only or format-limited server answers ``body`` with, if any."""
        state = self.server.state
        if state.text_only and count_images(body):
            return 'can only concatenate str (not "list") to str'
        rf = body.get("response_format")
        kind = rf.get("type") if isinstance(rf, dict) else None
        if kind in state.reject_formats:
            return f"response_format type {kind!r} is not supported by this server (injected)"
        return None

    @staticmethod
    def _usage(body: dict[str, Any], reply: ServerReply) -> dict[str, int]:
        prompt = max(1, len(_text_of(body).split())) + 85 * count_images(body)
        completion = max(1, len(reply.content.split()))
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    @staticmethod
    def _tool_calls(n: int, reply: ServerReply) -> list[dict[str, Any]]:
        return [
            {"id": f"call_{n}_{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
            for i, (name, args) in enumerate(reply.tool_calls)
        ]

    def _completion(self, n: int, model: str, reply: ServerReply, body: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.tool_calls:
            message["tool_calls"] = self._tool_calls(n, reply)
        return {
            "id": f"chatcmpl-{n}",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if reply.tool_calls else "stop"}],
            "usage": self._usage(body, reply),
        }

    def _stream(self, n: int, model: str, reply: ServerReply, body: dict[str, Any]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        base = {"id": f"chatcmpl-{n}", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model}

        def emit(delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None) -> None:
            chunk: dict[str, Any] = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            if usage is not None:
                chunk["usage"] = usage
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()

        emit({"role": "assistant", "content": ""})
        words = reply.content.split(" ")
        for i, w in enumerate(words):
            if w or i == 0:
                emit({"content": w if i == 0 else " " + w})
        if reply.tool_calls:
            calls = self._tool_calls(n, reply)
            emit({"tool_calls": [{"index": i, **c} for i, c in enumerate(calls)]})
        emit({}, "tool_calls" if reply.tool_calls else "stop", self._usage(body, reply))
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True
        with self.server.state.lock:
            self.server.state.statuses.append(200)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], state: _State) -> None:
        super().__init__(address, _Handler)
        self.state = state


class TestServer:
    """The server, run in a background thread; a context manager.

    Args:
        reply: request body -> reply text (or :class:`ServerReply` with tool calls).
        latency_ms: fixed delay before every reply.
        hang_s: how long a ``timeout`` fault hangs before answering.
        text_only: answer requests with image parts with llama.cpp's HTTP 500.
        reject_formats: ``response_format`` types answered with HTTP 500 (None: ``json_schema``
            when ``text_only``, else none).
        port: 0 picks a free port.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        reply: Callable[[dict[str, Any]], str | ServerReply] = default_reply,
        *,
        latency_ms: float = 0.0,
        hang_s: float = 5.0,
        text_only: bool = False,
        reject_formats: tuple[str, ...] | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
    ) -> None:
        rejected = frozenset(reject_formats if reject_formats is not None else (("json_schema",) if text_only else ()))
        self._state = _State(reply=reply, latency_s=latency_ms / 1000.0, hang_s=hang_s, text_only=text_only,
                             reject_formats=rejected)
        self._host, self._port = host, port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ----------------------------------------------------------------------------
    def start(self) -> TestServer:
        """Bind and serve in a daemon thread."""
        self._server = _Server((self._host, self._port), self._state)
        self._thread = threading.Thread(target=self._server.serve_forever, name="vs-test-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> TestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- configuration and inspection ---------------------------------------------------------
    @property
    def port(self) -> int:
        """The bound port."""
        assert self._server is not None, "server not started"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: pass as ``api_base``."""
        return f"http://{self._host}:{self.port}/v1"

    def inject(self, fault: Fault, times: int = 1) -> None:
        """Apply ``fault`` to the next ``times`` requests (after any already queued)."""
        with self._state.lock:
            self._state.faults.extend([fault] * times)

    def fail_model(self, name: str) -> None:
        """Answer every request for model ``name`` (as the server sees it) with HTTP 500."""
        with self._state.lock:
            self._state.failing_models.add(name)

    def set_reply(self, reply: Callable[[dict[str, Any]], str | ServerReply]) -> None:
        """Change the reply function."""
        self._state.reply = reply

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every request body received, in order (a copy)."""
        with self._state.lock:
            return list(self._state.requests)

    @property
    def statuses(self) -> list[int]:
        """The HTTP status of every response sent, in order."""
        with self._state.lock:
            return list(self._state.statuses)

    def reset(self) -> None:
        """Forget recorded requests and pending faults."""
        with self._state.lock:
            self._state.requests.clear()
            self._state.statuses.clear()
            self._state.faults.clear()

    def images_received(self) -> Iterator[int]:
        """Image parts per recorded request."""
        return (count_images(b) for b in self.requests)


def main(argv: list[str] | None = None) -> None:
    """``python -m value_spectrum.agents.testing.server --port 8000 --latency-ms 200``."""
    parser = argparse.ArgumentParser(description="A local OpenAI-compatible test server.")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--reply", default=None, help="a fixed reply text (default: a deterministic JSON decision)")
    parser.add_argument("--text-only", action="store_true", help="play a text-only llama.cpp server (500 on images)")
    parser.add_argument("--reject-format", action="append", default=None, metavar="TYPE",
                        help="answer this response_format type with HTTP 500 (repeatable; --text-only: json_schema)")
    args = parser.parse_args(argv)
    fixed: str | None = args.reply
    server = TestServer(
        (lambda body: fixed) if fixed is not None else default_reply,  # type: ignore[arg-type,return-value]
        latency_ms=args.latency_ms,
        text_only=args.text_only,
        reject_formats=tuple(args.reject_format) if args.reject_format is not None else None,
        port=args.port,
        host=args.host,
    ).start()
    print(f"serving an OpenAI-compatible API at {server.base_url} (Ctrl-C to stop)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
