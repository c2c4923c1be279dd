"""When each conversation starts: all at once within the concurrency limit (closed
loop, like `bench -c`), or on a clock (open loop) at a constant rate, as a Poisson
process, or in bursts. Offsets are seconds after the run's start."""

from __future__ import annotations

import random

from tokbench.errors import TokbenchError

PATTERNS = ("closed", "constant", "poisson", "burst")
BURST_SIZE = 4  # conversations that arrive together in a burst


def arrival_offsets(pattern: str, n: int, rate: float | None, seed: int = 0) -> list[float]:
    """`n` start offsets for `pattern` at `rate` conversations per second (a burst of
    `BURST_SIZE` every `BURST_SIZE / rate` seconds keeps the same mean rate)."""
    if pattern not in PATTERNS:
        choices = ", ".join(PATTERNS)
        raise TokbenchError(f"unknown arrival pattern {pattern!r}: use one of {choices}")
    if pattern == "closed":
        return [0.0] * n
    if rate is None or not rate > 0:
        raise TokbenchError(f"--arrival {pattern} needs --rate, conversations per second > 0")
    if pattern == "constant":
        return [i / rate for i in range(n)]
    if pattern == "burst":
        return [(i // BURST_SIZE) * BURST_SIZE / rate for i in range(n)]
    rng = random.Random(seed)
    t, out = 0.0, []
    for _ in range(n):
        out.append(t)
        t += rng.expovariate(rate)
    return out
