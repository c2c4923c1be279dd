"""A conversation run's figures per turn and overall, from its stored requests (ids
`c003.t01`: conversation 3, turn 1, 0-based), with its objectives' goodput."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from statistics import median

from tokbench.conversations.cache import CacheReading, acceptance_rate, cache_reading, hit_rate
from tokbench.conversations.evictions import (
    NO_LIMITS,
    LostCache,
    ServerLimits,
    limits_for,
    lost_caches,
)
from tokbench.conversations.lostcost import CostPoint, lost_cache_cost
from tokbench.conversations.slo import Goodput, goodput, parse_slos
from tokbench.core.config import ConverseConfig
from tokbench.core.records import ConverseSettings, RequestRecord, RunInfo
from tokbench.errors import TokbenchError
from tokbench.store.database import Store

_ITEM = re.compile(r"c(\d+)\.t(\d+)")


def item_id(conversation: int, turn: int) -> str:
    return f"c{conversation:03d}.t{turn:02d}"


def parse_item_id(item: str) -> tuple[int, int] | None:
    m = _ITEM.fullmatch(item)
    return (int(m.group(1)), int(m.group(2))) if m else None


@dataclass(frozen=True, slots=True)
class TurnRow:
    """Turn `turn` (0-based) over every conversation: medians and cache sums."""

    turn: int
    requests: int
    failed: int
    ttft_ms: float | None  # median
    context_tokens: float | None  # median prompt length (cached + computed)
    computed_tokens: int | None  # summed prefill tokens the server computed
    cached_tokens: int | None  # summed tokens it reused
    hit_rate: float | None
    decode_tps: float | None  # median
    cache_source: str  # server | engine | inferred | none | not reported
    lost: int = 0  # conversations whose cache this turn lost (evictions.lost_caches)


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    turns: tuple[TurnRow, ...]
    hit_rate: float | None
    cached_tokens: int | None
    computed_tokens: int | None
    draft_acceptance: float | None
    cache_source: str
    lost: tuple[LostCache, ...] = ()


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return median(present) if present else None


def _sum(values: Sequence[int | None]) -> int | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _source(readings: Sequence[CacheReading]) -> str:
    sources = {r.source for r in readings}
    return sources.pop() if len(sources) == 1 else "mixed" if sources else "not reported"


def _context(r: CacheReading, prompt_tokens: int | None) -> float | None:
    if r.cached_tokens is not None and r.computed_tokens is not None:
        return float(r.cached_tokens + r.computed_tokens)
    return float(prompt_tokens) if prompt_tokens is not None else None


def summarize(
    server_kind: str,
    records: Sequence[RequestRecord],
    cfg: ConverseConfig | None = None,
    limits: ServerLimits = NO_LIMITS,
) -> ConversationSummary:
    """Per turn and overall; with the run's `cfg`, the turns that lost their cache."""
    by_turn: dict[int, list[RequestRecord]] = {}
    keyed: dict[tuple[int, int], CacheReading] = {}
    for r in records:
        key = parse_item_id(r.item_id)
        if key is not None:
            by_turn.setdefault(key[1], []).append(r)
            if r.status == "ok":
                keyed[key] = cache_reading(server_kind, r.metrics)
    lost = lost_caches(keyed, cfg, limits) if cfg is not None else ()
    rows = []
    every: list[CacheReading] = []
    for turn in sorted(by_turn):
        recs = by_turn[turn]
        ok = [r for r in recs if r.status == "ok"]
        readings = [cache_reading(server_kind, r.metrics) for r in ok]
        every += readings
        rows.append(
            TurnRow(
                turn=turn,
                requests=len(recs),
                failed=len(recs) - len(ok),
                ttft_ms=_median([r.metrics.ttft_ms if r.metrics else None for r in ok]),
                context_tokens=_median(
                    [
                        _context(c, r.metrics.prompt_tokens if r.metrics else None)
                        for c, r in zip(readings, ok, strict=True)
                    ]
                ),
                computed_tokens=_sum([c.computed_tokens for c in readings]),
                cached_tokens=_sum([c.cached_tokens for c in readings]),
                hit_rate=hit_rate(readings),
                decode_tps=_median([r.metrics.decode_tps if r.metrics else None for r in ok]),
                cache_source=_source(readings),
                lost=sum(1 for x in lost if x.turn == turn),
            )
        )
    ok_all = [r for r in records if r.status == "ok"]
    return ConversationSummary(
        turns=tuple(rows),
        hit_rate=hit_rate(every),
        cached_tokens=_sum([c.cached_tokens for c in every]),
        computed_tokens=_sum([c.computed_tokens for c in every]),
        draft_acceptance=acceptance_rate([r.metrics for r in ok_all]),
        cache_source=_source(every),
        lost=lost,
    )


