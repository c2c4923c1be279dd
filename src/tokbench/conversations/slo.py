"""Service-level objectives: `ttft_p90=3s,itl_p90=250ms,e2e_p99=60s,tps_p90=10`.

Each objective says a share of requests must meet a bound: `ttft_p90=3s` is "90 % of
requests see their first token within 3 s". Per request: `ttft` (time to first token),
`itl` (the request's own p95 inter-token gap), `e2e` (send to last token) must be at most
the bound; `tps` (decode tokens/s) at least. A failed request meets none; a request
without the figure (a one-token answer has no gap) is not judged on it.

The attainment share of each objective comes with a Wilson interval, and a verdict
decided by the interval, never by the point: meets (the interval's low end reaches the
share), fails (its high end is below it), undecided (the interval straddles it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from tokbench.core.records import RequestRecord
from tokbench.core.stats import wilson
from tokbench.errors import TokbenchError

Verdict = Literal["meets", "fails", "undecided"]
METRICS = {"ttft": "ms", "itl": "ms", "e2e": "ms", "tps": "tok/s"}
_SPEC = re.compile(r"(ttft|itl|e2e|tps)_p(\d{1,2}(?:\.\d+)?)=([0-9.]+)\s*(ms|s)?")


@dataclass(frozen=True, slots=True)
class Slo:
    metric: str  # ttft | itl | e2e (ms, at most) or tps (tok/s, at least)
    share: float  # 0.9 for p90
    bound: float  # ms for times, tok/s for tps

    @property
    def label(self) -> str:
        pct = f"p{self.share * 100:g}"
        if self.metric == "tps":
            return f"{self.metric} {pct} ≥ {self.bound:g} tok/s"
        value = f"{self.bound / 1000:g} s" if self.bound >= 1000 else f"{self.bound:g} ms"
        return f"{self.metric} {pct} ≤ {value}"


def parse_slos(spec: str | None) -> tuple[Slo, ...]:
    """`ttft_p90=3s,itl_p90=250ms`; a bad part gets one sentence naming it."""
    if not spec:
        return ()
    out = []
    for part in (p.strip() for p in spec.split(",")):
        m = _SPEC.fullmatch(part)
        if m is None:
            raise TokbenchError(
                f"--slo: cannot read {part!r}; write METRIC_pNN=VALUE with METRIC one of "
                "ttft, itl, e2e (a time: 3s, 250ms) or tps (tokens/s), e.g. ttft_p90=3s"
            )
        metric, pct, value, unit = m.group(1), float(m.group(2)), float(m.group(3)), m.group(4)
        if not 0 < pct < 100:
            raise TokbenchError(f"--slo: {part!r}: the percentile must be between 0 and 100")
        if metric == "tps" and unit:
            raise TokbenchError(f"--slo: {part!r}: tps is tokens per second, without a unit")
        if metric != "tps" and not unit:
            raise TokbenchError(f"--slo: {part!r}: give the time's unit, e.g. 3s or 250ms")
        bound = value * 1000 if unit == "s" else value
        out.append(Slo(metric, pct / 100, bound))
    return tuple(out)


def meets(slo: Slo, record: RequestRecord) -> bool | None:
    """Whether one request meets one objective (None: the request has no such figure)."""
    m = record.metrics
    if record.status != "ok" or m is None:
        return False
    value = {"ttft": m.ttft_ms, "itl": m.itl_p95_ms, "e2e": m.total_ms, "tps": m.decode_tps}[
        slo.metric
    ]
    if value is None:
        return None
    return value >= slo.bound if slo.metric == "tps" else value <= slo.bound


@dataclass(frozen=True, slots=True)
class Attainment:
    slo: Slo
    met: int
    judged: int
    low: float  # Wilson 95 % interval of the share that met it
    high: float

    @property
    def share(self) -> float | None:
        return self.met / self.judged if self.judged else None

    @property
    def verdict(self) -> Verdict:
        if self.judged and self.low >= self.slo.share:
            return "meets"
        if self.judged and self.high < self.slo.share:
            return "fails"
        return "undecided"


def attainment(slo: Slo, records: Sequence[RequestRecord]) -> Attainment:
    judged = [v for v in (meets(slo, r) for r in records) if v is not None]
    met = sum(judged)
    low, high = wilson(met, len(judged)) if judged else (0.0, 1.0)
    return Attainment(slo, met, len(judged), low, high)


@dataclass(frozen=True, slots=True)
class Goodput:
    """Requests per second that met every objective, over the span the requests took."""

    good: int
    total: int
    span_s: float
    rps: float
    low_rps: float  # the Wilson interval of the good share, times the request rate
    high_rps: float
    attainments: tuple[Attainment, ...]

    @property
    def verdict(self) -> Verdict:
        verdicts = {a.verdict for a in self.attainments}
        if "fails" in verdicts:
            return "fails"
        return "undecided" if "undecided" in verdicts else "meets"


def span_s(records: Sequence[RequestRecord]) -> float:
    """From the first request's send to the last one's end, on the wall clock."""
    starts, ends = [], []
    for r in records:
        t = datetime.fromisoformat(r.started_at).timestamp()
        starts.append(t)
        ends.append(t + (r.metrics.total_ms / 1000 if r.metrics else 0.0))
    return max(ends) - min(starts) if starts else 0.0


def goodput(slos: Sequence[Slo], records: Sequence[RequestRecord]) -> Goodput:
    good = sum(all(meets(s, r) is not False for s in slos) for r in records)
    n = len(records)
    span = span_s(records)
    rate = n / span if span > 0 else 0.0
    low, high = wilson(good, n) if n else (0.0, 0.0)
    return Goodput(
        good,
        n,
        span,
        good / span if span > 0 else 0.0,
        low * rate,
        high * rate,
        tuple(attainment(s, records) for s in slos),
    )
