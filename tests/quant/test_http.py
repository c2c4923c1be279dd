"""`tokbench quant --url` against a loopback vLLM: a faithful fake that answers `/version`,
`/v1/models`, `/tokenize` and `/v1/completions` with `prompt_logprobs` computed by the
bundled Gemma on llama.cpp (the engine the GGUF path scores with), so the served model
measured against a reference of itself gives KLD ~ 0, same-top 100 % and the GGUF path's
perplexity. Also: vLLM's 400 for N > --max-logprobs, and a llama-server-like server refused."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import tokbench
from tokbench.quant.evaluate import _load
from tokbench.quant.score import WindowDecoder

COMMON = ["--ctx", "128", "--chunks", "2", "--threads", "2", "--no-speed"]


class _FakeVllm(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, model_path: Path, max_logprobs: int, kind: str = "vllm") -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.llm = _load(model_path, 128, 2)
        self.lock = threading.Lock()
        self.max_logprobs = max_logprobs
        self.kind = kind
        self.name = "gemma-served"
        self.requests: list[dict[str, Any]] = []

    def prompt_logprobs(self, tokens: list[int], n: int) -> list[Any]:
        """vLLM's shape: None, then per position the n most likely plus the actual token."""
        out: list[Any] = [None]
        with self.lock, WindowDecoder(self.llm, self.llm.n_batch) as dec:
            for off, view in dec.decode(tokens, 0):
                x = view.astype(np.float64)
                lp = x - x.max(axis=1, keepdims=True)
                lp -= np.log(np.exp(lp).sum(axis=1, keepdims=True))
                for r in range(lp.shape[0]):
                    row = lp[r]
                    order = np.lexsort((np.arange(row.size), -row))
                    actual = tokens[off + r + 1]
                    keep = [int(t) for t in order[:n]]
                    if actual not in keep:
                        keep.append(actual)
                    rank = {int(t): i + 1 for i, t in enumerate(order[: n])}
                    out.append({str(t): {"logprob": float(row[t]),
                                         "rank": rank.get(t) or int((row > row[t]).sum()) + 1,
                                         "decoded_token": f"<{t}>"} for t in keep})
        return out


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _FakeVllm

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _json(self, status: int, obj: Any) -> None:
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        srv = self.server
        if self.path == "/version" and srv.kind == "vllm":
            self._json(200, {"version": "0.11.0"})
        elif self.path == "/props" and srv.kind == "llama-server":
            self._json(200, {"default_generation_settings": {"n_ctx": 128},
                             "total_slots": 1, "model_path": "gemma.gguf"})
        elif self.path == "/v1/models":
            self._json(200, {"object": "list", "data": [
                {"id": srv.name, "object": "model", "max_model_len": 128}]})
        else:
            self._json(404, {"detail": "Not Found"})

    def do_POST(self) -> None:
        srv = self.server
        req = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        srv.requests.append(req)
        if req.get("model") != srv.name:
            return self._json(404, {"error": {"message": "model not found", "code": 404}})
        if self.path == "/tokenize":
            text = req["prompt"].encode()
            toks = srv.llm.tokenize(text, add_bos=bool(req.get("add_special_tokens", True)),
                                    special=False) if text else (
                [srv.llm.token_bos()] if req.get("add_special_tokens", True) else [])
            return self._json(200, {"count": len(toks), "max_model_len": 128,
                                    "tokens": list(toks)})
        if self.path == "/v1/completions":
            n = int(req.get("prompt_logprobs") or 0)
            if n > srv.max_logprobs:
                return self._json(400, {"error": {
                    "message": f"Requested prompt logprobs of {n}, which is greater than max "
                               f"allowed: {srv.max_logprobs}",
                    "type": "BadRequestError", "param": "prompt_logprobs", "code": 400}})
            prompt = [int(t) for t in req["prompt"]]
            return self._json(200, {"id": "cmpl-1", "object": "text_completion",
                                    "model": srv.name, "choices": [{
                                        "index": 0, "text": "x", "logprobs": None,
                                        "finish_reason": "length",
                                        "prompt_logprobs": srv.prompt_logprobs(prompt, n)}]})
        return self._json(404, {"detail": "Not Found"})


