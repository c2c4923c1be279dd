"""Run a suite against a backend, storing each request the moment it completes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from tokbench.backends.base import Backend
from tokbench.backends.registry import open_backend
from tokbench.core.config import RunConfig
from tokbench.core.records import (
    Grade,
    ItemPlan,
    RequestMetrics,
    RequestRecord,
    RunInfo,
    RunSettings,
    utc_now,
)
from tokbench.energy.session import EnergySession
from tokbench.grade.grading import grade_answer
from tokbench.results.quality import health
from tokbench.runs.requests import (
    Grader,
    RequestRun,
    open_run_ledger,
    with_threads,
    writable_folder,
)
from tokbench.store.database import Store
from tokbench.store.ledger import RunLedger, resumable
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
    the run its totals, however it ends (the session is stopped then).
    """
    obs = observer or QuietObserver()
    asking = RequestRun(ledger, energy)
    done = {(r.item_id, r.rep) for r in asking.records}
    plan = [(rep, item) for rep in range(repeat) for item in suite.items]

    def ask() -> None:
        for index, (rep, item) in enumerate(plan):
            if (item.id, rep) in done:
                continue
            obs.started(item, rep, index, len(plan))
            started_at = utc_now()
            trace = backend.stream(item.request(), obs.token)
            record = asking.record(item.id, rep, started_at, trace, item.prompt, _grader(item))
            record = replace(record, health=health(record))  # once, stored with the answer
            asking.add(record)
            obs.finished(record)

    status, _ = asking.run(ask)
    return Outcome(status, asking.ok, asking.failed)


def _grader(item: Item) -> Grader:
    """The suite item's grader, or none when the item names none."""

    def grade(answer: str, metrics: RequestMetrics, error: str | None) -> Grade | None:
        if not (item.grader or item.grade_spec):
            return None
        return grade_answer(
            item.grader, answer, metrics.answer_state, error, item.grade_spec, item.prompt
        )

    return grade


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
        config = with_threads(config)
        plans = tuple(ItemPlan(i.id, i.max_tokens, i.sampling) for i in suite.items)
        ledger = open_run_ledger(
            store,
            "run",
            RunSettings(config, suite.source, plans),
            backend,
            suite=suite.name,
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
