"""A throwaway PostgreSQL server for tests: ``initdb`` in a temp dir, ``postgres`` on 127.0.0.1
at a free port (and a unix socket in the same dir), trust authentication, no fsync; stopped and
removed at the end. As root the server runs as ``nobody`` (PostgreSQL refuses to run as root).

Binaries come from ``$PG_BINDIR``, the PATH, or Debian's ``/usr/lib/postgresql/<ver>/bin``
(``apt-get install postgresql``; ``.ci/run`` installs it when missing).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """No server could be started here (the message says why)."""


def bindir() -> Path:
    """The folder holding ``initdb`` and ``pg_ctl``.

    Raises:
        PostgresUnavailable: none found.
    """
    given = os.environ.get("PG_BINDIR")
    if given:
        return Path(given)
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if debian:
        return Path(debian[-1]).parent
    raise PostgresUnavailable("PostgreSQL server binaries not found (apt-get install postgresql, or set PG_BINDIR)")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    runuser = shutil.which("runuser")
    if runuser is None:
        raise PostgresUnavailable("running as root without runuser: cannot start PostgreSQL as another user")
    return [runuser, "-u", "nobody", "--", *cmd]


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Start a server; yield the URL of its ``postgres`` database (user ``postgres``)."""
    bins = bindir()
    root = Path(tempfile.mkdtemp(prefix="vs-pg-"))
    data, log = root / "data", root / "server.log"
    port = free_port()
    if os.geteuid() == 0:
        shutil.chown(root, "nobody", "nogroup")
    root.chmod(0o700)
    try:
        init = subprocess.run(
            _as_server_user([str(bins / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                             "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"]),
            capture_output=True, text=True, timeout=120,
        )
        if init.returncode != 0:
            raise PostgresUnavailable(f"initdb failed: {init.stderr.strip()[-300:]}")
        opts = (f"-k {root} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c shared_buffers=16MB "
                "-c max_connections=100")
        start = subprocess.run(
            _as_server_user([str(bins / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60",
                             "-o", opts, "start"]),
            capture_output=True, text=True, timeout=90,
        )
        if start.returncode != 0:
            tail = log.read_text(errors="replace")[-300:] if log.exists() else start.stderr
            raise PostgresUnavailable(f"postgres did not start: {tail.strip()}")
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run(_as_server_user([str(bins / "pg_ctl"), "-D", str(data), "-m", "immediate",
                                            "-w", "stop"]), capture_output=True, timeout=60)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def fresh_database(server_url: str, name: str) -> str:
    """Create an empty database ``name`` on the server; its URL."""
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + f"/{name}"
