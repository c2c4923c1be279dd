"""Incremental Server-Sent Events parser (the WHATWG event-stream format).

Feed it bytes exactly as read from the socket; it returns the `data` payloads of
the events completed by those bytes. Chunk boundaries may fall anywhere,
including inside a CRLF pair. Only `data` matters to us: `event`, `id`, `retry`
and comments are skipped.
"""

from __future__ import annotations


class SSEParser:
    __slots__ = ("_buf", "_data")

    def __init__(self) -> None:
        self._buf = b""
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[bytes]:
        buf = self._buf + chunk if self._buf else chunk
        if b"\r" in buf:
            # A trailing CR may be the first half of CRLF: keep it for the next feed.
            tail = b"\r" if buf.endswith(b"\r") else b""
            if tail:
                buf = buf[:-1]
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        else:
            tail = b""
        lines = buf.split(b"\n")
        self._buf = lines.pop() + tail
        events: list[bytes] = []
        data = self._data
        for line in lines:
            if not line:
                if data:
                    events.append(data[0] if len(data) == 1 else b"\n".join(data))
                    data.clear()
            elif line.startswith(b"data:"):
                value = line[5:]
                data.append(value[1:] if value.startswith(b" ") else value)
            # other fields and ":" comments carry nothing we use
        return events

    def close(self) -> list[bytes]:
        """End of stream: flush a last event whose blank line never came (lenient)."""
        events = self.feed(b"\n\n") if self._buf or self._data else []
        self._buf = b""
        return events
