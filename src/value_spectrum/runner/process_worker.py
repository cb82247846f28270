"""The worker side of the process executor (:mod:`~value_spectrum.runner.process_executor`):
one spawned process serving sessions over its pipe to the driver.

It runs a :class:`~value_spectrum.runner.session_worker.SessionWorker`, ignores Ctrl-C (the
driver drains it over the pipe), asks the driver's run-wide token bucket before each request
(``--rpm`` / ``--tpm``), and sends its log records to the driver, which shows them as its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from value_spectrum.runner.session_worker import WorkerJob

logger = logging.getLogger(__name__)


def worker_main(conn: Connection, job: WorkerJob, log_level: int = logging.WARNING) -> None:
    """A worker process: serve ``job``'s sessions over ``conn`` until told to close; its log
    records at ``log_level`` and above go to the driver, which shows them as its own."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's: it drains us over the pipe
    asyncio.run(_serve(conn, job, log_level))


class _PipeLog(logging.Handler):
    """A worker's log records, sent to the driver as ``("log", level, logger name, text)``."""

    def __init__(self, send: Any, level: int) -> None:
        super().__init__(level)
        self._send = send

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._send(("log", record.levelno, record.name, self.format(record)))
        except Exception:  # a record that cannot be formatted: as logging's own handlers do
            self.handleError(record)


class _PipeLimiter:
    """A worker's side of the driver's run-wide token bucket (a
    :class:`~value_spectrum.agents.shared_limits.SharedLimiter`)."""

    def __init__(self, send: Any) -> None:
        self._send = send
        self._asks = itertools.count()
        self._waiting: dict[int, asyncio.Future[float]] = {}

    async def admit(self, key: str, rpm: int | None, tpm: int | None) -> None:
        ask = next(self._asks)
        answer: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiting[ask] = answer
        self._send(("admit", ask, key, rpm, tpm))
        try:
            start = await answer
        finally:
            self._waiting.pop(ask, None)
        wait = start - time.time()
        if wait > 0:
            await asyncio.sleep(wait)

    def spent(self, key: str, tpm: int | None, tokens: int) -> None:
        if tpm is not None and tokens > 0:
            self._send(("spent", key, tpm, tokens))

    def answered(self, ask: int, start: float) -> None:
        answer = self._waiting.get(ask)
        if answer is not None and not answer.done():
            answer.set_result(start)


def _sender(conn: Connection) -> Callable[[tuple[Any, ...]], None]:
    """The worker's one way to send to the driver, from any thread, one message at a time."""
    lock = threading.Lock()
    sending = threading.local()

    def send(message: tuple[Any, ...]) -> None:
        if getattr(sending, "now", False):
            # this thread is inside conn.send already (a finaliser that logs, run by the garbage
            # collector mid-send): taking the lock again would hang the worker for good
            sys.stderr.write(f"{message[3] if message[0] == 'log' else message!r}\n")
            return
        with lock, contextlib.suppress(OSError, ValueError):  # the driver is gone: we close next
            sending.now = True
            try:
                conn.send(message)
            finally:
                sending.now = False

    return send


async def _serve(conn: Connection, job: WorkerJob, log_level: int = logging.WARNING) -> None:
    from value_spectrum.agents import shared_limits
    from value_spectrum.runner.session_worker import SessionWorker

    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
    send = _sender(conn)

    def read() -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                message = ("close",)  # the driver is gone
            loop.call_soon_threadsafe(inbox.put_nowait, message)
            if message[0] == "close":
                return

    threading.Thread(target=read, daemon=True).start()
    root = logging.getLogger()
    root.handlers[:] = [_PipeLog(send, log_level)]
    root.setLevel(log_level)
    limiter = _PipeLimiter(send)
    shared_limits.install(limiter)
    try:
        worker = SessionWorker(job)
        where = await worker.ready()
    except Exception as exc:
        send(("error", f"{type(exc).__name__}: {exc}"))
        return
    send(("ready", where))
    tasks: set[asyncio.Task[None]] = set()  # sessions
    forgets: set[asyncio.Task[None]] = set()  # recorded sessions' checkpoints being dropped

    async def pump(sid: str, spec: dict[str, Any], retry_error: bool) -> None:
        try:
            async for kind, body in worker.run(spec, retry_error):
                send(("item", sid, kind, body))
        except Exception as exc:  # run() reports a session's own failures; this is a bug
            logger.exception("session %s failed in its worker", sid)
            send(("item", sid, "failed", f"{type(exc).__name__}: {exc}"))
        finally:
            send(("item", sid, "end", ""))

    while True:
        message = await inbox.get()
        kind = message[0]
        if kind == "run":
            task = asyncio.create_task(pump(*message[1:]))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        elif kind == "admitted":
            limiter.answered(message[1], message[2])
        elif kind == "drain":
            await worker.drain(message[1])
        elif kind == "forget":
            task = asyncio.create_task(worker.forget(message[1]))
            forgets.add(task)
            task.add_done_callback(forgets.discard)
        elif kind == "close":
            break
    for task in list(tasks):  # only after a stop: they resume from their checkpoints
        task.cancel()
    await asyncio.gather(*tasks, *forgets, return_exceptions=True)
    await worker.close()
