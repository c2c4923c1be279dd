"""Linear-time line readers for streamed HTTP bodies: SSE events and NDJSON records.

Both take the body as byte chunks in the order they were read from the socket and
stamp everything a chunk completes with one monotonic timestamp taken right after
that chunk arrived, before any parsing, so parsing cost never shifts a token's time.

Why not `buf + chunk` and `split`: a line that arrives in many pieces is then copied
and re-scanned on every read, quadratic in its length (a 50 MB line took minutes).
Here an unfinished line is a list of pieces plus a running length; only each new
chunk is searched for a line end, and the pieces are joined once, when the line ends.

Bounds: a line longer than `max_line_bytes` raises `LineTooLong`, a body larger than
`max_response_bytes` raises `ResponseTooLarge`. The request's deadline is kept by the
HTTP client's reads (`net.http.Response.read1`), which also covers a silent server.

SSE follows the WHATWG event-stream rules: lines end in CRLF, LF or a lone CR; a
line starting with ":" is a comment; `data` lines of one event are joined with LF;
a blank line dispatches the event (none when it has no data); `event` names it;
a leading UTF-8 BOM is dropped. Unlike the spec, an event left open when the
stream ends is still delivered (servers that close without the last blank line
are common), and the reader reports that the stream ended mid-event.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from tokbench.errors import TokbenchError

MiB = 1024 * 1024
DEFAULT_MAX_RESPONSE_BYTES = 64 * MiB
DEFAULT_MAX_LINE_BYTES = 64 * MiB  # one huge line is legal; the total bound still applies

Clock = Callable[[], int]


class StreamLimitError(TokbenchError):
    """A response broke one of the reader's bounds: that request fails, the run goes on."""


