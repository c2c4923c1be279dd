"""Are tokbench's stream line readers linear? One huge line, and many small events.

Prints, for one SSE `data:` line of 10/20/40/50 MB delivered in 64 KiB reads (each a
new bytes object, as from a socket), the seconds and the peak RSS of a fresh process
reading it with `tokbench.net.lines` (SSE and NDJSON), next to the old
`SSEParser` (quadratic: only up to --old-max-mb). Then the chunk throughput of both
on many small events, in 64 KiB reads and one event per read.

Target (issue 13): a 50 MB line in under 1 s and under 200 MB peak RSS.

Usage: python bench/lines.py [--sizes 10,20,40,50] [--old-max-mb 10] [--events 200000]
"""

from __future__ import annotations

import argparse
import importlib
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tokbench.net.lines import Limits, ndjson_lines, sse_data

READ = 65536
MB = 1024 * 1024


def old_parser() -> Any:
    """The quadratic SSE parser the backends used before `net.lines` (removed since: the
    comparison runs only on a checkout that still has it)."""
    for module in ("tokbench.net.sse", "tokbench.sse"):
        try:
            return importlib.import_module(module).SSEParser
        except ImportError:
            continue
    return None


def huge_line_chunks(size: int, sse: bool) -> Iterator[bytes]:
    yield b'data: {"c":"' if sse else b'{"c":"'
    left = size
    while left > 0:
        n = min(READ, left)
        yield b"a" * n  # a new object per read, like socket reads
        left -= n
    yield b'"}\n\n' if sse else b'"}\n'


def child(reader: str, size: int) -> None:
    """One measurement in this (fresh) process; prints JSON."""
    limits = Limits(max_line_bytes=128 * MB, max_response_bytes=128 * MB)
    t0 = time.perf_counter()
    n = 0
    if reader == "sse":
        for _t, data in sse_data(huge_line_chunks(size, True), limits):
            n += len(data)
    elif reader == "ndjson":
        for _t, line in ndjson_lines(huge_line_chunks(size, False), limits):
            n += len(line)
    elif reader == "old-sse":
        parser = old_parser()()
        for chunk in huge_line_chunks(size, True):
            n += sum(len(d) for d in parser.feed(chunk))
        n += sum(len(d) for d in parser.close())
    elapsed = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"seconds": elapsed, "peak_rss_mb": rss_mb, "bytes": n}))


def measure(reader: str, size: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", reader, str(size)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(out.stdout)
    return result


def events_body(n: int) -> bytes:
    event = (
        b'data: {"choices":[{"index":0,"delta":{"content":"tok "},"finish_reason":null}],'
        b'"object":"chat.completion.chunk","model":"m"}\n\n'
    )
    return event * n


def throughput(
    name: str, body: bytes, split: int | None, run: Callable[[list[bytes]], int]
) -> None:
    if split is None:
        chunks = [body[i : i + READ] for i in range(0, len(body), READ)]
        how = "64 KiB reads"
    else:
        chunks = [body[i : i + split] for i in range(0, len(body), split)]
        how = "one event per read"
    best = float("inf")
    n = 0
    for _ in range(3):
        t0 = time.perf_counter()
        n = run(chunks)
        best = min(best, time.perf_counter() - t0)
    print(f"  {name:<22} {how:<20} {n / best / 1e6:6.2f} M events/s  ({len(chunks)} reads)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", default="10,20,40,50", help="line sizes in MB")
    p.add_argument("--old-max-mb", type=int, default=10, help="largest line for the old parser")
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--child", nargs=2, metavar=("READER", "BYTES"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        child(a.child[0], int(a.child[1]))
        return

    base = measure("sse", 0)
    print(
        f"one huge line, 64 KiB reads (a fresh process each; idle RSS {base['peak_rss_mb']:.0f} MB)"
    )
    print(f"  {'MB':>4} {'reader':<8} {'seconds':>8} {'peak RSS MB':>12}")
    old = old_parser()
    for mb in (int(s) for s in a.sizes.split(",")):
        readers = ["sse", "ndjson"]
        if old is not None and mb <= a.old_max_mb:
            readers.append("old-sse")
        for reader in readers:
            r = measure(reader, mb * MB)
            assert r["bytes"] >= mb * MB, r
            print(f"  {mb:>4} {reader:<8} {r['seconds']:>8.3f} {r['peak_rss_mb']:>12.0f}")

    print(f"\nmany small events ({a.events}), best of 3")
    body = events_body(a.events)
    event_len = body.index(b"\n\n") + 2

    def new(chunks: list[bytes]) -> int:
        return sum(1 for _ in sse_data(chunks))

    def legacy(chunks: list[bytes]) -> int:
        parser = old()
        return sum(len(parser.feed(c)) for c in chunks) + len(parser.close())

    for split in (None, event_len):
        throughput("net.lines sse_data", body, split, new)
        if old is not None:
            throughput("old SSEParser", body, split, legacy)


if __name__ == "__main__":
    main()