def _serve(model: Path, max_logprobs: int, kind: str = "vllm") -> Iterator[str]:
    srv = _FakeVllm(model, max_logprobs, kind)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    finally:
        srv.shutdown()
        srv.server_close()
        srv.llm.close()


@pytest.fixture(scope="module")
def vllm_url(gemma_path: Path) -> Iterator[str]:
    yield from _serve(gemma_path, 40)


@pytest.fixture(scope="module")
def ref_file(gemma_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("httpref")
    out = d / "gemma.ref.npz"
    # at most 32 tokens a position: the fake vLLM's --max-logprobs (40) can return them all
    # a module fixture runs before the per-test home is set: give it a home of its own
    env = {"TOKBENCH_CACHE": str(d / "cache"), "TOKBENCH_HOME": str(d / "home")}
    r = tokbench("quant", str(gemma_path), "--save-reference", str(out), "--max-k", "32",
                 *COMMON, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    return out


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"TOKBENCH_CACHE": str(tmp_path / "cache")}


def _fail(*args: str, env: dict[str, str]) -> str:
    r = tokbench(*args, env=env)
    assert r.returncode != 0, r.stdout[-2000:]
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr[-3000:]
    return lines[0]


def test_served_gemma_against_its_own_reference(
    gemma_path: Path, ref_file: Path, vllm_url: str, env: dict[str, str]
) -> None:
    r = tokbench("quant", "--url", vllm_url, "--reference", str(ref_file), "--json", env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads(r.stdout)
    (row,) = [x for x in doc["models"] if x["role"] == "candidate"]
    assert row["model_path"] == "gemma-served" and row["size_bytes"] is None
    assert row["scored_tokens"] == 126 and row["reference_kind"] == "http"
    assert row["kld_approx"] is False and row["bounded_ref_ids"] == 0
    assert abs(row["kld_mean"]) < 1e-4 and row["kld_max"] < 1e-3
    assert row["same_top"] == 1.0
    assert row["perplexity"] == pytest.approx(doc["reference"]["perplexity"], abs=1e-3)
    # the GGUF path on the same model, text and windows
    g = tokbench("quant", str(ref_file), str(gemma_path), *COMMON, "--json", env=env)
    assert g.returncode == 0, g.stderr[-3000:]
    gguf_ppl = json.loads(g.stdout)["models"][0]["perplexity"]
    assert row["perplexity"] == pytest.approx(gguf_ppl, abs=1e-3)
    hist = json.loads(tokbench("history", "--json", env=env).stdout)
    assert any(h["kind"] == "quant" and h["id"] == doc["run_id"] for h in hist)

    # fewer log-probs than the reference keeps: the KLD is marked approximate
    r = tokbench("quant", "--url", vllm_url, "--reference", str(ref_file), "--http-top-n", "4",
                 "--json", env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    row = json.loads(r.stdout)["models"][-1]
    assert row["kld_approx"] is True and row["reference_kind"] == "http-approx"
    assert row["bounded_ref_ids"] > 0 and row["same_top"] == 1.0
    assert row["perplexity"] == pytest.approx(gguf_ppl, abs=1e-3)
    assert "approximate" in r.stderr
    shown = tokbench("show", json.loads(r.stdout)["run_id"], "--format", "md", env=env)
    assert shown.returncode == 0 and "≈" in shown.stdout and "approximate" in shown.stdout


def test_more_than_max_logprobs_says_how_to_start_vllm(
    ref_file: Path, vllm_url: str, env: dict[str, str]
) -> None:
    msg = _fail("quant", "--url", vllm_url, "--reference", str(ref_file), "--http-top-n", "64",
                env=env)
    assert "at most 40" in msg and "--max-logprobs 64" in msg and "--http-top-n" in msg
    assert json.loads(tokbench("history", "--json", env=env).stdout) == []


def test_llama_server_kind_is_refused(gemma_path: Path, ref_file: Path,
                                      env: dict[str, str]) -> None:
    for url in _serve(gemma_path, 20, kind="llama-server"):
        msg = _fail("quant", "--url", url, "--reference", str(ref_file), env=env)
        assert "cannot provide prompt-token log-probabilities" in msg
