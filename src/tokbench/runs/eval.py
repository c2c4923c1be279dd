"""Run standard benchmarks against a backend as a run of kind "eval", storing each request
the moment it completes, with its speed, energy and grade; stopped by a time box or by the
interval's width, and resumable. One function (`run_eval`) creates, resumes and finishes
the run, so it moves to the run ledger in one piece."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from tokbench.backends.registry import open_backend
from tokbench.core.config import RunConfig
from tokbench.core.records import (
    EvalPlan,
    Grade,
    ItemPlan,
    RequestMetrics,
    RequestRecord,
    RunInfo,
    RunSettings,
    utc_now,
)
from tokbench.core.trace import Trace
from tokbench.energy.session import EnergySession
from tokbench.errors import TokbenchError
from tokbench.evals.answers import grade_eval
from tokbench.evals.data_files import ItemSet, item_set
from tokbench.evals.estimate import estimate
from tokbench.evals.items import EvalItem
from tokbench.evals.prompts import request
from tokbench.evals.summary import (
    CUT,
    BenchmarkResult,
    benchmark_of,
    is_cut,
    latest,
    summarize,
)
from tokbench.runs.requests import (
    Grader,
    RequestRun,
    open_run_ledger,
    with_threads,
    writable_folder,
)
from tokbench.store.database import Store
from tokbench.store.ledger import resumable

DEFAULT_MAX_TOKENS = 2048  # room for a short chain of thought; reasoning models want more


class EvalObserver(Protocol):
    def started(self, item: EvalItem, index: int, total: int) -> None: ...
    def token(self) -> None: ...
    def finished(self, record: RequestRecord) -> None: ...


class _Quiet:
    def started(self, item: EvalItem, index: int, total: int) -> None:
        pass

    def token(self) -> None:
        pass

    def finished(self, record: RequestRecord) -> None:
        pass


class _TimeUp(Exception):
    """Raised from the token callback when the time box ends mid-answer."""


@dataclass(frozen=True, slots=True)
class EvalResult:
    run: RunInfo
    records: list[RequestRecord]
    results: list[BenchmarkResult]
    status: str  # done | failed | interrupted
    stopped_by: str  # why the run ended: all asked, --max-time, --until-ci, Ctrl-C
    folder: Path


def plan_items(plan: EvalPlan) -> tuple[list[EvalItem], EvalPlan, list[str]]:
    """Every benchmark's items, interleaved (one of each in turn), so a run stopped at any
    point has a fair prefix of each; the plan with the full sets' sizes; the sources."""
    sets: list[ItemSet] = [
        item_set(b, plan.data.get(b), full=plan.full, limit=plan.limit) for b in plan.benchmarks
    ]
    lists = [s.items for s in sets]
    order = []
    for k in range(max(map(len, lists), default=0)):
        order += [lst[k] for lst in lists if k < len(lst)]
    sizes = {s.benchmark: s.population for s in sets}
    return order, replace(plan, populations=sizes), [s.source for s in sets]


def _resumed(store: Store, run_id: str) -> tuple[RunConfig, EvalPlan, tuple[str, ...]]:
    old = resumable(store, run_id, ("eval",), "tokbench eval").config
    if not isinstance(old, RunSettings) or old.eval is None:
        raise TokbenchError(f"run {run_id} keeps no eval settings: it cannot be resumed")
    return old.run, old.eval, tuple(i.id for i in old.items)


def _grader(item: EvalItem) -> Grader:
    def grade(answer: str, metrics: RequestMetrics, error: str | None) -> Grade | None:
        return grade_eval(
            item,
            answer,
            finish_reason=metrics.finish_reason,
            answer_state=metrics.answer_state,
            error=error,
        )

    return grade


def _not_graded(why: str, item: EvalItem) -> Grader:
    """An answer cut by the time box is stored marked, not graded (asked again on resume)."""
    grade = Grade("error", None, f"{why}: not graded", f"eval:{item.kind}")
    return lambda _answer, _metrics, _error: grade


