"""What every server kind provides: a chat `Backend` for suite runs, a `BenchEngine` for
bench tests, and the options that open them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from tokbench.core.config import BenchTest, Connection
from tokbench.core.records import Sample, Target
from tokbench.core.trace import ChatRequest, Trace

OnToken = Callable[[], None]
# A detection probe's GET: the path's parsed JSON, or None when it is absent or not JSON.
Getter = Callable[[str], Any]


# Bench prompts over HTTP: words that are one token in common vocabularies; random order
# makes every prompt's first tokens differ, so no repetition reuses another's prompt cache.
WORDS = tuple(
    """the of and to in is was for on are with as his they at be this from have or by one
    had not but what all were when we there can an your which their said if do will each
    about how up out them then she many some so these would other into has more her two
    like him see time could no make than first been its who now people my made over did
    down only way find use may water long little very after words called just where most
    know get through back much before go good new write our used me man too any day same
    right look think also around another came come work three word must because does part
    """.split()
)


def decode_rate(tokens: int, times: list[int], notes: list[str]) -> float | None:
    """Client decode tok/s: tokens after the first over first-to-last arrival. None, with a
    note, when every token came in one read (a buffering proxy): no interval to time."""
    if tokens < 2 or len(times) < 2:
        return None
    if times[-1] <= times[0]:
        notes.append("all tokens arrived in one read (a buffering proxy?): decode not timed")
        return None
    return (tokens - 1) / ((times[-1] - times[0]) / 1e9)


def generation_sample(
    want: int, got: int, times: list[int], t0: int, server_tps: float | None, why_short: str
) -> Sample:
    """A tgN measurement over HTTP: `got` tokens arrived at `times` (read times, ns) after
    sending at `t0`; fewer than `want` is marked short, with `why_short`."""
    notes = [] if got >= want else [f"only {got} of {want} tokens: {why_short}"]
    tps = decode_rate(got, times, notes)
    return Sample(
        tps,
        server_tps,
        got,
        "ok" if got >= want else "short",
        "; ".join(notes) or None,
        ttft_ms=(times[0] - t0) / 1e6,
        first_ns=t0,
        last_ns=times[-1],
    )


class Backend(Protocol):
    kind: str  # "embedded", "openai", ...
    model: str

    def describe(self) -> Target:
        """What was measured (model file, server, version...), for the run record."""
        ...

    def stream(self, request: ChatRequest, on_token: OnToken | None = None) -> Trace:
        """Run one request. A failed request returns a Trace with `error` set; it never raises
        for the request's own failure (KeyboardInterrupt still propagates)."""
        ...

    def close(self) -> None: ...


class BenchEngine(Protocol):
    kind: str
    model: str

    def info(self) -> Target: ...
    def measure(self, test: BenchTest, rep: int) -> Sample: ...
    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Detected:
    """What a probe found at a URL."""

    url: str  # the server root
    kind: str
    version: str | None = None
    models: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ServerKind:
    """One entry of `backends.registry.KINDS`."""

    name: str
    summary: str
    signature: str | None  # what its probe looks for, for "nothing matched" messages
    probe: Callable[[Getter, str], Detected | None] | None  # None: not a server
    # opens the run backend from a connection and its API key (the embedded engine: None)
    open: Callable[[Connection, str | None], Backend]
    bench: Callable[[Any, bool], BenchEngine]  # (backend, prefix_cache) -> bench engine
    # what the kind offers: "thinking" (a separate reasoning channel), "server_timing"
    # (the server's own clock), "exact_prompt" (a tokenizer endpoint), "prefix_cache"
    capabilities: frozenset[str]
