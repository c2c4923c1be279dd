"""The largest load that still meets the objectives: levels of concurrency (conversations
in flight) or of arrival rate (conversations started per second, a Poisson process)
doubled until one fails, then bisected (concurrency to 1, a rate to `RATE_RESOLUTION` of
itself). Each level is decided by its interval
(`slo.Goodput.verdict`: meets / fails / undecided), never by a point estimate; a level
stops as soon as its interval decides, or early when it is clearly over-saturated (TTFT
growing with time past its objective: the server falls further behind with every request).

Deciding a level as soon as its interval allows (sequential looks) makes the 95 %
intervals somewhat optimistic; `min_requests` keeps the first looks from deciding on a
handful of requests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from tokbench.conversations.slo import Goodput, Slo, Verdict, goodput
from tokbench.core.records import RequestRecord
from tokbench.core.stats import linear_fit

MIN_REQUESTS = 10
RATE_RESOLUTION = 0.125  # bisect rates until the bracket is within 12.5 % of its top

Over = Literal["concurrency", "rate"]


@dataclass(frozen=True, slots=True)
class Level:
    load: float  # conversations in flight, or started per second
    verdict: Verdict
    goodput: Goodput
    saturated: bool  # stopped early: TTFT kept growing with time
    run_id: str | None = None


@dataclass(frozen=True, slots=True)
class LevelRun:
    """What measuring one level returned."""

    records: tuple[RequestRecord, ...]
    saturated: bool
    run_id: str | None = None


Outcome = Literal["found", "undecided", "at least", "none"]


@dataclass(frozen=True, slots=True)
class Capacity:
    load: float  # the largest level that met every objective (0: none did)
    outcome: Outcome
    levels: tuple[Level, ...]
    slos: tuple[Slo, ...]
    undecided_at: float | None = None
    over: Over = "concurrency"

    @property
    def sentence(self) -> str:
        objectives = " and ".join(s.label for s in self.slos)
        if self.over == "rate":
            return self._rate_sentence(objectives)
        n = f"{self.load:g} conversation{'s' if self.load != 1 else ''}"
        if self.outcome == "found":
            return f"this box serves {n} at once at {objectives} (each level decided at 95 %)"
        if self.outcome == "at least":
            return f"this box serves at least {n} at {objectives}: the search stopped at its limit"
        if self.outcome == "none":
            return f"this box serves no conversation at {objectives}: even 1 at a time fails"
        if self.load == 0:
            return (
                f"undecided: at {self.undecided_at:g} conversation(s) the interval straddles "
                f"the objectives ({objectives}); measure longer (more requests per level)"
            )
        return (
            f"this box serves at least {n} at {objectives}; {self.undecided_at:g} is "
            "undecided (the interval straddles the objectives): measure longer"
        )

    def _rate_sentence(self, objectives: str) -> str:
        rate = f"{self.load:g} new conversations a second (Poisson arrivals)"
        first = self.levels[0].load if self.levels else 0
        if self.outcome == "found":
            return f"this box serves {rate} at {objectives} (each level decided at 95 %)"
        if self.outcome == "at least":
            return (
                f"this box serves at least {rate} at {objectives}: the search stopped at its limit"
            )
        if self.outcome == "none":
            return f"this box fails {objectives} even at {first:g} new conversations a second"
        if self.load == 0:
            return (
                f"undecided: at {self.undecided_at:g} new conversations a second the interval "
                f"straddles the objectives ({objectives}); measure longer (more requests per level)"
            )
        return (
            f"this box serves at least {rate} at {objectives}; {self.undecided_at:g}/s is "
            "undecided (the interval straddles the objectives): measure longer"
        )


def _send_s(record: RequestRecord) -> float:
    return datetime.fromisoformat(record.started_at).timestamp()


def saturated(
    records: Sequence[RequestRecord], ttft_bound_ms: float | None, min_points: int = 8
) -> bool:
    """TTFT growing with time, the sign of a queue that never drains: the slope of TTFT
    against send time is above 0 with 95 % confidence, the fitted TTFT at the end is at
    least twice that at the start, and it is past the TTFT objective's bound (a trend
    that still meets the objective, e.g. a context growing turn by turn, is no reason to
    stop; without a TTFT objective, never)."""
    if ttft_bound_ms is None:
        return False
    points = [
        (_send_s(r), r.metrics.ttft_ms)
        for r in records
        if r.status == "ok" and r.metrics and r.metrics.ttft_ms is not None
    ]
    if len(points) < min_points:
        return False
    t0 = min(t for t, _ in points)
    xs = [t - t0 for t, _ in points]
    fit = linear_fit(xs, [y for _, y in points])
    if fit.ci_low is None or fit.ci_low <= 0:
        return False
    start = fit.intercept
    end = fit.intercept + fit.slope * max(xs)
    return start > 0 and end >= 2 * start and end > ttft_bound_ms


def ttft_bound_ms(slos: Sequence[Slo]) -> float | None:
    """The tightest TTFT objective's bound, if any."""
    return min((s.bound for s in slos if s.metric == "ttft"), default=None)