def run_eval(
    config: RunConfig,
    plan: EvalPlan,
    store: Store,
    runs_base: Path,
    *,
    resume: str | None = None,
    observer: EvalObserver | None = None,
    notify: Callable[[str], None] = lambda _msg: None,
    on_end: Callable[[Path, RunInfo, list[RequestRecord]], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> EvalResult:
    """Create (or resume) an eval run and ask its items until all are asked, the time box
    (`plan.max_time_s`, from now) ends or every benchmark's interval is narrow enough
    (`plan.until_ci_pts`). On resume the stored items and settings are used; the given
    plan's time box and CI target replace the stored ones.

    The item in flight when the time box ends is cut and stored marked (not graded, asked
    again on --resume). Ctrl-C ends the run as "interrupted"; what finished is kept."""
    writable_folder(runs_base)
    obs = observer or _Quiet()
    began = clock()
    ids: tuple[str, ...] = ()
    if resume:
        # the stored settings, measured with this call's energy flags (they are not stored)
        energy = config.energy
        config, stored, ids = _resumed(store, resume)
        config = replace(config, energy=energy)
        plan = replace(stored, max_time_s=plan.max_time_s, until_ci_pts=plan.until_ci_pts)
    items, plan, sources = plan_items(plan)
    if resume:
        by_id = {it.id: it for it in items}
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise TokbenchError(f"item {missing[0]} of run {resume} is no longer in its data")
        items = [by_id[i] for i in ids]
    if not items:
        raise TokbenchError("no items to ask")
    max_tokens = config.max_tokens or DEFAULT_MAX_TOKENS
    sampling = config.sampling
    backend = open_backend(config.connection, notify, config.engine)
    try:
        config = with_threads(config)
        suite = "eval:" + "+".join(plan.benchmarks)
        ledger = open_run_ledger(
            store,
            "eval",
            RunSettings(
                replace(config, suite=suite),
                "; ".join(sources),
                tuple(ItemPlan(i.id, max_tokens, sampling) for i in items),
                plan,
            ),
            backend,
            suite=suite,
            resume=resume,
        )
        folder = runs_base / ledger.run_id
        session = (
            EnergySession(config.energy, notify=notify, server_url=config.url)
            if config.energy is not None
            else None
        )
        asking = RequestRun(ledger, session)
        deadline = began + plan.max_time_s if plan.max_time_s else None
        box = f"the time box (--max-time {plan.max_time_s:g} s)" if plan.max_time_s else ""
        planned = {b: sum(1 for i in items if i.benchmark == b) for b in plan.benchmarks}

        def ask() -> str:
            """Ask the items not asked yet; returns why the asking stopped."""
            if session is not None:
                session.start()
            done = {i for i, r in latest(asking.records).items() if not is_cut(r)}
            reps = {r.item_id: r.rep for r in asking.records}
            ttft_s = 0.0
            tally = _Tally(plan)
            for r in latest(asking.records).values():
                tally.add(r)
            for index, item in enumerate(items):
                if item.id in done or tally.narrow(item.benchmark):
                    continue
                # no token can come before the prompt is read: an item whose first token
                # would land after the box is not started (the slowest first token so far)
                if deadline is not None and clock() + ttft_s >= deadline:
                    return box
                obs.started(item, index, len(items))
                req = request(
                    item,
                    style=plan.style,
                    n_shots=plan.shots,
                    max_tokens=max_tokens,
                    sampling=sampling,
                    extra=config.extra_body or {},
                )
                prompt = req.messages[-1][1]
                tokens = 0

                def on_token() -> None:
                    nonlocal tokens
                    tokens += 1
                    obs.token()
                    if deadline is not None and clock() >= deadline:
                        raise _TimeUp

                rep = reps.get(item.id, -1) + 1
                t0, started_at = time.perf_counter_ns(), utc_now()
                try:
                    trace = backend.stream(req, on_token)
                    record = asking.record(item.id, rep, started_at, trace, prompt, _grader(item))
                except _TimeUp:
                    why = f"{CUT} after {tokens} tokens (--max-time {plan.max_time_s:g} s)"
                    cut = Trace(t0, time.perf_counter_ns(), (), (), (), error=why)
                    record = asking.record(
                        item.id, rep, started_at, cut, prompt, _not_graded(why, item),
                        measure_energy=False,
                    )  # fmt: skip
                if record.metrics and record.metrics.ttft_ms:
                    ttft_s = max(ttft_s, record.metrics.ttft_ms / 1000)
                asking.add(record)
                tally.add(record)
                reps[item.id] = rep
                obs.finished(record)
                if is_cut(record):
                    return box
            if any(tally.narrow(b) for b in plan.benchmarks):
                return f"intervals within ±{plan.until_ci_pts:g} points (--until-ci)"
            return "all items asked"

        try:
            status, stopped_by = asking.run(ask)
        finally:
            if on_end is not None:
                on_end(folder, ledger.run, ledger.requests())
        final = ledger.requests()
        return EvalResult(
            ledger.run,
            final,
            summarize(plan, final, planned),
            status,
            stopped_by or "Ctrl-C",
            folder,
        )
    finally:
        backend.close()


class _Tally:
    """Right and graded answers per benchmark as the run goes, for --until-ci (O(1) a step)."""

    MIN_GRADED = 10  # a lucky first few answers must not end a benchmark

    def __init__(self, plan: EvalPlan) -> None:
        self.plan = plan
        self.right: dict[str, int] = {}
        self.graded: dict[str, int] = {}

    def add(self, record: RequestRecord) -> None:
        if record.grade is None or record.grade.verdict not in ("pass", "fail"):
            return
        bench = benchmark_of(record.item_id)
        self.graded[bench] = self.graded.get(bench, 0) + 1
        self.right[bench] = self.right.get(bench, 0) + (record.grade.verdict == "pass")

    def narrow(self, bench: str) -> bool:
        """The benchmark's interval is already within ±until_ci_pts points."""
        if self.plan.until_ci_pts is None or self.graded.get(bench, 0) < self.MIN_GRADED:
            return False
        e = estimate(self.right[bench], self.graded[bench], self.plan.populations[bench])
        return e.half_width_pts is not None and e.half_width_pts <= self.plan.until_ci_pts
