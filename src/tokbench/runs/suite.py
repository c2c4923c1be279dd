"""Run a suite against a backend, storing each request the moment it completes."""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from tokbench import __version__
from tokbench.backends.base import Backend
from tokbench.backends.registry import open_backend
from tokbench.core.config import RunConfig
from tokbench.core.metrics import request_metrics
from tokbench.core.records import (
    HostInfo,
    ItemPlan,
    RequestRecord,
    RunInfo,
    RunSettings,
    Target,
    new_run_id,
    utc_now,
)
from tokbench.energy.session import EnergyOptions, EnergySession
from tokbench.errors import TokbenchError
from tokbench.grade.grading import grade_answer
from tokbench.hardware.bound import speed_bound
from tokbench.hardware.host import host_name, host_summary, physical_cores
from tokbench.hardware.probe import probe
from tokbench.results.quality import health
from tokbench.store.connection import StoreError
from tokbench.store.database import Store
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
    store: Store,
    run_id: str,
    *,
    repeat: int = 1,
    observer: Observer | None = None,
    energy: EnergySession | None = None,
) -> Outcome:
    """Send every (rep, item) not yet stored for `run_id`; returns how the run ended.

    Ctrl-C ends the run as "interrupted" (not an exception): the request in flight is
    dropped, everything finished before it is already stored.

    Repetitions go round the whole suite (all items, then all again), like a person
    asking the questions in turn; requests already stored (a resumed run) are skipped.

    With an `energy` session (started), each request gets its energy and host window, and
    the run its totals, however it ends.
    """
    obs = observer or QuietObserver()
    done = {(r.item_id, r.rep) for r in store.requests(run_id)}
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
            store.add_request(record)
            if trace.error:
                failed += 1
            else:
                ok += 1
            obs.finished(record)
        all_recs = store.requests(run_id)
        status = "done" if any(r.status == "ok" for r in all_recs) else "failed"
    except KeyboardInterrupt:
        status = "interrupted"  # what finished is stored; the run can be resumed
    finally:
        # best effort: when the database itself failed, its error is the one to tell
        with suppress(StoreError):
            totals = None
            if energy is not None:
                recs = store.requests(run_id)
                totals = energy.totals([r.energy for r in recs], [r.host for r in recs])
            store.update_run(run_id, status=status, finished_at=utc_now(), energy=totals)
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
    energy: EnergyOptions | None = None,
) -> RunResult:
    """Open the backend, create (or resume) the run, send every request, keep everything.

    `on_end` (the run folder's writer) is called once when the run ends, however it ends:
    the database is the crash-safe record, written request by request. `energy`: how to
    measure power and cost (None: not at all; the default options still monitor the host)."""
    writable_folder(runs_base)  # before any request: results must have somewhere to go
    if resume:
        old = store.run(resume)
        if not isinstance(old.config, RunSettings):
            raise TokbenchError(f"run {old.id} is a {old.kind} run: resume it with tokbench bench")
        config = old.config.run
    suite = load_suite(config.suite, config.overrides())
    check_trust(suite, Trust(config.allow_code, tuple(config.allow_judge)))
    backend = open_backend(config.connection(), notify)
    try:
        if not config.url:
            config = replace(config, threads=config.threads or physical_cores())
        described = backend.describe()
        target = Target.from_json({**described, "backend_kind": backend.kind})
        target = Target.from_json(
            {**target.to_json(), **speed_bound(config.gguf or target.gguf_path)}
        )
        if resume:
            run = store.run(resume)
            store.update_run(run.id, status="running", clear_finished=True)
        else:
            host = HostInfo.from_json({**host_summary(), "hw": probe()})
            run = RunInfo(
                id=new_run_id(host_name()),
                created_at=utc_now(),
                status="running",
                kind="run",
                tokbench_version=__version__,
                backend=backend.kind,
                url=getattr(backend, "base_url", None),
                model=backend.model,
                suite=suite.name,
                host_name=host.hostname,
                config=RunSettings(
                    config,
                    suite.source,
                    tuple(ItemPlan(i.id, i.max_tokens, i.sampling) for i in suite.items),
                ),
                targets={backend.model: target},
                host=host,
            )
            store.create_run(run)
        folder = run_folder(runs_base, run.id)

        session = (
            EnergySession(energy, notify=notify, server_url=config.url)
            if energy is not None
            else None
        )
        try:
            if session is not None:
                session.start()  # after the model loaded, before the first request
            outcome = execute(
                backend,
                suite,
                store,
                run.id,
                repeat=config.repeat,
                observer=observer,
                energy=session,
            )
        finally:
            if session is not None:
                session.stop()
            if on_end is not None:
                on_end(folder, store.run(run.id), store.requests(run.id))
        return RunResult(store.run(run.id), store.requests(run.id), outcome, folder)
    finally:
        backend.close()
