"""tune owns its processes: a relative --server-bin stays a path, a wrapper that does not
`exec` leaves nothing behind (after the tune, or after SIGTERM), every wait ends with
--max-time, and a garbage or hanging `--help` gets one sentence. Fake llama-servers are
shell scripts in a temporary folder around tests/tune/fake_llama_server.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import process_alive
from tokbench.core.processes import resolve_binary
from tokbench.errors import TokbenchError
from tokbench.tune.engines import capture

FAKE = Path(__file__).with_name("fake_llama_server.py")
ONE_KNOB = ("--only", "fa", "--set", "threads=1", "-n", "8", "-r", "2", "--max-reps", "2")


def script(folder: Path, body: str, name: str = "llama-server") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def wrapper(folder: Path) -> Path:
    """A llama-server wrapper that does not exec: sh stays the parent of the server, and a
    stray `sleep` child of its own joins them."""
    fake = f'"{sys.executable}" "{FAKE}"'
    return script(
        folder,
        f'case "$1" in --help) exec {fake} --help ;; esac\n'
        'sleep 300 &\necho $! >> "$FAKE_PIDS"\necho $$ >> "$FAKE_PIDS"\n'
        f'{fake} "$@"\n',
    )


def pids(path: Path) -> list[int]:
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def tune_cmd(model: Path, db: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "tokbench", "tune", str(model), *args, "--db", str(db)]


def env(tmp_path: Path, mode: str) -> dict[str, str]:
    return {**os.environ, "FAKE_MODE": mode, "FAKE_PIDS": str(tmp_path / "pids")}


def test_a_relative_server_bin_stays_a_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_path = script(tmp_path / "path", "exit 0\n")
    here = script(tmp_path / "here", "exit 0\n")
    monkeypatch.chdir(here.parent)
    monkeypatch.setenv("PATH", f"{on_path.parent}{os.pathsep}{os.environ['PATH']}")
    assert resolve_binary("./llama-server", "--server-bin") == here
    assert resolve_binary("llama-server", "--server-bin") == on_path
    assert resolve_binary("../here/llama-server", "--server-bin") == here
    with pytest.raises(TokbenchError, match=r"not found on PATH .*write \./no-such-tool"):
        resolve_binary("no-such-tool", "--server-bin")
    with pytest.raises(TokbenchError, match="no such file"):
        resolve_binary("./missing", "--server-bin")


@pytest.mark.slow
def test_a_wrapper_that_does_not_exec_leaves_no_process_behind(
    gemma_path: Path, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    wrapper(work)
    script(tmp_path / "path", "exit 1\n")  # a decoy llama-server on PATH
    e = env(tmp_path, "fail")
    e["PATH"] = f"{tmp_path / 'path'}{os.pathsep}{e['PATH']}"
    r = subprocess.run(
        tune_cmd(gemma_path, tmp_path / "t.db", "--server-bin", "./llama-server", *ONE_KNOB,
                 "--json"),
        cwd=work, env=e, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 1 and "Every candidate failed" in r.stderr  # the fake refuses
    doc = json.loads(r.stdout)
    assert doc["params"]["server_bin"] == str(work / "llama-server")  # ./ kept: not the decoy
    started = pids(tmp_path / "pids")
    assert len(started) == 9  # fa=auto,on,off: sh, sleep and the server each
    assert not [p for p in started if process_alive(p)]


@pytest.mark.slow
def test_sigterm_mid_measurement_ends_every_server_and_says_interrupted(
    gemma_path: Path, tmp_path: Path
) -> None:
    wrapper(tmp_path / "work")
    proc = subprocess.Popen(
        tune_cmd(gemma_path, tmp_path / "t.db", "--server-bin",
                 str(tmp_path / "work" / "llama-server"), *ONE_KNOB),
        env=env(tmp_path, "hang"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while len(pids(tmp_path / "pids")) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # the server is up and its first completion hangs
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Interrupted: resume with" in err
    assert "interrupted; --resume continues it" in out
    assert "--max-time" not in out
    started = pids(tmp_path / "pids")
    assert len(started) == 3 and not [p for p in started if process_alive(p)]


@pytest.mark.slow
def test_a_server_that_never_becomes_healthy_ends_with_max_time(
    gemma_path: Path, tmp_path: Path
) -> None:
    fake = f'"{sys.executable}" "{FAKE}"'
    sick = script(tmp_path / "work", f'exec {fake} "$@"\n')
    began = time.monotonic()
    r = subprocess.run(
        tune_cmd(gemma_path, tmp_path / "t.db", "--server-bin", str(sick), *ONE_KNOB,
                 "--max-time", "4", "--json"),
        env=env(tmp_path, "sick"), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    took = time.monotonic() - began
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 1 and "did not answer /health" in r.stdout
    # the interpreter and the GGUF read take a few seconds; before, one wait was 600 s
    assert took < 4 + 25, took
    assert not [p for p in pids(tmp_path / "pids") if process_alive(p)]


def test_garbage_help_is_one_sentence(gemma_path: Path, tmp_path: Path) -> None:
    garbage = script(tmp_path, "printf '\\377\\376\\200 binary \\351 noise\\n'; exit 0\n")
    r = subprocess.run(
        tune_cmd(gemma_path, tmp_path / "t.db", "--server-bin", str(garbage)),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "does not look like llama.cpp's llama-server" in r.stderr


def test_a_hanging_help_is_stopped_with_its_children(tmp_path: Path) -> None:
    hang = script(tmp_path, f'sleep 300 &\necho $! > "{tmp_path / "pids"}"\nsleep 300\n')
    began = time.monotonic()
    with pytest.raises(TokbenchError, match="did not finish in 1 s"):
        capture([str(hang), "--help"], 1.0, "--server-bin x --help")
    assert time.monotonic() - began < 10
    child = pids(tmp_path / "pids")
    assert child and not process_alive(child[0])


def test_help_output_is_bounded_and_decoded_with_replacement(tmp_path: Path) -> None:
    endless = script(tmp_path, "while :; do printf '\\377abc'; done\n")
    text = capture([str(endless)], 20.0, "endless")
    assert len(text) <= 1 << 20 and "\ufffdabc" in text


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("threads=100000", "more than this box's"),
        ("batch=100000000", "GiB of RAM"),
    ],
)
def test_settings_beyond_the_box_are_refused_before_the_engine_starts(
    gemma_path: Path, tmp_path: Path, setting: str, message: str
) -> None:
    r = subprocess.run(
        tune_cmd(gemma_path, tmp_path / "t.db", "--set", setting),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert message in r.stderr and len(r.stderr.strip().splitlines()) <= 3
