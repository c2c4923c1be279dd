"""The fault catalogue: every way the loopback fault server can break a protocol.

Each `Fault` row names what breaks (an endpoint, a field, the framing, a bound) and
what a correct client must conclude (`expect`): `error` (that request, or the setup,
fails with a one-line reason that mentions `reason`), `ok` (completes normally) or
`ok_partial` (completes and is kept, but flagged: a figure left out, text cleaned).
`tests.testing.faults.FaultServer` serves them; `tests/testing/fault_cases.py`
turns them into `tokbench run`/`bench` cases.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from tokbench.errors import TokbenchError

Protocol = Literal["openai", "llama-server", "ollama"]
Expect = Literal["error", "ok", "ok_partial"]
# the endpoint a mode breaks; every other endpoint answers normally ("any": all of them)
Where = Literal["stream", "models", "props", "health", "tokenize", "version", "tags", "show", "any"]
Target = Literal["token", "finish", "final", "body"]
Kind = Literal["chat", "text", "llama", "ollama-chat", "ollama-generate"]

PROTOCOLS: tuple[Protocol, ...] = ("openai", "llama-server", "ollama")
PREFIX: dict[Protocol, str] = {"openai": "openai", "llama-server": "llama", "ollama": "ollama"}
# endpoints read before the first request: a fault there fails (or degrades) setup
SETUP_ENDPOINTS = frozenset({"models", "props", "health", "version", "tags", "show", "any"})
DEFAULT_MODEL = "fault-model"
OLLAMA_MODEL = "fault-model:latest"


@dataclass(frozen=True, slots=True)
class Patch:
    """Set (or delete) one field of a normal JSON record before it is sent.

    `target`: the first answer token's record, the record carrying the finish reason,
    the record carrying the counts (OpenAI's usage chunk, llama-server's timings chunk,
    Ollama's `done` record), or a plain endpoint's whole body. A path may start with an
    alias that each endpoint resolves to its own field: `$content`, `$reasoning`,
    `$finish`.
    """

    target: Target
    path: tuple[str | int, ...]
    value: object = None
    delete: bool = False


@dataclass(frozen=True, slots=True)
class Fault:
    name: str  # unique; used in the URL: /fault/<name>/
    protocol: Protocol
    klass: str  # the family of the fault (shape, transport, http-status, bounds, markup...)
    description: str
    expect: Expect  # error: that request (or setup) fails with a one-line reason;
    # ok: a correct client completes normally; ok_partial: completes, kept, but flagged
    where: Where = "stream"
    reason: str = ""  # a word a correct error or flag names (a field, a status, a bound)
    patch: Patch | None = None
    status: int = 0  # answer the endpoint with this HTTP status instead
    body: bytes | None = None  # ... and this body (None: no body at all)
    content_type: str = "application/json"
    transport: str = ""  # a named transport behaviour (see _Handler._transport)
    raw_record: bytes = b""  # sent verbatim in place of the first token's record
    raw_content: bytes = b""  # spliced verbatim as the first token's JSON string value
    size: int = 0  # bytes, for the size modes
    n_tokens: int = 0  # answer tokens regardless of what was asked (0: as asked)
    model: str = ""  # served model name instead of the default
    literal: str = ""  # foreign text a correct client prints verbatim (escaped, inert)
    absent: str = ""  # bytes that must never reach the terminal raw
    detect: bool = True  # auto-detection still finds the protocol (else pass --backend)
    slow: bool = False  # takes seconds by design (stalls, deadlines, huge bodies)
    commands: tuple[str, ...] = ("run", "bench")
    expect_bench: Expect | None = None  # when `bench` must conclude otherwise

    @property
    def phase(self) -> Literal["setup", "request"]:
        return "setup" if self.where in SETUP_ENDPOINTS else "request"

    def expect_for(self, command: str) -> Expect:
        return self.expect_bench if command == "bench" and self.expect_bench else self.expect


def _status_body(protocol: Protocol, message: str) -> bytes:
    if protocol == "ollama":
        return json.dumps({"error": message}).encode()
    return json.dumps({"error": {"message": message, "type": "server_error"}}).encode()


_HTML_500 = (
    b"<html><head><title>500</title></head><body><h1>Internal Server Error</h1></body></html>"
)
_HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad "
    b"Gateway</h1></center>\r\n<hr><center>nginx/1.24.0</center>\r\n</body>\r\n</html>\r\n"
)
# (status, variant, message or raw body); one mode per protocol each
_STATUSES: tuple[tuple[int, str, str | bytes | None], ...] = (
    (400, "json", "max_tokens must be at least 1"),
    (401, "json", "Invalid API key"),
    (403, "empty", None),
    (404, "json", "model 'fault-model' not found"),
    (408, "empty", None),
    (413, "empty", None),
    (422, "json", "field required: messages"),
    (429, "json", "Rate limit reached, retry in 20 s"),
    (500, "empty", None),
    (500, "html", _HTML_500),
    (502, "html", _HTML_502),
    (503, "json", "Loading model"),
    (503, "empty", None),
)


def _status_faults() -> list[Fault]:
    out = []
    for proto in PROTOCOLS:
        for status, variant, msg in _STATUSES:
            if variant == "json":
                assert isinstance(msg, str)
                body: bytes | None = _status_body(proto, msg)
                ctype = "application/json"
            elif variant == "html":
                assert isinstance(msg, bytes)
                body, ctype = msg, "text/html"
            else:
                body, ctype = None, "application/json"
            out.append(
                Fault(
                    f"{PREFIX[proto]}.http-{status}-{variant}",
                    proto,
                    "http-status",
                    f"the generation endpoint answers HTTP {status} ({variant} body)",
                    "error",
                    reason=str(status),
                    status=status,
                    body=body,
                    content_type=ctype,
                )
            )
    return out


# named stream transports: (slug, description, expect, reason, slow)
_TRANSPORTS: tuple[tuple[str, str, Expect, str, bool], ...] = (
    ("reset", "the connection is reset (RST) before any byte of the answer", "error", "", False),
    ("reset-mid", "the connection is reset after two tokens", "error", "", False),
    ("stall", "no byte at all after the request (bounded)", "error", "timeout", True),
    ("stall-mid", "the stream stops sending after two tokens (bounded)", "error", "", True),
    (
        "cut-close",
        "Connection: close framing, closed cleanly after half the tokens: no finish, no "
        "final record",
        "error",
        "ended",
        False,
    ),
    ("cut-chunked", "chunked framing closed without its last chunk", "error", "", False),
    ("bad-chunk-size", "a chunk-size line that is not hex", "error", "", False),
    (
        "length-short",
        "Content-Length promises more bytes than are sent, then the connection closes",
        "error",
        "",
        False,
    ),
    (
        "one-write",
        "the whole response in one write, like a buffering reverse proxy: every token "
        "arrives in the same read",
        "ok_partial",
        "one read",
        False,
    ),
    ("byte-at-a-time", "every byte of the stream in its own chunk", "ok", "", False),
    ("non-http", "the server answers with an SSH banner instead of HTTP", "error", "", False),
    ("garbage", "4 KiB of binary noise instead of an HTTP response", "error", "", False),
    ("huge-header", "a 70 KB header line", "error", "header", False),
    ("many-headers", "150 header lines (http.client allows 100)", "error", "header", False),
    ("gzip", "the stream gzip-compressed though nobody asked for it", "error", "gzip", False),
    ("html-200", "HTTP 200 with an HTML page instead of a stream", "error", "stream", False),
    ("json-not-stream", "HTTP 200 with one JSON object, not a stream", "error", "stream", False),
)


def _transport_faults() -> list[Fault]:
    out = []
    for proto in PROTOCOLS:
        for slug, desc, expect, reason, slow in _TRANSPORTS:
            if slug == "json-not-stream" and proto == "ollama":
                # one JSON object with done: true is a valid one-record NDJSON stream;
                # it carries no counts or durations, so those are left out
                desc, expect, reason = desc + " (for Ollama: one final record)", "ok_partial", ""
            out.append(
                Fault(
                    f"{PREFIX[proto]}.{slug}",
                    proto,
                    "http-framing" if slug in _FRAMING else "transport",
                    desc,
                    expect,
                    reason=reason,
                    transport=slug,
                    slow=slow,
                )
            )
    # the same breakage on every endpoint: setup (detection, model list) meets it first
    for slug in ("non-http", "garbage", "huge-header", "many-headers"):
        desc = {t[0]: t[1] for t in _TRANSPORTS}[slug]
        for proto in PROTOCOLS:
            auto = proto == "openai"  # the others name --backend, to reach their own setup
            out.append(
                Fault(
                    f"{PREFIX[proto]}.{slug}-everywhere",
                    proto,
                    "http-framing",
                    desc + ", on every endpoint",
                    "error",
                    where="any",
                    reason="header" if "header" in slug else "",
                    transport=slug,
                    detect=auto,
                    # bench has no --backend ollama: it can only reach Ollama by detection
                    commands=("run",) if proto == "ollama" else ("run", "bench"),
                )
            )
    return out


_FRAMING = frozenset({"non-http", "garbage", "huge-header", "many-headers", "byte-at-a-time"})


def _bounds_faults() -> list[Fault]:
    out = []
    for proto in PROTOCOLS:
        p = PREFIX[proto]
        idle = "blank NDJSON lines" if proto == "ollama" else "SSE comments (: keep-alive)"
        out += [
            Fault(
                f"{p}.keepalive-forever",
                proto,
                "bounds",
                f"{idle} every second and nothing else: only a whole-request deadline ends it",
                "error",
                reason="--timeout",
                transport="keepalive-forever",
                slow=True,
            ),
            Fault(
                f"{p}.endless",
                proto,
                "bounds",
                "tokens as fast as the socket takes them, never a final record: only a size "
                "bound ends it",
                "error",
                reason="--max-response",
                transport="endless",
                slow=True,
            ),
            Fault(
                f"{p}.huge-line-50mb",
                proto,
                "bounds",
                "one 50 MB token line (within the 64 MB default bound): must be read in "
                "linear time",
                "ok",
                transport="huge-line",
                size=50 * 1024 * 1024,
                slow=True,
            ),
            Fault(
                f"{p}.huge-line-80mb",
                proto,
                "bounds",
                "one 80 MB token line: over the 64 MB default response bound",
                "error",
                reason="--max-response",
                transport="huge-line",
                size=80 * 1024 * 1024,
                slow=True,
            ),
        ]
    return out


def _shape(
    proto: Protocol,
    slug: str,
    desc: str,
    target: Target,
    path: tuple[str | int, ...],
    value: object,
    reason: str,
    expect: Expect = "error",
    **kw: Any,
) -> Fault:
    return Fault(
        f"{PREFIX[proto]}.{slug}",
        proto,
        kw.pop("klass", "shape"),
        desc,
        expect,
        reason=reason,
        patch=Patch(target, path, value, kw.pop("delete", False)),
        **kw,
    )


def _openai_like_shapes(proto: Protocol) -> list[Fault]:
    """Wrong shapes every OpenAI-compatible stream can carry (OpenAI and llama-server)."""
    f: list[Fault] = []
    usage = ("usage",)
    f += [
        _shape(proto, "usage-string", "usage is a string", "final", usage, "12 tokens", "usage"),
        _shape(proto, "usage-list", "usage is a list", "final", usage, [1, 2, 3], "usage"),
    ]
    ct = ("usage", "completion_tokens")
    for slug, value, what in (
        ("completion-tokens-string", "10", "a string"),
        ("completion-tokens-1e29", 1e29, "1e29 (overflows SQLite's integer)"),
        ("completion-tokens-int-1e29", 10**29, "a 30-digit integer"),
        ("completion-tokens-negative", -1, "-1"),
        ("completion-tokens-2p60", 2**60, "2**60 (beyond 2**53)"),
        ("completion-tokens-nan", float("nan"), "NaN (Python's json accepts it)"),
        ("completion-tokens-fraction", 10.5, "10.5"),
        ("completion-tokens-bool", True, "true"),
    ):
        f.append(
            _shape(
                proto,
                slug,
                f"usage.completion_tokens is {what}",
                "final",
                ct,
                value,
                "completion_tokens",
            )
        )
    f += [
        _shape(
            proto,
            "prompt-tokens-string",
            "usage.prompt_tokens is a string",
            "final",
            ("usage", "prompt_tokens"),
            "17",
            "prompt_tokens",
        ),
        _shape(
            proto,
            "completion-details-string",
            "usage.completion_tokens_details is a string",
            "final",
            ("usage", "completion_tokens_details"),
            "reasoning: 3",
            "completion_tokens_details",
        ),
        _shape(
            proto,
            "reasoning-tokens-string",
            "usage.completion_tokens_details.reasoning_tokens is a string",
            "final",
            ("usage", "completion_tokens_details", "reasoning_tokens"),
            "3",
            "reasoning_tokens",
            commands=("run",),
        ),
        _shape(
            proto,
            "prompt-details-string",
            "usage.prompt_tokens_details is a string",
            "final",
            ("usage", "prompt_tokens_details"),
            "cached: 12",
            "prompt_tokens_details",
            commands=("run",),
        ),
        _shape(
            proto,
            "cached-tokens-string",
            "usage.prompt_tokens_details.cached_tokens is a string (vLLM, SGLang)",
            "final",
            ("usage", "prompt_tokens_details", "cached_tokens"),
            "12",
            "cached_tokens",
            commands=("run",),
        ),
        _shape(
            proto,
            "cached-tokens-negative",
            "usage.prompt_tokens_details.cached_tokens is -1",
            "final",
            ("usage", "prompt_tokens_details", "cached_tokens"),
            -1,
            "cached_tokens",
            commands=("run",),
        ),
        _shape(
            proto,
            "choices-object",
            "choices is an object, not a list",
            "token",
            ("choices",),
            {"index": 0, "delta": {"content": "x"}, "text": "x"},
            "choices",
        ),
        _shape(
            proto, "choices-string", "choices is a string", "token", ("choices",), "x", "choices"
        ),
        _shape(
            proto,
            "choice-string",
            "choices[0] is a string",
            "token",
            ("choices", 0),
            "x",
            "choices",
        ),
        _shape(
            proto,
            "delta-string",
            "choices[0].delta is a string",
            "token",
            ("choices", 0, "delta"),
            "x",
            "delta",
            commands=("run",),
        ),
        _shape(
            proto,
            "content-number",
            "the token's content is a number",
            "token",
            ("$content",),
            42,
            "content",
        ),
        _shape(
            proto,
            "content-list",
            "the token's content is a list",
            "token",
            ("$content",),
            ["a", "b"],
            "content",
        ),
        _shape(
            proto,
            "content-object",
            "the token's content is an object",
            "token",
            ("$content",),
            {"text": "a"},
            "content",
        ),
        _shape(
            proto,
            "reasoning-number",
            "reasoning_content is a number",
            "token",
            ("$reasoning",),
            7,
            "reasoning_content",
            commands=("run",),
        ),
        _shape(
            proto,
            "reasoning-list",
            "reasoning_content is a list",
            "token",
            ("$reasoning",),
            ["hmm"],
            "reasoning_content",
            commands=("run",),
        ),
        _shape(
            proto,
            "reasoning-object",
            "reasoning_content is an object",
            "token",
            ("$reasoning",),
            {"t": "hmm"},
            "reasoning_content",
            commands=("run",),
        ),
        _shape(
            proto,
            "finish-reason-number",
            "finish_reason is a number",
            "finish",
            ("$finish",),
            1,
            "finish_reason",
        ),
        _shape(
            proto,
            "surrogate-content",
            'the content is a lone escaped surrogate "\\ud83d" (valid JSON, not UTF-8 '
            "encodable): stored cleaned, with U+FFFD",
            "token",
            ("$content",),
            "ab\ud83dcd",
            "surrogate",
            "ok_partial",
            klass="encoding",
        ),
        _shape(
            proto,
            "surrogate-reasoning",
            'reasoning_content holds a lone "\\ud83d"',
            "token",
            ("$reasoning",),
            "\ud83d",
            "surrogate",
            "ok_partial",
            klass="encoding",
            commands=("run",),
        ),
        _shape(
            proto,
            "error-mid-stream",
            "an error object arrives after the first tokens",
            "finish",
            ("error",),
            {"message": "CUDA error: out of memory", "code": 500},
            "out of memory",
            klass="server-error",
        ),
        _shape(
            proto,
            "error-string-mid-stream",
            "error is a bare string mid-stream",
            "finish",
            ("error",),
            "slot unavailable",
            "slot unavailable",
            klass="server-error",
        ),
    ]
    for slug, raw, desc in (
        ("chunk-array", b"[1,2,3]", "a chunk that is a JSON array"),
        ("chunk-number", b"42", "a chunk that is a JSON number"),
        ("chunk-null", b"null", "a chunk that is JSON null"),
        ("chunk-invalid-json", b"{not json", "a chunk that is not JSON"),
        ("chunk-truncated-json", b'{"choices":[{"delta":{"content":"x"', "a cut JSON chunk"),
        (
            "chunk-deep-nesting",
            b"[" * 50_000 + b"]" * 50_000,
            "a chunk nested 50,000 deep (json raises RecursionError, not ValueError)",
        ),
    ):
        f.append(Fault(f"{PREFIX[proto]}.{slug}", proto, "shape", desc, "error", raw_record=raw))
    f.append(
        Fault(
            f"{PREFIX[proto]}.invalid-utf8",
            proto,
            "encoding",
            "the token's content holds bytes that are not UTF-8",
            "error",
            reason="UTF-8",
            raw_content=b'"caf\xe9 \xff\xfe"',
        )
    )
    f.append(
        Fault(
            f"{PREFIX[proto]}.bom",
            proto,
            "encoding",
            "a UTF-8 byte-order mark before the first event (the SSE spec drops it)",
            "ok",
            transport="bom",
        )
    )
    return f


def _openai_faults() -> list[Fault]:
    p: Protocol = "openai"
    return [
        Fault("openai.ok", p, "baseline", "a well-behaved OpenAI-compatible server", "ok"),
        *_openai_like_shapes(p),
        Fault(
            "openai.models-deep-nesting",
            p,
            "shape",
            "/v1/models is a list nested 50,000 deep: detection must not raise RecursionError",
            "error",
            where="models",
            reason="not an LLM server",
            status=200,
            body=b"[" * 50_000 + b"]" * 50_000,
        ),
        Fault(
            "openai.models-429",
            p,
            "setup-status",
            "/v1/models answers HTTP 429 (busy), not a sign of a non-LLM server",
            "error",
            where="models",
            reason="429",
            status=429,
            body=_status_body(p, "Too many requests"),
        ),
        Fault(
            "openai.models-500",
            p,
            "setup-status",
            "/v1/models answers HTTP 500",
            "error",
            where="models",
            reason="500",
            status=500,
            body=None,
        ),
        Fault(
            "openai.models-503",
            p,
            "setup-status",
            "/v1/models answers HTTP 503 (loading)",
            "error",
            where="models",
            reason="503",
            status=503,
            body=_status_body(p, "Loading model"),
        ),
        _shape(
            p,
            "models-data-object",
            "/v1/models data is an object",
            "body",
            ("data",),
            {"id": DEFAULT_MODEL},
            "/v1/models",
            where="models",
        ),
        _shape(
            p,
            "models-data-strings",
            "/v1/models data lists bare strings",
            "body",
            ("data",),
            [DEFAULT_MODEL],
            "/v1/models",
            where="models",
        ),
        _shape(
            p,
            "models-id-number",
            "/v1/models ids are numbers",
            "body",
            ("data", 0, "id"),
            7,
            "id",
            where="models",
        ),
        _shape(
            p,
            "models-html",
            "/v1/models body is an HTML page",
            "body",
            (),
            "<html>login</html>",
            "/v1/models",
            where="models",
        ),
    ]


def _llama_faults() -> list[Fault]:
    p: Protocol = "llama-server"
    f = [
        Fault("llama.ok", p, "baseline", "a well-behaved llama-server", "ok"),
        _shape(
            p,
            "timings-capture",
            "timings copied from a real llama-server stream (40 tokens, predicted_ms "
            "948.962 over 39 intervals, predicted_per_second 41.10): the server's decode "
            "rate is 41.10 tok/s, not 40 / 948.962 ms",
            "final",
            ("timings",),
            {
                "cache_n": 0,
                "prompt_n": 18,
                "prompt_ms": 45.2,
                "prompt_per_token_ms": 2.511,
                "prompt_per_second": 398.23,
                "predicted_n": 40,
                "predicted_ms": 948.962,
                "predicted_per_token_ms": 24.33,
                "predicted_per_second": 41.1,
            },
            "predicted_per_second",
            "ok",
            klass="server-figure",
            n_tokens=40,
            commands=("run",),
        ),
        *_openai_like_shapes(p),
    ]
    t = ("timings",)
    f += [
        _shape(p, "timings-string", "timings is a string", "final", t, "fast", "timings"),
        _shape(p, "timings-list", "timings is a list", "final", t, [1, 2], "timings"),
        _shape(
            p,
            "predicted-n-string",
            "timings.predicted_n is a string",
            "final",
            ("timings", "predicted_n"),
            "8",
            "predicted_n",
        ),
        _shape(
            p,
            "predicted-n-1e29",
            "timings.predicted_n is 1e29",
            "final",
            ("timings", "predicted_n"),
            1e29,
            "predicted_n",
        ),
        _shape(
            p,
            "predicted-ms-string",
            "timings.predicted_ms is a string",
            "final",
            ("timings", "predicted_ms"),
            "14.0",
            "predicted_ms",
        ),
        _shape(
            p,
            "predicted-ms-zero",
            "timings.predicted_ms is 0: the server's rate is undefined and must be left out",
            "final",
            ("timings", "predicted_ms"),
            0,
            "predicted_ms",
            "ok_partial",
        ),
        _shape(
            p,
            "predicted-ms-negative",
            "timings.predicted_ms is negative",
            "final",
            ("timings", "predicted_ms"),
            -5.0,
            "predicted_ms",
        ),
        _shape(
            p,
            "prompt-n-negative",
            "timings.prompt_n is -1",
            "final",
            ("timings", "prompt_n"),
            -1,
            "prompt_n",
        ),
        _shape(
            p,
            "cache-n-string",
            "timings.cache_n is a string",
            "final",
            ("timings", "cache_n"),
            "0",
            "cache_n",
        ),
        _shape(
            p,
            "draft-n-string",
            "timings.draft_n is a string (speculative decoding)",
            "final",
            ("timings", "draft_n"),
            "12",
            "draft_n",
            commands=("run",),
        ),
        _shape(
            p,
            "draft-accepted-fraction",
            "timings.draft_n_accepted is 4.5",
            "final",
            ("timings", "draft_n_accepted"),
            4.5,
            "draft_n_accepted",
            commands=("run",),
        ),
    ]
    props = "default_generation_settings"
    f += [
        Fault(
            "llama.props-deep-nesting",
            p,
            "shape",
            "/props is a list nested 50,000 deep: not llama-server's /props, so detection "
            "falls back to the OpenAI protocol, which works",
            "ok",
            where="props",
            status=200,
            body=b"[" * 50_000 + b"]" * 50_000,
        ),
        _shape(
            p,
            "props-build-info-number",
            "/props build_info is a number",
            "body",
            ("build_info",),
            6123,
            "build_info",
            "ok_partial",
            where="props",
        ),
        _shape(
            p,
            "props-settings-list",
            f"/props {props} is a list",
            "body",
            (props,),
            [4096],
            props,
            "ok_partial",
            where="props",
        ),
        _shape(
            p,
            "props-n-ctx-string",
            "/props n_ctx is a string",
            "body",
            (props, "n_ctx"),
            "4096",
            "n_ctx",
            "ok_partial",
            where="props",
        ),
        _shape(
            p,
            "props-total-slots-string",
            "/props total_slots is a string",
            "body",
            ("total_slots",),
            "1",
            "total_slots",
            "ok_partial",
            where="props",
        ),
        _shape(
            p,
            "props-model-path-list",
            "/props model_path is a list",
            "body",
            ("model_path",),
            ["/a", "/b"],
            "model_path",
            "ok_partial",
            where="props",
        ),
        _shape(
            p,
            "props-list",
            "/props is a JSON list (found only with --backend)",
            "body",
            (),
            [1, 2],
            "/props",
            "ok_partial",
            where="props",
            detect=False,
        ),
        Fault(
            "llama.props-500",
            p,
            "setup-status",
            "/props answers HTTP 500 (found only with --backend)",
            "ok_partial",
            where="props",
            reason="/props",
            status=500,
            body=None,
            detect=False,
        ),
        _shape(
            p,
            "models-meta-string",
            "/v1/models meta is a string",
            "body",
            ("data", 0, "meta"),
            "n/a",
            "meta",
            "ok_partial",
            where="models",
        ),
        _shape(
            p,
            "models-data-object",
            "/v1/models data is an object",
            "body",
            ("data",),
            {"id": DEFAULT_MODEL},
            "/v1/models",
            where="models",
        ),
        Fault(
            "llama.models-503",
            p,
            "setup-status",
            "/v1/models answers HTTP 503 (llama-server while loading)",
            "error",
            where="models",
            reason="503",
            status=503,
            body=_status_body(p, "Loading model"),
        ),
        _shape(
            p,
            "tokenize-string",
            "/tokenize tokens is a string: prompt lengths become unverified",
            "body",
            ("tokens",),
            "1 2 3",
            "tokenize",
            "ok",
            where="tokenize",
            expect_bench="ok_partial",
        ),
        Fault(
            "llama.tokenize-500",
            p,
            "setup-status",
            "/tokenize answers HTTP 500",
            "ok",
            where="tokenize",
            reason="tokenize",
            status=500,
            body=None,
            expect_bench="ok_partial",
        ),
        Fault(
            "llama.health-loading",
            p,
            "setup-status",
            "/health answers 503 loading (tokbench does not need /health)",
            "ok",
            where="health",
            reason="503",
            status=503,
            body=_status_body(p, "Loading model"),
        ),
    ]
    return f


def _ollama_faults() -> list[Fault]:
    p: Protocol = "ollama"
    fin: Target = "final"
    f = [Fault("ollama.ok", p, "baseline", "a well-behaved Ollama", "ok")]
    for key, slug, value, what in (
        ("eval_count", "eval-count-string", "8", "a string"),
        ("eval_count", "eval-count-1e29", 1e29, "1e29"),
        ("eval_count", "eval-count-negative", -1, "-1"),
        ("eval_count", "eval-count-2p60", 2**60, "2**60"),
        ("eval_count", "eval-count-nan", float("nan"), "NaN"),
        ("eval_duration", "eval-duration-string", "14ms", "a string"),
        ("eval_duration", "eval-duration-negative", -1, "negative"),
        ("prompt_eval_count", "prompt-eval-count-string", "17", "a string"),
        ("prompt_eval_duration", "prompt-eval-duration-list", [1], "a list"),
        ("total_duration", "total-duration-string", "1s", "a string"),
        ("load_duration", "load-duration-list", [1, 2], "a list"),
        ("done_reason", "done-reason-number", 3, "a number"),
    ):
        f.append(_shape(p, slug, f"the final record's {key} is {what}", fin, (key,), value, key))
    f += [
        _shape(
            p,
            "eval-duration-zero",
            "eval_duration is 0: the server's rate is undefined",
            fin,
            ("eval_duration",),
            0,
            "eval_duration",
            "ok_partial",
        ),
        _shape(
            p,
            "prompt-eval-count-missing",
            "no prompt_eval_count (a cached prompt): kept unknown, not infinite speed",
            fin,
            ("prompt_eval_count",),
            None,
            "prompt_eval_count",
            "ok_partial",
            delete=True,
        ),
        _shape(p, "done-string", 'done is the string "yes"', fin, ("done",), "yes", "done"),
        _shape(
            p,
            "message-string",
            "message is a string",
            "token",
            ("message",),
            "hi",
            "message",
            commands=("run",),
        ),
        _shape(
            p,
            "content-number",
            "the token's content is a number",
            "token",
            ("$content",),
            42,
            "content",
        ),
        _shape(
            p,
            "content-list",
            "the token's content is a list",
            "token",
            ("$content",),
            ["a"],
            "content",
        ),
        _shape(
            p,
            "content-object",
            "the token's content is an object",
            "token",
            ("$content",),
            {"a": 1},
            "content",
        ),
        _shape(
            p,
            "thinking-object",
            "thinking is an object",
            "token",
            ("$reasoning",),
            {"t": 1},
            "thinking",
            commands=("run",),
        ),
        _shape(
            p,
            "surrogate-content",
            'the content is a lone "\\ud83d": stored cleaned',
            "token",
            ("$content",),
            "ab\ud83dcd",
            "surrogate",
            "ok_partial",
            klass="encoding",
        ),
        _shape(
            p,
            "error-mid-stream",
            "an error record after the first tokens",
            "finish",
            ("error",),
            "llama runner process has terminated",
            "terminated",
            klass="server-error",
        ),
        Fault(
            "ollama.no-final-newline",
            p,
            "framing",
            "the final done record has no trailing newline: it must still be read",
            "ok",
            transport="no-final-newline",
        ),
        Fault(
            "ollama.no-final-record",
            p,
            "framing",
            "the stream ends without a done record",
            "error",
            reason="final",
            transport="no-final-record",
        ),
    ]
    for slug, raw, desc in (
        ("line-array", b"[1,2,3]", "a line that is a JSON array"),
        ("line-invalid-json", b"{not json", "a line that is not JSON"),
        ("line-deep-nesting", b"[" * 50_000 + b"]" * 50_000, "a line nested 50,000 deep"),
    ):
        f.append(Fault(f"ollama.{slug}", p, "shape", desc, "error", raw_record=raw))
    f.append(
        Fault(
            "ollama.invalid-utf8",
            p,
            "encoding",
            "the content holds bytes that are not UTF-8",
            "error",
            reason="UTF-8",
            raw_content=b'"caf\xe9 \xff\xfe"',
        )
    )
    f += [
        _shape(
            p,
            "tags-models-object",
            "/api/tags models is an object",
            "body",
            ("models",),
            {"name": OLLAMA_MODEL},
            "/api/tags",
            where="tags",
        ),
        _shape(
            p,
            "tags-models-strings",
            "/api/tags models lists bare strings",
            "body",
            ("models",),
            [OLLAMA_MODEL],
            "/api/tags",
            where="tags",
        ),
        _shape(
            p,
            "tags-list",
            "/api/tags is a JSON list",
            "body",
            (),
            [OLLAMA_MODEL],
            "/api/tags",
            where="tags",
        ),
        _shape(
            p,
            "tags-name-list",
            "/api/tags model name is a list",
            "body",
            ("models", 0, "name"),
            ["x"],
            "name",
            where="tags",
        ),
        # issue 22: detection iterated whatever `models` held (a number: a traceback)
        _shape(
            p,
            "tags-models-number",
            "/api/tags models is the number 5",
            "body",
            ("models",),
            5,
            "/api/tags",
            where="tags",
        ),
        _shape(
            p,
            "tags-models-true",
            "/api/tags models is true",
            "body",
            ("models",),
            True,
            "/api/tags",
            where="tags",
        ),
        _shape(
            p,
            "tags-models-null-names",
            "/api/tags models lists objects whose name is a number",
            "body",
            ("models",),
            [{"name": 5, "model": 5}],
            "name",
            where="tags",
        ),
        Fault(
            "ollama.tags-deep-nesting",
            p,
            "shape",
            "/api/tags is a list nested 50,000 deep (past the JSON parser's depth)",
            "error",
            where="tags",
            reason="/api/tags",
            status=200,
            body=b"[" * 50_000 + b"]" * 50_000,
        ),
        Fault(
            "ollama.tags-500",
            p,
            "setup-status",
            "/api/tags answers HTTP 500",
            "error",
            where="tags",
            reason="500",
            status=500,
            body=_status_body(p, "internal error"),
        ),
        _shape(
            p,
            "show-details-string",
            "/api/show details is a string",
            "body",
            ("details",),
            "gguf",
            "details",
            "ok_partial",
            where="show",
        ),
        _shape(
            p,
            "show-model-info-list",
            "/api/show model_info is a list",
            "body",
            ("model_info",),
            [1],
            "model_info",
            "ok_partial",
            where="show",
        ),
        _shape(
            p,
            "show-capabilities-string",
            "/api/show capabilities is a string",
            "body",
            ("capabilities",),
            "completion",
            "capabilities",
            "ok_partial",
            where="show",
        ),
        _shape(
            p,
            "show-context-length-string",
            "/api/show context length is a string",
            "body",
            ("model_info", "gemma3.context_length"),
            "32k",
            "context_length",
            "ok_partial",
            where="show",
        ),
        _shape(
            p,
            "show-list",
            "/api/show is a JSON list",
            "body",
            (),
            [1],
            "/api/show",
            "ok_partial",
            where="show",
        ),
        Fault(
            "ollama.show-500",
            p,
            "setup-status",
            "/api/show answers HTTP 500",
            "ok_partial",
            where="show",
            reason="/api/show",
            status=500,
            body=None,
        ),
        _shape(
            p,
            "version-number",
            "/api/version version is a number",
            "body",
            ("version",),
            12,
            "version",
            "ok_partial",
            where="version",
        ),
        _shape(
            p,
            "version-list-body",
            "/api/version is a JSON list (found only with --backend ollama)",
            "body",
            (),
            ["0.12.3"],
            "version",
            "ok_partial",
            where="version",
            detect=False,
            commands=("run",),
        ),
        Fault(
            "ollama.version-503",
            p,
            "setup-status",
            "/api/version answers 503",
            "error",
            where="version",
            reason="503",
            status=503,
            body=_status_body(p, "starting"),
        ),
    ]
    return f


_MARKUP = "[/red] [link=javascript:alert(1)]x[/link] [/dim]"
_ANSI = "\x1b[2J\x1b[31mpwned\x1b]8;;http://evil.example/\x07link\x1b]8;;\x07"


def _markup_faults() -> list[Fault]:
    f: list[Fault] = []
    for proto in PROTOCOLS:
        p = PREFIX[proto]
        served_where: Where = "tags" if proto == "ollama" else "models"
        for slug, name in (("bold", "[/bold]x[red"), ("llama3", "[llama3]")):
            f.append(
                Fault(
                    f"{p}.model-name-{slug}",
                    proto,
                    "markup",
                    f"the served model is named {name!r}: shown verbatim, never parsed as "
                    "markup, and history/show/compare keep working",
                    "ok",
                    where=served_where,
                    model=name,
                    literal=name,
                )
            )
        f.append(
            Fault(
                f"{p}.model-name-ansi",
                proto,
                "markup",
                "the model name holds ANSI and OSC-8 escapes: never sent raw to the terminal",
                "ok",
                where=served_where,
                model="m" + _ANSI,
                absent="\x1b[2J",
            )
        )
        f.append(
            Fault(
                f"{p}.error-markup",
                proto,
                "markup",
                "an HTTP 500 whose message is rich markup and a javascript: link",
                "error",
                reason="500",
                status=500,
                body=_status_body(proto, _MARKUP),
                literal="[/red]",
            )
        )
        f.append(
            Fault(
                f"{p}.error-ansi",
                proto,
                "markup",
                "an HTTP 500 whose message holds ANSI escapes (clear screen, OSC-8 link)",
                "error",
                reason="500",
                status=500,
                body=_status_body(proto, _ANSI),
                absent="\x1b[2J",
            )
        )
        f.append(
            _shape(
                proto,
                "content-markup",
                "the answer text is rich markup: stored and shown verbatim",
                "token",
                ("$content",),
                _MARKUP,
                "",
                "ok",
                klass="markup",
            )
        )
        f.append(
            _shape(
                proto,
                "content-ansi",
                "the answer text holds ANSI escapes",
                "token",
                ("$content",),
                _ANSI,
                "",
                "ok",
                klass="markup",
                absent="\x1b[2J",
            )
        )
    f += [
        _shape(
            "llama-server",
            "build-info-markup",
            "/props build_info is markup; detection prints it",
            "body",
            ("build_info",),
            "b1 [/dim] [/red]",
            "",
            "ok",
            klass="markup",
            where="props",
            literal="[/dim]",
        ),
        _shape(
            "ollama",
            "version-markup",
            "/api/version is markup; detection prints it",
            "body",
            ("version",),
            "0.1 [/dim] [/red]",
            "",
            "ok",
            klass="markup",
            where="version",
            literal="[/dim]",
        ),
    ]
    return f


FAULTS: tuple[Fault, ...] = (
    *_openai_faults(),
    *_llama_faults(),
    *_ollama_faults(),
    *_status_faults(),
    *_transport_faults(),
    *_bounds_faults(),
    *_markup_faults(),
)
FAULTS_BY_NAME: dict[str, Fault] = {f.name: f for f in FAULTS}
if len(FAULTS_BY_NAME) != len(FAULTS):  # pragma: no cover - a table error, caught at import
    raise RuntimeError("duplicate fault mode names")


def fault(name: str) -> Fault:
    try:
        return FAULTS_BY_NAME[name]
    except KeyError:
        raise TokbenchError(f"unknown fault mode {name!r}") from None


def faults_for(protocol: Protocol | None = None, klass: str | None = None) -> Iterator[Fault]:
    """The table's modes, optionally of one protocol and/or class."""
    for f in FAULTS:
        if (protocol is None or f.protocol == protocol) and (klass is None or f.klass == klass):
            yield f
