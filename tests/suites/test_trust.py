"""A downloaded suite file cannot run code or send a key without the user's say-so."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import tokbench
from tests.testing.fakeserver import FakeConfig, FakeServer

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