class LineTooLong(StreamLimitError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the server sent a line longer than {limit} bytes")
        self.limit = limit


class ResponseTooLarge(StreamLimitError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"response larger than {limit} bytes (raise with --max-response)")
        self.limit = limit


@dataclass(frozen=True, slots=True)
class Limits:
    """Size bounds for one response."""

    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES

    def __post_init__(self) -> None:
        if self.max_line_bytes <= 0 or self.max_response_bytes <= 0:
            raise TokbenchError("line and response size limits must be positive byte counts")


@dataclass(frozen=True, slots=True)
class SSEEvent:
    t_ns: int  # when the chunk that completed this event was read
    data: bytes  # the data lines, joined with LF
    event: str = "message"


@dataclass(frozen=True, slots=True)
class Line:
    t_ns: int  # when the chunk that completed this line was read
    data: bytes  # without its line ending


class LineSplitter:
    """Incremental, linear line splitting with size bounds.

    `feed` returns the lines a chunk completes. With `cr_ends_line` (SSE), CRLF, LF and a
    lone CR end a line; without it (NDJSON), only LF does and one trailing CR is dropped.
    """

    __slots__ = (
        "_cr",
        "_max_line",
        "_max_total",
        "_pending",
        "_pending_len",
        "_skip_lf",
        "total_bytes",
    )

    def __init__(self, limits: Limits | None = None, *, cr_ends_line: bool = False) -> None:
        limits = limits or Limits()
        self._max_line = limits.max_line_bytes
        self._max_total = limits.max_response_bytes
        self._cr = cr_ends_line
        self._pending: list[bytes] = []
        self._pending_len = 0
        self._skip_lf = False  # the previous chunk ended in CR: a leading LF completes CRLF
        self.total_bytes = 0

    @property
    def has_partial(self) -> bool:
        """True when bytes of an unfinished line are held."""
        return self._pending_len > 0

    def feed(self, chunk: bytes) -> list[bytes]:
        self.total_bytes += len(chunk)
        if self.total_bytes > self._max_total:
            raise ResponseTooLarge(self._max_total)
        has_cr = b"\r" in chunk
        if self._cr:
            if self._skip_lf:
                self._skip_lf = False
                if chunk[:1] == b"\n":
                    chunk = chunk[1:]
            if has_cr:
                # a chunk ending in CR ends its line now; a LF opening the next one is
                # the second half of that CRLF
                self._skip_lf = chunk[-1:] == b"\r"
                chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = chunk.split(b"\n")
        last = lines.pop()
        max_line = self._max_line
        if lines:
            if self._pending:
                if self._pending_len + len(lines[0]) > max_line:
                    raise LineTooLong(max_line)
                self._pending.append(lines[0])
                lines[0] = b"".join(self._pending)
                self._pending = []
                self._pending_len = 0
            # only a chunk longer than the limit can hold a line longer than it
            if len(chunk) > max_line and any(len(ln) > max_line for ln in lines):
                raise LineTooLong(max_line)
        if last:
            if self._pending_len + len(last) > max_line:
                raise LineTooLong(max_line)
            self._pending.append(last)
            self._pending_len += len(last)
        if lines and not self._cr:
            if has_cr:
                lines = [ln[:-1] if ln[-1:] == b"\r" else ln for ln in lines]
            elif lines[0][-1:] == b"\r":  # a CR that came in an earlier chunk
                lines[0] = lines[0][:-1]
        return lines

    def close(self) -> bytes | None:
        """End of body: the unfinished last line, if any (NDJSON's final record often is)."""
        if not self._pending:
            return None
        line = b"".join(self._pending)
        self._pending = []
        self._pending_len = 0
        if not self._cr and line.endswith(b"\r"):
            line = line[:-1]
        return line


class SSEDecoder:
    """WHATWG event-stream assembly on top of `LineSplitter` (CR, LF and CRLF endings).

    `feed_data` is the hot path (data payloads only, one list per chunk); `feed` wraps
    the same events as `SSEEvent`s with their `event` names.
    """

    __slots__ = (
        "_data",
        "_event",
        "_first",
        "_limits",
        "_lines",
        "_names",
        "ended_mid_event",
    )

    def __init__(self, limits: Limits | None = None) -> None:
        self._limits = limits or Limits()
        self._lines = LineSplitter(self._limits, cr_ends_line=True)
        self._data: list[bytes] = []
        self._event = ""
        self._names: list[str] = []  # the event name of each payload of the last call
        self._first = True
        self.ended_mid_event = False  # set by close(): the stream stopped inside an event

    @property
    def total_bytes(self) -> int:
        return self._lines.total_bytes

    def feed_data(self, chunk: bytes, t_ns: int) -> list[bytes]:
        """The data of every event this chunk completes."""
        self._names = []
        return self._take(self._lines.feed(chunk))

    def feed(self, chunk: bytes, t_ns: int) -> list[SSEEvent]:
        payloads = self.feed_data(chunk, t_ns)
        return [
            SSEEvent(t_ns, d, n or "message") for d, n in zip(payloads, self._names, strict=True)
        ]

    def close_data(self) -> list[bytes]:
        """End of stream: an event whose blank line never came is still delivered."""
        last = self._lines.close()
        self._names = []
        out = self._take([last]) if last is not None else []
        self.ended_mid_event = bool(self._data) or last is not None
        if self._data:
            out += self._take([b""])
        return out

    def close(self, t_ns: int) -> list[SSEEvent]:
        payloads = self.close_data()
        return [
            SSEEvent(t_ns, d, n or "message") for d, n in zip(payloads, self._names, strict=True)
        ]

    def _take(self, lines: list[bytes]) -> list[bytes]:
        out: list[bytes] = []
        names = self._names
        data = self._data
        if self._first and lines:
            self._first = False
            if lines[0][:3] == b"\xef\xbb\xbf":
                lines[0] = lines[0][3:]
        for line in lines:
            if line[:5] == b"data:":
                # one slice, so a huge line is copied once
                data.append(line[6:] if line[5:6] == b" " else line[5:])
            elif not line:
                if data:
                    out.append(data[0] if len(data) == 1 else b"\n".join(data))
                    names.append(self._event)
                    data.clear()
                self._event = ""
            elif line[:1] != b":":  # not a comment (keep-alives)
                self._field(line)
        return out

    def _field(self, line: bytes) -> None:
        # field names we act on are at most 5 bytes: look for the colon in the first 6
        colon = line.find(b":", 0, 6)
        name = line if colon < 0 else line[:colon]
        if name == b"data":  # `data` without a colon: an empty data line
            self._data.append(b"")
        elif name == b"event":
            value = line[colon + 1 :] if colon >= 0 else b""
            self._event = value.removeprefix(b" ").decode("utf-8", "replace")
        # id, retry and unknown fields carry nothing a benchmark uses


class NDJSONDecoder:
    """Newline-delimited records; blank lines are skipped, a final record without its
    newline is delivered by `close`."""

    __slots__ = ("_limits", "_lines")

    def __init__(self, limits: Limits | None = None) -> None:
        self._limits = limits or Limits()
        self._lines = LineSplitter(self._limits, cr_ends_line=False)

    @property
    def total_bytes(self) -> int:
        return self._lines.total_bytes

    def feed_lines(self, chunk: bytes, t_ns: int) -> list[bytes]:
        """The non-blank lines this chunk completes."""
        return [ln for ln in self._lines.feed(chunk) if ln and not ln.isspace()]

    def feed(self, chunk: bytes, t_ns: int) -> list[Line]:
        return [Line(t_ns, ln) for ln in self.feed_lines(chunk, t_ns)]

    def close_lines(self) -> list[bytes]:
        last = self._lines.close()
        return [last] if last is not None and last and not last.isspace() else []

    def close(self, t_ns: int) -> list[Line]:
        return [Line(t_ns, ln) for ln in self.close_lines()]


def read_chunks(read1: Callable[[int], bytes], size: int = 65536) -> Iterator[bytes]:
    """The chunks of a body from a `read1`-style call, until it returns b""."""
    while chunk := read1(size):
        yield chunk


def sse_events(
    chunks: Iterable[bytes],
    limits: Limits | None = None,
    *,
    clock: Clock = time.perf_counter_ns,
) -> Iterator[SSEEvent]:
    """The events of an SSE body, each stamped with the read time of its last chunk."""
    decoder = SSEDecoder(limits)
    t = clock()
    for chunk in chunks:
        t = clock()  # before parsing: parsing cost must not shift the token's time
        yield from decoder.feed(chunk, t)
    yield from decoder.close(t)


def sse_data(
    chunks: Iterable[bytes],
    limits: Limits | None = None,
    *,
    clock: Clock = time.perf_counter_ns,
) -> Iterator[tuple[int, bytes]]:
    """(read time ns, data) of every SSE event: what the OpenAI-style loops consume."""
    decoder = SSEDecoder(limits)
    feed = decoder.feed_data
    t = clock()
    for chunk in chunks:
        t = clock()  # before parsing: parsing cost must not shift the token's time
        for data in feed(chunk, t):
            yield t, data
    for data in decoder.close_data():
        yield t, data


def ndjson_lines(
    chunks: Iterable[bytes],
    limits: Limits | None = None,
    *,
    clock: Clock = time.perf_counter_ns,
) -> Iterator[tuple[int, bytes]]:
    """(read time ns, line) of every non-blank NDJSON line, the last one even without
    its trailing newline."""
    decoder = NDJSONDecoder(limits)
    feed = decoder.feed_lines
    t = clock()
    for chunk in chunks:
        t = clock()
        for line in feed(chunk, t):
            yield t, line
    for line in decoder.close_lines():
        yield t, line
