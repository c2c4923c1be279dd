"""A downloaded suite file cannot run code or send a key without the user's say-so."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest

from tests.conftest import tokbench
from tests.testing.fakeserver import FakeConfig, FakeServer
from tokbench.errors import TokbenchError
from tokbench.suites.loader import BUILTIN, load_suite
from tokbench.suites.trust import Trust, check_trust

CODE = """
name = "evil"
[[items]]
id = "q"
prompt = "Say hello."
max_tokens = 8
[items.grade]
score = "python"
function = "os:system"
"""

JUDGE = """
name = "judged"
[[items]]
id = "q"
prompt = "Say hello."
max_tokens = 8
[items.grade]
score = "judge"
[items.grade.judge]
url = "{url}"
rubric = "PASS if it says hello"
api_key_env = "OPENAI_API_KEY"
"""

HARMLESS = CODE.replace("os:system", "tests.grade.test_pipeline:has_hello")


def test_python_grader_needs_allow_code(tmp_path: Path, tb_home: Path) -> None:
    suite = tmp_path / "evil.toml"
    suite.write_text(CODE)
    with FakeServer(FakeConfig(n_tokens=3)) as srv:
        r = tokbench("run", "--url", srv.url, "--suite", str(suite))
        assert srv.requests == []  # refused before anything was sent
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "os:system" in r.stderr and "--allow-code" in r.stderr
    harmless = tmp_path / "ok.toml"
    harmless.write_text(HARMLESS)
    with FakeServer(FakeConfig(n_tokens=3)) as srv:
        r = tokbench("run", "--url", srv.url, "--suite", str(harmless), "--allow-code")
    assert r.returncode == 0, r.stderr


def test_judge_needs_its_url_allowed_and_only_it_gets_the_key(
    tmp_path: Path, tb_home: Path
) -> None:
    with FakeServer(FakeConfig(n_tokens=3)) as srv, FakeServer(FakeConfig(n_tokens=3)) as judge:
        suite = tmp_path / "judged.toml"
        suite.write_text(JUDGE.format(url=judge.url))
        env = {"OPENAI_API_KEY": "sk-user-secret"}
        r = tokbench("run", "--url", srv.url, "--suite", str(suite), env=env)
        assert r.returncode != 0 and judge.url in r.stderr and "$OPENAI_API_KEY" in r.stderr
        assert srv.requests == [] and judge.requests == []
        other = tokbench(
            "run", "--url", srv.url, "--suite", str(suite), "--allow-judge", srv.url, env=env
        )
        assert other.returncode != 0 and judge.requests == []  # another URL was allowed
        ok = tokbench(
            "run", "--url", srv.url, "--suite", str(suite), "--allow-judge", judge.url, env=env
        )
        assert ok.returncode == 0, ok.stderr
        assert judge.requests  # the judge was asked


class _Recorder(ThreadingHTTPServer):
    """Any HTTP server on loopback: it keeps every request's method, path and headers."""

    daemon_threads = True
    seen: list[tuple[str, str, dict[str, str]]]


class _RecordingHandler(BaseHTTPRequestHandler):
    server: _Recorder

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _record(self) -> None:
        self.server.seen.append((self.command, self.path, dict(self.headers.items())))
        body = b'{"error": {"message": "recorder"}}'
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _record


@contextmanager
def recorder() -> Iterator[_Recorder]:
    srv = _Recorder(("127.0.0.1", 0), _RecordingHandler)
    srv.seen = []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def _cli(cwd: Path, *args: str, env: dict[str, str] | None = None) -> CompletedProcess[str]:
    """The real CLI run from `cwd`, so that a relative suite path stays relative."""
    return subprocess.run(
        [sys.executable, "-m", "tokbench", *args],
        capture_output=True, text=True, timeout=300, cwd=cwd, env={**os.environ, **(env or {})},
    )  # fmt: skip


# The same file reached three ways: absolute, relative, and ./relative.
def _spellings(tmp_path: Path, name: str) -> list[str]:
    return [str(tmp_path / name), name, f"./{name}"]


def test_a_file_named_builtin_cannot_run_code(tmp_path: Path, tb_home: Path) -> None:
    """A suite's origin, not its name, makes it built-in: `builtin:seed5.toml` is a file."""
    marker = tmp_path / "ran"
    (tmp_path / "builtin:seed5.toml").write_text(CODE)
    # The "model" answers with a shell command; os.system would run it as the grader.
    cfg = FakeConfig(n_tokens=1, token=f"touch {marker}")
    for spelling in _spellings(tmp_path, "builtin:seed5.toml"):
        with FakeServer(cfg) as srv:
            r = _cli(tmp_path, "run", "--url", srv.url, "--suite", spelling)
            assert srv.requests == []  # refused before anything was sent
        assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
        assert "os:system" in r.stderr and "--allow-code" in r.stderr
        assert not marker.exists()
    # The control: the same file with the user's consent does run the answer.
    with FakeServer(cfg) as srv:
        ok = _cli(tmp_path, "run", "--url", srv.url, "--suite", "builtin:seed5.toml",
                  "--allow-code")  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert marker.exists()


def test_a_file_named_builtin_cannot_send_a_key(tmp_path: Path, tb_home: Path) -> None:
    env = {"OPENAI_API_KEY": "sk-user-secret"}
    with recorder() as judge, FakeServer(FakeConfig(n_tokens=3)) as srv:
        judge_url = f"http://127.0.0.1:{judge.server_address[1]}/v1"
        (tmp_path / "builtin:judge.toml").write_text(JUDGE.format(url=judge_url))
        for spelling in _spellings(tmp_path, "builtin:judge.toml"):
            r = _cli(tmp_path, "run", "--url", srv.url, "--suite", spelling, env=env)
            assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
            assert "--allow-judge" in r.stderr and "$OPENAI_API_KEY" in r.stderr
            assert judge.seen == [] and srv.requests == []
        ok = _cli(tmp_path, "run", "--url", srv.url, "--suite", "builtin:judge.toml",
                  "--allow-judge", judge_url, env=env)  # fmt: skip
        assert ok.returncode == 0, ok.stderr
    # The control: with consent the judge is asked, with the key.
    assert any(h.get("Authorization") == "Bearer sk-user-secret" for _, _, h in judge.seen)


def test_only_package_data_is_builtin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert all(load_suite(name).builtin for name in BUILTIN)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "builtin:seed5.toml").write_text(CODE)
    suite = load_suite("builtin:seed5.toml")
    assert suite.source == "builtin:seed5.toml" and not suite.builtin
    with pytest.raises(TokbenchError, match="--allow-code"):
        check_trust(suite, Trust())
