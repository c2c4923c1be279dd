"""The linear SSE and NDJSON line readers: framing, limits and time stamps."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tokbench.errors import TokbenchError
from tokbench.net.lines import (
    Limits,
    LineSplitter,
    LineTooLong,
    NDJSONDecoder,
    ResponseTooLarge,
    SSEDecoder,
    StreamLimitError,
    ndjson_lines,
    read_chunks,
    sse_data,
    sse_events,
)


def split_every(data: bytes, n: int) -> list[bytes]:
    return [data[i : i + n] for i in range(0, len(data), n)]


def ticking_clock() -> Iterator[int]:
    t = 0
    while True:
        t += 1
        yield t


def test_sse_events_across_every_chunk_boundary() -> None:
    body = (
        b": hello comment\r\n"
        b"event: delta\r\n"
        b'data: {"a":1}\r\n'
        b"\r\n"
        b"data:first\rdata: second\r\r"  # lone CR endings, two data lines joined by LF
        b"id: 7\nretry: 10\ndata\n\n"  # a bare `data` field is an empty data line
        b"data: [DONE]\n\n"
    )
    want = [
        (b'{"a":1}', "delta"),
        (b"first\nsecond", "message"),
        (b"", "message"),
        (b"[DONE]", "message"),
    ]
    for size in (1, 2, 3, 5, 7, len(body)):
        got = [(e.data, e.event) for e in sse_events(split_every(body, size))]
        assert got == want, size


def test_sse_crlf_split_between_chunks_is_one_line_end() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: x\r", 1) == []
    # the LF completing the CRLF must not count as a blank line (which would dispatch)
    assert dec.feed(b"\ndata: y\r", 2) == []
    events = dec.feed(b"\n\r\n", 3)
    assert [(e.t_ns, e.data) for e in events] == [(3, b"x\ny")]


def test_sse_comments_only_yield_nothing_and_bom_is_dropped() -> None:
    assert list(sse_events([b": keep-alive\n\n"] * 50)) == []
    events = list(sse_events([b"\xef\xbb\xbfdata: z\n\n"]))
    assert [e.data for e in events] == [b"z"]


def test_sse_event_without_final_blank_line_is_delivered_and_flagged() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: a\n\ndata: b", 1)[0].data == b"a"
    last = dec.close(2)
    assert [e.data for e in last] == [b"b"]
    assert dec.ended_mid_event
    clean = SSEDecoder()
    clean.feed(b"data: a\n\n", 1)
    assert clean.close(2) == [] and not clean.ended_mid_event


def test_timestamp_is_the_read_time_of_the_completing_chunk() -> None:
    ticks = ticking_clock()
    chunks = [b"data: a", b"bc\n\ndata: d\n\n", b": ping\n\n"]
    got = list(sse_data(chunks, clock=lambda: next(ticks)))
    # clock() is called once up front, then once per chunk: the 1st chunk reads at 2
    assert got == [(3, b"abc"), (3, b"d")]


def test_ndjson_final_record_without_newline_and_crlf() -> None:
    body = b'{"a":1}\r\n\n  \n{"b":2}\n{"done":true}'
    for size in (1, 4, len(body)):
        got = [line for _t, line in ndjson_lines(split_every(body, size))]
        assert got == [b'{"a":1}', b'{"b":2}', b'{"done":true}'], size


def test_ndjson_decoder_close_without_pending_is_empty() -> None:
    dec = NDJSONDecoder()
    assert [ln.data for ln in dec.feed(b"x\ny\n", 5)] == [b"x", b"y"]
    assert dec.close(6) == []


def test_line_too_long_raises_a_tokbench_error() -> None:
    limits = Limits(max_line_bytes=100)
    with pytest.raises(LineTooLong, match="longer than 100 bytes"):
        list(ndjson_lines([b"a" * 60, b"a" * 60, b"\n"], limits))
    # a long line inside a single chunk is caught as well, as is one at the very end
    with pytest.raises(LineTooLong):
        list(sse_events([b"data: x\n\n" + b"b" * 200 + b"\n\n"], limits))
    with pytest.raises(LineTooLong):
        LineSplitter(limits).feed(b"c" * 101)
    assert issubclass(LineTooLong, StreamLimitError)
    assert issubclass(StreamLimitError, TokbenchError)
    # exactly at the limit is fine
    assert LineSplitter(limits).feed(b"d" * 100 + b"\n") == [b"d" * 100]


def test_response_too_large_counts_comments_too() -> None:
    limits = Limits(max_response_bytes=1000)
    with pytest.raises(
        ResponseTooLarge, match=r"larger than 1000 bytes \(raise with --max-response\)"
    ):
        list(sse_events([b": keep-alive\n\n"] * 100, limits))


def test_read_chunks_stops_at_empty_read() -> None:
    parts = [b"ab", b"c", b""]
    assert list(read_chunks(lambda n: parts.pop(0))) == [b"ab", b"c"]


def test_a_20mb_line_is_read_in_linear_time() -> None:
    # 64 KiB chunks, as read1 delivers them; the old reader re-scanned the whole line on
    # every read (~6 s for 20 MB). A generous bound for a busy shared machine.
    size = 20 * 1024 * 1024
    piece = b"a" * 65536
    chunks = [b'data: {"c":"'] + [piece] * (size // len(piece)) + [b'"}\n\n']
    t0 = time.perf_counter()
    events = list(sse_events(chunks))
    elapsed = time.perf_counter() - t0
    assert len(events) == 1 and len(events[0].data) == size + 8
    assert elapsed < 2.0, f"{elapsed:.2f} s for one 20 MB line"

    t0 = time.perf_counter()
    lines = list(ndjson_lines([*chunks[1:-1], b"\n"]))
    assert len(lines) == 1 and len(lines[0][1]) == size
    assert time.perf_counter() - t0 < 2.0


def test_many_small_lines_in_one_big_chunk() -> None:
    body = b"".join(b"data: %d\n\n" % i for i in range(20_000))
    events = list(sse_events([body]))
    assert len(events) == 20_000 and events[-1].data == b"19999"
