"""The fault server serves what each mode claims (the client is not involved here)."""

from __future__ import annotations

import gzip
import json
import math
import socket
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.testing.faults import (
    FAULTS,
    FAULTS_BY_NAME,
    PROTOCOLS,
    Fault,
    FaultServer,
    ServerConfig,
    fault,
    resolve_path,
)
from tokbench.errors import TokbenchError

FAST = ServerConfig(ttft_s=0.0, itl_s=0.0, stall_s=1.0, keepalive_every_s=0.2)


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    with FaultServer("openai.ok", config=FAST) as srv:
        yield srv


# -- a raw HTTP client that keeps every byte the server sent ----------------------------


@dataclass
class Raw:
    data: bytes  # everything received, head included
    error: str | None  # a socket error (reset) instead of a clean end

    @property
    def head(self) -> bytes:
        return self.data.split(b"\r\n\r\n", 1)[0]

    @property
    def status(self) -> int | None:
        first = self.head.split(b"\r\n", 1)[0].split()
        return int(first[1]) if self.data.startswith(b"HTTP/1.") and len(first) > 1 else None

    def header(self, name: str) -> str | None:
        for line in self.head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == name.lower().encode():
                return v.strip().decode("latin-1")
        return None

    @property
    def header_lines(self) -> list[bytes]:
        return self.head.split(b"\r\n")[1:]

    @property
    def raw_body(self) -> bytes:
        return self.data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in self.data else b""

    def chunks(self) -> tuple[list[bytes], bool]:
        """The chunks of a chunked body, and whether the terminal chunk came."""
        rest, out = self.raw_body, list[bytes]()
        while rest:
            size_line, sep, rest = rest.partition(b"\r\n")
            if not sep:
                break
            try:
                size = int(size_line, 16)
            except ValueError:
                break
            if size == 0:
                return out, True
            out.append(rest[:size])
            rest = rest[size + 2 :]
        return out, False

    @property
    def body(self) -> bytes:
        if (self.header("Transfer-Encoding") or "").lower() == "chunked":
            return b"".join(self.chunks()[0])
        return self.raw_body