def server_of(run: RunInfo) -> tuple[str, ServerLimits]:
    """The run's server kind and the limits it stated (stored with the run's target)."""
    kind = run.target.backend_kind or run.backend
    return kind, limits_for(kind, run.target.details.get("total_slots"), run.target.n_ctx)


def config_of(run: RunInfo) -> ConverseConfig:
    if not isinstance(run.config, ConverseSettings):
        raise TokbenchError(f"run {run.id} is a {run.kind} run, not a conversation run")
    return run.config.converse


@dataclass(frozen=True, slots=True)
class ConversationReport:
    config: ConverseConfig
    summary: ConversationSummary
    goodput: Goodput | None
    lost_cache_cost: tuple[CostPoint, ...] = ()  # a --lost-cache-cost run's points


def conversation_report(store: Store, run_id: str) -> ConversationReport:
    run = store.run(run_id)
    cfg = config_of(run)
    records = store.requests(run_id)
    slos = parse_slos(cfg.slo)
    kind, limits = server_of(run)
    return ConversationReport(
        cfg,
        summarize(kind, records, cfg, limits),
        goodput(slos, records) if slos and records else None,
        lost_cache_cost(kind, records) if cfg.lost_cache_cost else (),
    )


# `export`: each conversation turn's own fields beside its request's columns
TURN_COLUMNS = (
    "conversation",
    "turn",
    "cached_tokens",
    "computed_tokens",
    "cache_source",
    "cache_lost",
)


def turn_fields(store: Store, run: RunInfo) -> dict[str, dict[str, object]]:
    """Per item id of a conversation run: its conversation and turn (1-based), the cache
    reading by its server's rule, and why it lost its cache (empty when it did not)."""
    cfg = config_of(run)
    kind, limits = server_of(run)
    records = store.requests(run.id)
    lost = {(x.conversation, x.turn): x.reason for x in summarize(kind, records, cfg, limits).lost}
    out: dict[str, dict[str, object]] = {}
    for r in records:
        key = parse_item_id(r.item_id)
        if key is None:
            continue
        reading = cache_reading(kind, r.metrics) if r.status == "ok" else None
        out[r.item_id] = {
            "conversation": key[0] + 1,
            "turn": key[1] + 1,
            "cached_tokens": reading.cached_tokens if reading else None,
            "computed_tokens": reading.computed_tokens if reading else None,
            "cache_source": reading.source if reading else None,
            "cache_lost": lost.get(key, ""),
        }
    return out


def with_turn_fields(
    store: Store, runs: Sequence[RunInfo], rows: Iterable[dict[str, object]]
) -> Iterator[dict[str, object]]:
    """Export rows with `TURN_COLUMNS` added (empty for other runs' requests)."""
    fields = {run.id: turn_fields(store, run) for run in runs if run.kind == "converse"}
    empty = dict.fromkeys(TURN_COLUMNS)
    for row in rows:
        extra = fields.get(str(row.get("run_id")), {}).get(str(row.get("item_id")), empty)
        yield {**row, **extra}