class LevelStop:
    """A level's stop rule: stop once its interval decides, or once it is clearly
    over-saturated (remembered: a turn already in flight may blur the trend after)."""

    def __init__(self, slos: Sequence[Slo], min_requests: int = MIN_REQUESTS) -> None:
        self.slos = tuple(slos)
        self.min_requests = min_requests
        self.saturated = False

    def __call__(self, records: list[RequestRecord]) -> bool:
        if len(records) < self.min_requests:
            return False
        if saturated(records, ttft_bound_ms(self.slos)):
            self.saturated = True
            return True
        return goodput(self.slos, records).verdict != "undecided"


def search_capacity(
    measure: Callable[[float], LevelRun],
    slos: Sequence[Slo],
    *,
    max_load: float = 64,
    on_level: Callable[[Level], None] = lambda _level: None,
    over: Over = "concurrency",
    start: float = 1,
) -> Capacity:
    """Double from `start` while levels meet; bisect between the last that met and the
    first that failed (concurrency: to one conversation; rate: to `RATE_RESOLUTION`); an
    undecided level ends the search there, said as such."""
    levels: dict[float, Level] = {}

    def decide(load: float) -> Verdict:
        run = measure(load)
        g = goodput(slos, run.records)
        verdict: Verdict = "fails" if run.saturated else g.verdict
        levels[load] = Level(load, verdict, g, run.saturated, run.run_id)
        on_level(levels[load])
        return verdict

    def middle(lo: float, hi: float) -> float | None:
        """The next level to try between them, or None when the bracket is tight enough."""
        if over == "concurrency":
            return (lo + hi) // 2 if hi - lo > 1 else None
        if lo == 0 or hi - lo <= RATE_RESOLUTION * hi:
            return None
        return float(f"{(lo + hi) / 2:.3g}")

    lo: float = 0
    hi: float | None = None
    undecided: float | None = None
    load = start
    while load <= max_load:
        verdict = decide(load)
        if verdict == "meets":
            lo, load = load, load * 2
        elif verdict == "fails":
            hi = load
            break
        else:
            undecided = load
            break
    while undecided is None and hi is not None:
        mid = middle(lo, hi)
        if mid is None:
            break
        verdict = decide(mid)
        if verdict == "meets":
            lo = mid
        elif verdict == "fails":
            hi = mid
        else:
            undecided = mid
    ordered = tuple(levels[k] for k in sorted(levels))
    if undecided is not None:
        return Capacity(lo, "undecided", ordered, tuple(slos), undecided, over)
    if hi is None:
        return Capacity(lo, "at least", ordered, tuple(slos), over=over)
    return Capacity(lo, "found" if lo else "none", ordered, tuple(slos), over=over)