def exchange(
    srv: FaultServer, mode: str, method: str, path: str, body: Any = None, timeout: float = 10
) -> Raw:
    payload = json.dumps(body).encode() if body is not None else b""
    req = (
        f"{method} /fault/{mode}{path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload
    got: list[bytes] = []
    error = None
    with socket.create_connection(("127.0.0.1", srv.port), timeout=timeout) as s:
        s.sendall(req)
        try:
            while part := s.recv(1 << 20):
                got.append(part)
        except ConnectionResetError as exc:
            error = str(exc)
    return Raw(b"".join(got), error)


CHAT_BODY = {
    "model": "m",
    "messages": [{"role": "user", "content": "say hi"}],
    "stream": True,
    "max_tokens": 8,
    "stream_options": {"include_usage": True},
}


def request_for(f: Fault) -> tuple[str, str, Any]:
    """The request that meets the mode's broken endpoint."""
    where = f.where
    if where == "any":
        where = "version" if f.protocol == "ollama" else "models"
    if where == "stream":
        path = "/api/chat" if f.protocol == "ollama" else "/v1/chat/completions"
        return "POST", path, CHAT_BODY
    return {
        "models": ("GET", "/v1/models", None),
        "props": ("GET", "/props", None),
        "health": ("GET", "/health", None),
        "tokenize": ("POST", "/tokenize", {"content": "a b c"}),
        "version": ("GET", "/api/version", None),
        "tags": ("GET", "/api/tags", None),
        "show": ("POST", "/api/show", {"model": "fault-model:latest"}),
    }[where]


def records(body: bytes) -> list[Any]:
    """The JSON records of an SSE or NDJSON body ([DONE] left out)."""
    out = []
    if body.startswith(b"data:") or b"\ndata:" in body[:200]:
        payloads = [ev[5:].strip() for ev in body.split(b"\n\n") if ev.startswith(b"data:")]
    else:
        payloads = [ln for ln in body.split(b"\n") if ln.strip()]
    for p in payloads:
        if p != b"[DONE]":
            out.append(json.loads(p))
    return out


def get_path(obj: Any, path: tuple[str | int, ...]) -> Any:
    for key in path:
        in_list = isinstance(key, int) and isinstance(obj, list) and len(obj) > key
        if in_list or (isinstance(key, str) and isinstance(obj, dict) and key in obj):
            obj = obj[key]
        else:
            raise KeyError(path)
    return obj


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return bool(type(a) is type(b) and a == b)


def finished(f: Fault, body: bytes) -> bool:
    recs = records(body)
    if f.protocol == "ollama":
        return any(isinstance(r, dict) and r.get("done") is True for r in recs)
    return body.rstrip().endswith(b"data: [DONE]")


# -- the table ---------------------------------------------------------------------------


def test_table_is_large_unique_and_covers_every_protocol_and_class() -> None:
    assert len(FAULTS) >= 100
    assert len(FAULTS_BY_NAME) == len(FAULTS)
    per_protocol = Counter(f.protocol for f in FAULTS)
    assert set(per_protocol) == set(PROTOCOLS) and min(per_protocol.values()) >= 30
    classes = {f.klass for f in FAULTS}
    assert {
        "shape",
        "transport",
        "http-status",
        "http-framing",
        "bounds",
        "markup",
        "encoding",
        "setup-status",
    } <= classes
    for f in FAULTS:
        assert f.name.split(".")[0] in ("openai", "llama", "ollama"), f.name
        assert f.expect in ("error", "ok", "ok_partial")
        assert set(f.commands) <= {"run", "bench"} and f.commands
        assert f.description


@pytest.mark.parametrize(
    "needle",
    [
        "usage-string",
        "usage-list",
        "completion-details-string",
        "choices-object",
        "content-number",
        "content-list",
        "content-object",
        "reasoning-number",
        "reasoning-list",
        "reasoning-object",
        "surrogate-content",
        "completion-tokens-1e29",
        "completion-tokens-negative",
        "completion-tokens-2p60",
        "props-n-ctx-string",
        "tags-models-object",
        "show-details-string",
        "non-http",
        "huge-header",
        "many-headers",
        "one-write",
        "completion-tokens-string",
        "eval-count-string",
        "keepalive-forever",
        "endless",
        "huge-line-50mb",
        "cut-close",
        "no-final-newline",
        "models-429",
        "http-400",
        "http-503",
        "reset",
        "stall",
        "gzip",
        "http-500-html",
        "invalid-utf8",
        "error-markup",
        "model-name-bold",
        "model-name-llama3",
        "model-name-ansi",
        "timings-string",
        "timings-list",
        "timings-capture",
    ],
)
def test_every_issue_class_has_a_mode(needle: str) -> None:
    assert any(needle in f.name for f in FAULTS), needle


def test_error_shape_modes_name_the_field() -> None:
    for f in FAULTS:
        if f.patch is not None and f.expect == "error" and f.klass == "shape":
            field = str(resolve_path(f.patch.path, "chat")[-1]) if f.patch.path else ""
            assert f.reason, f.name
            assert f.reason in (field, "/api/tags", "/v1/models") or f.reason in f.description, (
                f.name
            )


def test_unknown_mode_is_a_clear_error(server: FaultServer) -> None:
    with pytest.raises(TokbenchError, match="unknown fault mode"):
        fault("nope")
    with pytest.raises(TokbenchError):
        FaultServer("nope")
    raw = exchange(server, "nope", "GET", "/v1/models")
    assert raw.status == 404 and b"unknown fault mode" in raw.body


# -- every mode serves what it claims ----------------------------------------------------

QUICK = [f for f in FAULTS if not f.slow]


@pytest.mark.parametrize("f", QUICK, ids=[f.name for f in QUICK])
def test_mode_serves_what_it_claims(server: FaultServer, f: Fault) -> None:
    method, path, body = request_for(f)
    raw = exchange(server, f.name, method, path, body)
    seen = [s for s in server.seen if s.mode == f.name]
    if f.transport not in ("non-http", "garbage", "reset"):
        assert seen and seen[-1].path == path
    if f.status:
        assert raw.status == f.status
        assert raw.body == (f.body or b"")
        if f.literal:
            assert f.literal.encode() in raw.body
        return
    if f.transport:
        check_transport(f, raw)
        return
    assert raw.status == 200, raw.data[:300]
    if f.raw_record:
        assert b"data: " + f.raw_record + b"\n\n" in raw.body or f.raw_record + b"\n" in raw.body
        return
    if f.raw_content:
        assert f.raw_content in raw.body
        with pytest.raises(UnicodeDecodeError):
            raw.body.decode("utf-8")
        return
    if f.model:
        listing = json.loads(raw.body)
        names = (
            [m["id"] for m in listing["data"]]
            if "data" in listing
            else [m["name"] for m in listing["models"]]
        )
        assert names == [f.model]
        return
    if f.patch is None:  # a baseline: a complete, well-formed answer
        assert finished(f, raw.body)
        return
    check_patch(f, raw)


def check_patch(f: Fault, raw: Raw) -> None:
    p = f.patch
    assert p is not None
    if p.target == "body":
        obj = json.loads(raw.body)
        if p.path:
            assert same(get_path(obj, p.path), p.value)
        else:
            assert obj == p.value
        return
    kind = "ollama-chat" if f.protocol == "ollama" else "chat"
    path = resolve_path(p.path, kind)
    recs = records(raw.body)
    if p.delete:
        final = [r for r in recs if r.get("done") is True]
        assert final and all(path[-1] not in r for r in final)
        return
    hits = []
    for r in recs:
        try:
            hits.append(get_path(r, path))
        except KeyError:
            continue
    assert any(same(h, p.value) for h in hits), (f.name, hits[:3])
    if isinstance(p.value, str) and "\ud83d" in p.value:
        assert b"\\ud83d" in raw.body  # the escaped lone surrogate travels as JSON text
    if isinstance(p.value, float) and p.value == 1e29:
        assert b"1e+29" in raw.body


def check_transport(f: Fault, raw: Raw) -> None:
    t = f.transport
    if t == "reset":
        assert raw.status is None and (raw.error or not raw.data)
    elif t == "reset-mid":
        assert raw.status == 200 and not raw.chunks()[1]
        assert raw.error or not finished(f, raw.body)
    elif t == "cut-close":
        assert raw.header("Connection") == "close"
        assert raw.header("Content-Length") is None and raw.header("Transfer-Encoding") is None
        assert b"tok " in raw.body and not finished(f, raw.body)
    elif t == "cut-chunked":
        chunks, terminated = raw.chunks()
        assert chunks and not terminated and not finished(f, raw.body)
    elif t == "bad-chunk-size":
        assert b"\r\nzz\r\n" in raw.raw_body
    elif t == "length-short":
        assert int(raw.header("Content-Length") or 0) > len(raw.raw_body) + 50_000
    elif t == "one-write":
        assert int(raw.header("Content-Length") or -1) == len(raw.raw_body)
        assert finished(f, raw.body)
    elif t == "byte-at-a-time":
        chunks, terminated = raw.chunks()
        assert terminated and len(chunks) > 100 and {len(c) for c in chunks} == {1}
        assert finished(f, raw.body)
    elif t == "non-http":
        assert raw.data.startswith(b"SSH-2.0-") and raw.status is None
    elif t == "garbage":
        assert len(raw.data) == 4096 and raw.status is None
    elif t == "huge-header":
        assert max(len(h) for h in raw.header_lines) >= 70_000
    elif t == "many-headers":
        assert len(raw.header_lines) > 100
    elif t == "gzip":
        assert raw.header("Content-Encoding") == "gzip"
        assert finished(f, gzip.decompress(raw.body))
    elif t == "html-200":
        assert raw.status == 200 and (raw.header("Content-Type") or "").startswith("text/html")
    elif t == "json-not-stream":
        assert raw.header("Content-Type") == "application/json" and json.loads(raw.body)
    elif t == "bom":
        assert raw.body.startswith(b"\xef\xbb\xbfdata: ") and finished(f, raw.body[3:])
    elif t == "no-final-newline":
        assert raw.body.endswith(b"}") and json.loads(raw.body.rsplit(b"\n", 1)[-1])["done"]
    elif t == "no-final-record":
        assert raw.chunks()[1] and not finished(f, raw.body) and b"tok " in raw.body
    else:
        raise AssertionError(f"no check for transport {t}")


# -- the protocols themselves ------------------------------------------------------------


def test_each_personality_answers_only_its_own_probes(server: FaultServer) -> None:
    assert exchange(server, "openai.ok", "GET", "/props").status == 404
    assert exchange(server, "openai.ok", "GET", "/api/version").status == 404
    props = json.loads(exchange(server, "llama.ok", "GET", "/props").body)
    assert isinstance(props["build_info"], str) and props["default_generation_settings"]
    assert exchange(server, "llama.ok", "GET", "/api/version").status == 404
    assert json.loads(exchange(server, "ollama.ok", "GET", "/api/version").body)["version"]
    assert exchange(server, "ollama.ok", "GET", "/v1/models").status == 404
    health = exchange(server, "llama.ok", "GET", "/health")
    assert json.loads(health.body) == {"status": "ok"}
    tok = exchange(server, "llama.ok", "POST", "/tokenize", {"content": "a b c"})
    assert len(json.loads(tok.body)["tokens"]) == 4  # three words and BOS


def test_llama_server_timings_and_forced_length(server: FaultServer) -> None:
    body = {
        "prompt": "one two three",
        "max_tokens": 20,
        "ignore_eos": True,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    raw = exchange(server, "llama.ok", "POST", "/v1/completions", body)
    recs = records(raw.body)
    texts = [r["choices"][0]["text"] for r in recs if r["choices"][0]["text"]]
    assert len(texts) == 20  # forced: exactly what was asked
    t = recs[-1]["timings"]
    assert t["predicted_n"] == 20 and recs[-1]["usage"]["completion_tokens"] == 20
    # the server's per-token figure spans the n-1 intervals after the first token
    assert t["predicted_per_second"] == pytest.approx(19 / t["predicted_ms"] * 1000)
    native = exchange(
        server, "llama.ok", "POST", "/completion", {"prompt": "x", "n_predict": 3, "stream": True}
    )
    last = records(native.body)[-1]
    assert last["stop"] is True and last["timings"]["predicted_n"] == 3


def test_ollama_final_record_carries_durations_in_ns(server: FaultServer) -> None:
    raw = exchange(
        server,
        "ollama.ok",
        "POST",
        "/api/generate",
        {"prompt": "a b", "options": {"num_predict": 5}},
    )
    recs = records(raw.body)
    assert [r["response"] for r in recs[:-1]] == ["tok "] * 5
    final = recs[-1]
    assert final["done"] is True and final["eval_count"] == 5
    for key in ("eval_duration", "prompt_eval_duration", "total_duration", "load_duration"):
        assert isinstance(final[key], int) and final[key] > 0
    assert final["total_duration"] >= final["eval_duration"] + final["prompt_eval_duration"]
    tags = json.loads(exchange(server, "ollama.ok", "GET", "/api/tags").body)
    assert tags["models"][0]["name"] == "fault-model:latest"


def test_path_prefix_selects_the_mode_and_default_applies_without_it() -> None:
    with FaultServer("ollama.ok", config=FAST) as srv:
        assert srv.url == f"{srv.root}/fault/ollama.ok"
        assert srv.url_for("openai.ok").endswith("/fault/openai.ok/v1")
        with socket.create_connection(("127.0.0.1", srv.port)) as s:
            s.sendall(b"GET /api/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert b'"version"' in s.recv(65536) + s.recv(65536)
        raw = exchange(srv, "openai.usage-string", "POST", "/v1/chat/completions", CHAT_BODY)
        assert records(raw.body)[-1]["usage"] == "12 tokens"
        assert {s.mode for s in srv.seen} == {"ollama.ok", "openai.usage-string"}


def test_a_mode_only_breaks_its_own_endpoint(server: FaultServer) -> None:
    models = exchange(server, "openai.usage-string", "GET", "/v1/models")
    assert json.loads(models.body)["data"][0]["id"] == "fault-model"
    chat = exchange(server, "openai.models-429", "POST", "/v1/chat/completions", CHAT_BODY)
    assert chat.status == 200 and finished(fault("openai.ok"), chat.body)


# -- the modes that never end on their own are bounded -----------------------------------


def test_keepalive_forever_stops_by_itself(server: FaultServer) -> None:
    t0 = time.monotonic()
    raw = exchange(server, "openai.keepalive-forever", "POST", "/v1/chat/completions", CHAT_BODY)
    elapsed = time.monotonic() - t0
    assert raw.body.count(b": keep-alive\n\n") >= 3 and b"data:" not in raw.body
    assert 0.8 < elapsed < 5
    nd = exchange(server, "ollama.keepalive-forever", "POST", "/api/chat", CHAT_BODY)
    assert nd.body.strip() == b"" and nd.body.count(b"\n") >= 3


def test_endless_stream_stops_at_its_byte_bound() -> None:
    cfg = ServerConfig(ttft_s=0, itl_s=0, stall_s=5.0, endless_max_bytes=2_000_000)
    with FaultServer("openai.endless", config=cfg) as srv:
        raw = exchange(srv, "openai.endless", "POST", "/v1/chat/completions", CHAT_BODY)
    assert 2_000_000 < len(raw.body) < 3_000_000 and not finished(fault("openai.ok"), raw.body)


def test_endless_stream_stops_when_the_client_leaves() -> None:
    cfg = ServerConfig(ttft_s=0, itl_s=0, stall_s=20.0)
    with FaultServer("llama.endless", config=cfg) as srv:
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        body = json.dumps(CHAT_BODY).encode()
        s.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
            b"\r\n%b" % (len(body), body)
        )
        assert s.recv(65536).startswith(b"HTTP/1.1 200")
        s.close()
        t0 = time.monotonic()
        # the writer thread gets EPIPE/ECONNRESET and ends: a new request is still served
        raw = exchange(srv, "llama.ok", "GET", "/props")
        assert raw.status == 200 and time.monotonic() - t0 < 5


def test_stalls_send_nothing_and_end_after_stall_s(server: FaultServer) -> None:
    t0 = time.monotonic()
    raw = exchange(server, "openai.stall", "POST", "/v1/chat/completions", CHAT_BODY)
    assert raw.data == b"" and 0.8 < time.monotonic() - t0 < 5
    mid = exchange(server, "ollama.stall-mid", "POST", "/api/chat", CHAT_BODY)
    assert mid.status == 200 and mid.body.count(b"tok ") == 2 and not mid.chunks()[1]


def test_huge_line_is_one_line_of_the_promised_size(server: FaultServer) -> None:
    f = fault("ollama.huge-line-50mb")
    raw = exchange(server, f.name, "POST", "/api/chat", CHAT_BODY, timeout=60)
    first = raw.body.split(b"\n", 1)[0]
    content = json.loads(first)["message"]["content"]
    assert len(content) == f.size == 50 * 1024 * 1024 and set(content[:1000]) == {"a"}
    assert finished(f, raw.body)


# -- the case list for the driver test ---------------------------------------------------


def test_fault_cases_cover_every_mode_with_consistent_outcomes() -> None:
    from tests.testing.fault_cases import CASES, EXIT_ERROR, EXIT_FAILED, EXIT_OK

    assert {c.fault for c in CASES} == set(FAULTS_BY_NAME)
    assert len({c.id for c in CASES}) == len(CASES)
    for c in CASES:
        f = FAULTS_BY_NAME[c.fault]
        assert c.args[0] == c.command and "{url}" in c.args
        assert ("{suite}" in c.args) == (c.command == "run")
        assert ("--backend" in c.args) == (not f.detect)
        if c.expect == "error":
            want = EXIT_ERROR if f.phase == "setup" else EXIT_FAILED
            assert (c.exit_code, c.stored != "ok") == (want, True), c.id
        else:
            assert c.exit_code == EXIT_OK and c.stored in ("ok", "ok_flagged"), c.id
    # bench cannot name the Ollama protocol: those cases must rely on detection
    assert not any(c.command == "bench" and "ollama" in c.args for c in CASES)
