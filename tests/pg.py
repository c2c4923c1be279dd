"""A throwaway PostgreSQL server on loopback for the storage tests: initdb into a temporary
directory, trust authentication on 127.0.0.1 only, a free port. Set TOKBENCH_TEST_PG_URL
(e.g. postgresql://user:pw@host/postgres) to use an existing server instead."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _bindir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if found:
        return found[-1].parent
    if initdb := shutil.which("initdb"):
        return Path(initdb).parent
    raise RuntimeError(
        "PostgreSQL is not installed: apt-get install postgresql (the README's test command "
        "does), or set TOKBENCH_TEST_PG_URL to a server"
    )


@contextmanager
def postgres_server(port: int) -> Iterator[str]:
    """Yield a superuser URL to a fresh server; stop it and delete its files afterwards."""
    bindir = _bindir()
    # PostgreSQL refuses to run as root: as root, run it as the `postgres` user
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    tmp = Path(tempfile.mkdtemp(prefix="tokbench-pg-"))
    data, sock = tmp / "data", tmp / "sock"
    sock.mkdir()
    if as_user:
        shutil.chown(tmp, "postgres")
        shutil.chown(sock, "postgres")

    def run(*cmd: str) -> None:
        r = subprocess.run([*as_user, *cmd], capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed: {r.stderr or r.stdout}")

    run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    opts = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off"
    run(str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(tmp / "log"), "-w", "start")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(tmp, ignore_errors=True)


def fresh_database(admin_url: str, name: str) -> str:
    """Create (or recreate) database `name` and return its URL."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}"


def wait_ready(url: str, timeout_s: float = 30) -> None:
    import psycopg

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            psycopg.connect(url, connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
