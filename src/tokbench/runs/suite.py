"""Run a suite against a backend, storing each request the moment it completes."""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from tokbench.backends.base import Backend
from tokbench.backends.registry import open_backend
from tokbench.core.config import RunConfig
from tokbench.core.metrics import request_metrics
from tokbench.core.records import (
    ItemPlan,
    RequestRecord,
    RunInfo,
    RunSettings,
    utc_now,
)
from tokbench.energy.session import EnergySession
from tokbench.errors import TokbenchError
from tokbench.grade.grading import grade_answer
from tokbench.hardware.bandwidth import speed_bound
from tokbench.hardware.probe import physical_cores, probe
from tokbench.results.quality import health
from tokbench.store.connection import StoreError
from tokbench.store.database import Store
from tokbench.store.ledger import RunLedger, resumable, this_host
from tokbench.suites.loader import Item, Suite, load_suite
from tokbench.suites.trust import Trust, check_trust


class Observer(Protocol):
    def started(self, item: Item, rep: int, index: int, total: int) -> None: ...
    def token(self) -> None: ...
    def finished(self, record: RequestRecord) -> None: ...


class QuietObserver:
    def started(self, item: Item, rep: int, index: int, total: int) -> None:
        pass

    def token(self) -> None:
        pass

    def finished(self, record: RequestRecord) -> None:
        pass


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str  # done | failed | interrupted
    ok: int
    failed: int


def execute(
    backend: Backend,
    suite: Suite,
    ledger: RunLedger,
    *,
    repeat: int = 1,
    observer: Observer | None = None,
    energy: EnergySession | None = None,
) -> Outcome:
    """Send every (rep, item) not yet stored in the run; returns how the run ended.

    Ctrl-C ends the run as "interrupted" (not an exception): the request in flight is
    dropped, everything finished before it is already stored.

    Repetitions go round the whole suite (all items, then all again), like a person
    asking the questions in turn; requests already stored (a resumed run) are skipped.

    With an `energy` session (started), each request gets its energy and host window, and
    the run its totals, however it ends.
    """
    obs = observer or QuietObserver()
    run_id = ledger.run_id
    done = {(r.item_id, r.rep) for r in ledger.requests()}
    plan = [(rep, item) for rep in range(repeat) for item in suite.items]
    ok = failed = 0
    status = "interrupted"
    try:
        for index, (rep, item) in enumerate(plan):
            if (item.id, rep) in done:
                continue
            obs.started(item, rep, index, len(plan))
            started_at = utc_now()
            trace = backend.stream(item.request(), obs.token)
            metrics = request_metrics(trace)
            measured = None
            if energy is not None:
                measured = energy.measure(
                    trace.start_ns,
                    trace.times_ns[0] if trace.times_ns else None,
                    trace.end_ns,
                    metrics.prompt_tokens,
                    metrics.completion_tokens,
                )
            answer = trace.text("answer")  # joined and cleaned once: graded, then stored
            grade = None
            if item.grader or item.grade_spec:
                grade = grade_answer(
                    item.grader,
                    answer,
                    metrics.answer_state,
                    trace.error,
                    item.grade_spec,
                    item.prompt,
                )
            record = RequestRecord(
                run_id=run_id,
                item_id=item.id,
                rep=rep,
                started_at=started_at,
                status="error" if trace.error else "ok",
                error=trace.error,
                prompt=item.prompt,
                answer=answer,
                thinking=trace.text("thinking"),
                metrics=metrics,
                grade=grade,
                energy=measured.energy if measured else None,
                host=measured.host if measured else None,
            )
            record = replace(record, health=health(record))  # once, stored with the answer
            ledger.add_request(record)
            if trace.error:
                failed += 1
            else:
                ok += 1
            obs.finished(record)
        status = "done" if any(r.status == "ok" for r in ledger.requests()) else "failed"
    except KeyboardInterrupt:
        status = "interrupted"  # what finished is stored; the run can be resumed
    finally:
        # best effort: when the database itself failed, its error is the one to tell
        with suppress(StoreError):
            totals = None
            if energy is not None:
                recs = ledger.requests()
                totals = energy.totals([r.energy for r in recs], [r.host for r in recs])
            ledger.finish(status, totals)
    return Outcome(status, ok, failed)


def writable_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TokbenchError(f"cannot create the runs folder {folder}: {exc.strerror}") from None
    if not os.access(folder, os.W_OK):
        raise TokbenchError(f"the runs folder {folder} is not writable: set TOKBENCH_HOME")


def run_folder(base: Path, run_id: str) -> Path:
    return base / run_id


@dataclass(frozen=True, slots=True)
class RunResult:
    run: RunInfo
    records: list[RequestRecord]
    outcome: Outcome
    folder: Path


def run_suite(
    config: RunConfig,
    store: Store,
    runs_base: Path,
    *,
    resume: str | None = None,
    observer: Observer | None = None,
    notify: Callable[[str], None] = lambda _msg: None,
    on_end: Callable[[Path, RunInfo, list[RequestRecord]], None] | None = None,
) -> RunResult:
    """Open the backend, create (or resume) the run, send every request, keep everything.

    `on_end` (the run folder's writer) is called once when the run ends, however it ends:
    the database is the crash-safe record, written request by request. `config.energy`: how
    to measure power and cost (None: not at all; the default settings still monitor the
    host); a resumed run keeps the given energy settings (they are not stored)."""
    writable_folder(runs_base)  # before any request: results must have somewhere to go
    if resume:
        old = resumable(store, resume, ("run",), "tokbench run").config
        assert isinstance(old, RunSettings)  # a run of kind "run" keeps RunSettings
        config = replace(old.run, energy=config.energy)
    suite = load_suite(config.suite, config.overrides())
    check_trust(suite, Trust(config.allow_code, tuple(config.allow_judge)))
    backend = open_backend(config.connection, notify, config.engine)
    try:
        if not config.url:
            threads = config.threads or physical_cores()
            config = replace(config, engine=replace(config.engine, threads=threads))
        described = backend.describe()
        target = described.with_bound(speed_bound(config.gguf or described.gguf_path))
        ledger = RunLedger.open(
            store,
            "run",
            RunSettings(
                config,
                suite.source,
                tuple(ItemPlan(i.id, i.max_tokens, i.sampling) for i in suite.items),
            ),
            None if resume else this_host(probe()),
            backend=backend.kind,
            url=getattr(backend, "base_url", None),
            model=backend.model,
            suite=suite.name,
            targets=None if resume else {backend.model: target},  # a resumed run keeps its own
            resume=resume,
        )
        folder = run_folder(runs_base, ledger.run_id)

        session = (
            EnergySession(config.energy, notify=notify, server_url=config.url)
            if config.energy is not None
            else None
        )
        try:
            if session is not None:
                session.start()  # after the model loaded, before the first request
            outcome = execute(
                backend,
                suite,
                ledger,
                repeat=config.repeat,
                observer=observer,
                energy=session,
            )
        finally:
            if session is not None:
                session.stop()
            if on_end is not None:
                on_end(folder, ledger.run, ledger.requests())
        return RunResult(ledger.run, ledger.requests(), outcome, folder)
    finally:
        backend.close()
