"""Every number an import keeps is checked here, once, whatever tool wrote the file, so
nothing reaches the store that a later `show`, `compare` or `report` cannot render.

Counts (tokens, requests, repetitions) must be whole numbers from 0 to SQLite's largest
integer: anything else refuses the file with the field named, since a negative token count
means the file is not what it claims. Measurements (tok/s, milliseconds, seconds, rates)
must be finite, not negative and below core.stats.MAX_MEASURE: anything else is marked
missing with a note, since one broken figure should not cost the rest of the file. A request
rate may be infinite (the tool sent every request at once). A start time must be an ISO
8601 date.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace
from datetime import datetime
from typing import Any

from tokbench.core.stats import measured
from tokbench.errors import TokbenchError
from tokbench.interop.records import ImportedRun, ImportedTest, Summary

SQLITE_INT_MAX = 2**63 - 1
# `n` last: it is often `completed` again, which names the file's own field.
_COUNTS = ("n_prompt", "n_gen", "depth", "completed", "failed", "n")
_MEASURES = (
    "mean_tps",
    "sd_tps",
    "request_throughput_rps",
    "output_throughput_tps",
    "total_throughput_tps",
    "concurrency",
    "duration_s",
)
_LATENCIES = ("ttft_ms", "tpot_ms", "itl_ms", "e2el_ms")


def _count(value: int | None, field: str, test: str) -> None:
    if value is not None and not 0 <= value <= SQLITE_INT_MAX:
        raise TokbenchError(
            f"test {test!r} has {field} = {_short(value)}, but a count must be a whole "
            f"number from 0 to {SQLITE_INT_MAX}"
        )


def _short(value: object) -> str:
    text = str(value)
    return text if len(text) <= 24 else f"{text[:20]}… ({len(text)} digits)"


def _summary(s: Summary | None, name: str, missing: Counter[str]) -> Summary | None:
    """The summary with its bad values missing; the same object when all are good."""
    if s is None:
        return None
    fields = {f: getattr(s, f) for f in ("mean", "median", "sd", "min", "max")}
    kept = {f: measured(v) for f, v in fields.items()}
    bad = [f for f, v in fields.items() if v is not None and kept[f] is None]
    pairs = tuple((p, v) for p, v in s.percentiles if measured(v) is not None and 0 <= p <= 100)
    count_ok = s.count is None or 0 <= s.count <= SQLITE_INT_MAX
    if not bad and len(pairs) == len(s.percentiles) and count_ok:
        return s
    missing.update(f"{name}.{f}" for f in bad)
    missing.update(f"{name}.p{p:g}" for p, v in s.percentiles if (p, v) not in pairs)
    if not count_ok:
        missing[f"{name}.count"] += 1
    return Summary(**kept, count=s.count if count_ok else None, percentiles=pairs)


def _test(t: ImportedTest, missing: Counter[str]) -> ImportedTest:
    for field in _COUNTS:
        _count(getattr(t, field), field, t.name)
    if t.kind in ("pp", "tg", "pp+tg") and not (t.n_prompt or t.n_gen):
        raise TokbenchError(
            f"test {t.name!r} has n_prompt = 0 and n_gen = 0, so it measured no tokens"
        )
    changes: dict[str, Any] = {}
    for field in _MEASURES:
        value = getattr(t, field)
        if value is not None and measured(value) is None:
            missing[field] += 1
            changes[field] = None
    rate = t.request_rate_rps
    if rate is not None and rate != math.inf and measured(rate) is None:
        missing["request_rate_rps"] += 1
        changes["request_rate_rps"] = None
    if any(measured(v) is None for v in t.samples_tps):
        samples = tuple(v for v in t.samples_tps if measured(v) is not None)
        missing["samples_tps"] += len(t.samples_tps) - len(samples)
        changes["samples_tps"] = samples
    for name in _LATENCIES:
        old = getattr(t, name)
        if (new := _summary(old, name, missing)) is not old:
            changes[name] = new
    summaries = tuple(
        (name, s) for name, s0 in t.summaries if (s := _summary(s0, name, missing)) is not None
    )
    if any(a is not b for (_, a), (_, b) in zip(summaries, t.summaries, strict=True)):
        changes["summaries"] = summaries
    return replace(t, **changes) if changes else t


def _iso(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return None
    return value


def _run_int(value: int | None, low: int = 0) -> int | None:
    return value if value is not None and low <= value <= SQLITE_INT_MAX else None


def checked(run: ImportedRun) -> ImportedRun:
    """The run with every value in range: a bad count raises TokbenchError naming it, a bad
    measurement or date becomes None and a note says which fields and how many."""
    missing: Counter[str] = Counter()
    tests = tuple(_test(t, missing) for t in run.tests)
    notes = list(run.notes)
    created = _iso(run.created_at)
    if run.created_at is not None and created is None:
        notes.append(f"the start time {_short(run.created_at)!r} is not a date: marked missing")
    if missing:
        fields = ", ".join(f"{k} ({n})" for k, n in sorted(missing.items()))
        notes.append(f"values that were not finite numbers in range were marked missing: {fields}")
    return replace(
        run,
        tests=tests,
        created_at=created,
        model_size_bytes=_run_int(run.model_size_bytes),
        model_params=_run_int(run.model_params),
        threads=_run_int(run.threads),
        n_gpu_layers=_run_int(run.n_gpu_layers, low=-SQLITE_INT_MAX),
        build_number=_run_int(run.build_number),
        notes=tuple(notes),
    )
