"""A small HTTP/1.1 client on the standard library, built for timing streams.

Why not httpx: on one stream of small SSE chunks, httpx's per-read machinery
costs ~30 µs a chunk here, http.client's `read1` about a third of that, which
keeps the harness from distorting fast streams. Connections are kept alive, so
TTFT does not include a TCP or TLS handshake after the first request.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from tokbench.core.redact import redact_url
from tokbench.errors import TokbenchError


def http_url(url: str) -> str:
    """A user's --url as an http(s) URL without a trailing slash (`host:port` gets http://)
    and without `user:password@`, which `credentials` reads and no record ever keeps."""
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    shown = redact_url(url)
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError as exc:
        raise TokbenchError(f"--url {shown!r} is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise TokbenchError(f"--url {shown!r} is not an http(s) URL, e.g. http://127.0.0.1:1234/v1")
    if port == 0:
        raise TokbenchError(f"--url {shown!r}: port 0 is not a server port")
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return f"{parts.scheme}://{netloc}{parts.path}".rstrip("/")


def credentials(url: str) -> tuple[str, str] | None:
    """`user:password@` of a URL (percent-decoded), sent as HTTP Basic auth."""
    parts = urlsplit(url if "://" in url else "http://" + url)
    if parts.username is None:
        return None
    return unquote(parts.username), unquote(parts.password or "")


def root_url(url: str) -> str:
    """The server root: one trailing `/v1` (OpenAI routes) or `/api` (Ollama's) removed,
    so `https://host/api/v1` keeps its `/api` prefix."""
    url = http_url(url)
    for suffix in ("/v1", "/api"):
        if url.endswith(suffix):
            return url[: -len(suffix)]
    return url


class TransportError(Exception):
    """The request could not be completed; the message is for the user."""


MAX_RESPONSE_BYTES = 64 * 1024 * 1024


@dataclass(slots=True)
class Response:
    """A response whose body is read within the request's bounds: no more than
    `max_bytes`, and never past the request's deadline (each read waits at most the idle
    timeout, and never beyond the deadline: data that trickles in, such as keep-alive
    comments, cannot extend it)."""

    status: int
    headers: dict[str, str]  # lower-case names
    _raw: http.client.HTTPResponse
    _client: Client
    deadline_ns: int

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @property
    def max_bytes(self) -> int:
        return self._client.max_response_bytes

    def read1(self, n: int = 65536) -> bytes:
        client = self._client
        left = (self.deadline_ns - time.perf_counter_ns()) / 1e9
        if left <= 0:
            raise TransportError(client.deadline_message())
        if client.sock is not None:
            client.sock.settimeout(min(client.idle_timeout_s, left))
        try:
            return self._raw.read1(n)
        except TimeoutError:
            late = left < client.idle_timeout_s
            raise TransportError(
                client.deadline_message() if late else client.stall_message()
            ) from None

    def chunks(self, n: int = 65536) -> Iterator[bytes]:
        """The body as it arrives, until it ends."""
        while chunk := self.read1(n):
            yield chunk

    def read(self) -> bytes:
        """The whole (small) body; larger than `max_bytes` is an error."""
        out, total = [], 0
        while chunk := self.read1(65536):
            total += len(chunk)
            if total > self.max_bytes:
                raise TransportError(
                    f"response larger than {self.max_bytes} bytes (raise with --max-response)"
                )
            out.append(chunk)
        return b"".join(out)


class Client:
    """One keep-alive connection to one server (`base_url` = scheme://host[:port][/prefix])."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: dict[str, str] | None = None,
        timeout_s: float = 300.0,
        connect_timeout_s: float = 10.0,
        auth: tuple[str, str] | None = None,
        idle_timeout_s: float | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        timeout_name: str = "--timeout",
        timeout_remedy: str = "raise --timeout for slow models",
    ) -> None:
        """`timeout_s` bounds a whole request, connect to last byte; `idle_timeout_s` (at
        most that) bounds one wait for data."""
        base_url = http_url(base_url)
        parts = urlsplit(base_url)
        assert parts.hostname is not None
        self.base_url = base_url
        self.host = parts.hostname
        self.netloc = parts.netloc
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.https = parts.scheme == "https"
        self.prefix = parts.path.rstrip("/")
        self.headers = dict(headers or {})
        if auth is not None and "Authorization" not in self.headers:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
            self.headers["Authorization"] = f"Basic {token}"
        self.timeout_s = timeout_s
        self.idle_timeout_s = min(idle_timeout_s or timeout_s, timeout_s)
        self.connect_timeout_s = connect_timeout_s
        self.max_response_bytes = max_response_bytes
        self.timeout_name, self.timeout_remedy = timeout_name, timeout_remedy  # for messages
        self._conn: http.client.HTTPConnection | None = None

    @property
    def sock(self) -> socket.socket | None:
        return self._conn.sock if self._conn is not None else None

    def clone(self) -> Client:
        """Same server and settings, its own connection (one per thread)."""
        return Client(
            self.base_url,
            headers=dict(self.headers),
            timeout_s=self.timeout_s,
            connect_timeout_s=self.connect_timeout_s,
            idle_timeout_s=self.idle_timeout_s,
            max_response_bytes=self.max_response_bytes,
            timeout_name=self.timeout_name,
            timeout_remedy=self.timeout_remedy,
        )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._conn is not None and self._conn.sock is not None:
            return self._conn
        self.close()
        conn: http.client.HTTPConnection
        if self.https:
            conn = http.client.HTTPSConnection(
                self.host,
                self.port,
                timeout=self.connect_timeout_s,
                context=ssl.create_default_context(),
            )
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.connect_timeout_s)
        try:
            conn.connect()
        except socket.gaierror as exc:
            raise TransportError(
                f"cannot resolve host {self.host!r}: check the host name in --url"
            ) from exc
        except ConnectionRefusedError as exc:
            raise TransportError(
                f"nothing is listening at {self.netloc} (connection refused): start the "
                "server, or check the port in --url"
            ) from exc
        except TimeoutError as exc:
            raise TransportError(
                f"timed out connecting to {self.netloc}: is the host reachable?"
            ) from exc
        except ssl.SSLError as exc:
            raise TransportError(f"TLS handshake with {self.netloc} failed: {exc}") from exc
        except OSError as exc:
            raise TransportError(f"cannot connect to {self.netloc}: {exc}") from exc
        assert conn.sock is not None
        conn.sock.settimeout(self.timeout_s)  # from now on: the stall timeout between reads
        self._conn = conn
        return conn

    @contextmanager
    def request(
        self, method: str, path: str, body: Any | None = None, *, accept: str = "*/*"
    ) -> Iterator[Response]:
        """Send a request; yields the response with its body unread.

        A kept-alive connection the server has closed meanwhile is retried once.
        """
        deadline_ns = time.perf_counter_ns() + int(self.timeout_s * 1e9)
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Host": self.netloc, "Accept": accept, **self.headers}
        if data is not None:
            headers["Content-Type"] = "application/json"
        for attempt in (0, 1):
            fresh = self._conn is None or self._conn.sock is None
            conn = self._connect()
            try:
                conn.request(method, self.prefix + path, body=data, headers=headers)
                raw = conn.getresponse()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self.close()
                if fresh or attempt:
                    raise TransportError(
                        f"the server at {self.netloc} closed the connection: {exc}"
                    ) from exc
            except TimeoutError as exc:
                self.close()
                raise TransportError(self.stall_message()) from exc
            except http.client.HTTPException as exc:  # not HTTP: a status line, a header
                self.close()
                raise TransportError(
                    f"{self.netloc} did not answer HTTP ({type(exc).__name__}: "
                    f"{repr(str(exc))[:80]}): is --url an LLM server?"
                ) from None
        encoding = (raw.getheader("Content-Encoding") or "identity").strip().lower()
        if encoding != "identity":  # never asked for: the body cannot be read as sent
            self.close()
            raise TransportError(
                f"{self.netloc} sent a {encoding[:20]}-encoded body tokbench did not ask for"
            )
        resp = Response(
            raw.status, {k.lower(): v for k, v in raw.getheaders()}, raw, self, deadline_ns
        )
        try:
            yield resp
        except TimeoutError as exc:
            self.close()
            raise TransportError(self.stall_message()) from exc
        except (http.client.HTTPException, OSError) as exc:
            self.close()
            raise TransportError(
                f"the connection to {self.netloc} broke mid-response: {exc or type(exc).__name__}"
            ) from exc
        finally:
            if not raw.isclosed():
                self.close()  # body not fully read: the connection can't be reused

    def stall_message(self) -> str:
        return (
            f"the stream stalled: no data from {self.netloc} for {self.idle_timeout_s:g} s "
            f"({self.timeout_remedy})"
        )

    def deadline_message(self) -> str:
        return (
            f"the response from {self.netloc} did not finish within the {self.timeout_s:g} s "
            f"{self.timeout_name} (a deadline for the whole request)"
        )

    def get(self, path: str) -> tuple[int, str, bytes]:
        """(status, content type, body) of a small GET."""
        with self.request("GET", path, accept="application/json") as resp:
            body = resp.read()
        return resp.status, resp.content_type, body


class ThreadClients:
    """One HTTP connection per thread (http.client is not thread-safe): the backend's own
    for the main thread, a clone for each concurrency stream, all closed together."""

    def __init__(self, main: Client) -> None:
        self._main = main
        self._local = threading.local()
        self._clones: list[Client] = []

    def get(self) -> Client:
        if threading.current_thread() is threading.main_thread():
            return self._main
        client: Client | None = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self._main.clone()
            self._clones.append(client)
        return client

    def close(self) -> None:
        for c in self._clones:
            c.close()
