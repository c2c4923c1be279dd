"""Asking a backend one request at a time, for every run kind that does (a suite run, an
eval): each request is measured (speed, energy), graded and added to the run ledger the
moment it ends, so a crash or SIGTERM loses nothing; a failed request is recorded and the
run goes on; however the asking ends (all asked, a time box, Ctrl-C or SIGTERM), the run
is finished with its status and energy. A run kind says only what it asks, how it grades
and when it stops."""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import suppress
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from tokbench.backends.base import Backend
from tokbench.core.config import RunConfig
from tokbench.core.energy import EnergyMeter
from tokbench.core.metrics import request_metrics
from tokbench.core.records import Grade, RequestMetrics, RequestRecord, RunSettings
from tokbench.core.trace import Trace
from tokbench.errors import TokbenchError
from tokbench.hardware.bandwidth import speed_bound
from tokbench.hardware.probe import physical_cores, probe
from tokbench.store.connection import StoreError
from tokbench.store.database import Store
from tokbench.store.ledger import RunLedger, this_host

T = TypeVar("T")

Grader = Callable[[str, RequestMetrics, str | None], Grade | None]
"""(answer, metrics, error) -> the answer's grade, None for an item that is not graded."""


def writable_folder(folder: Path) -> None:
    """Checked before any request: a run's results must have somewhere to go."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TokbenchError(f"cannot create the runs folder {folder}: {exc.strerror}") from None
    if not os.access(folder, os.W_OK):
        raise TokbenchError(f"the runs folder {folder} is not writable: set TOKBENCH_HOME")


def with_threads(config: RunConfig) -> RunConfig:
    """The embedded engine's thread count as it runs (the physical cores unless given),
    so the stored settings say what was measured; a server's config is left as it is."""
    if config.url:
        return config
    threads = config.threads or physical_cores()
    return replace(config, engine=replace(config.engine, threads=threads))


def open_run_ledger(
    store: Store,
    kind: str,
    settings: RunSettings,
    backend: Backend,
    *,
    suite: str,
    resume: str | None,
) -> RunLedger:
    """A suite or eval run in the ledger: created with this host and the backend's target
    (with its speed bound where the model file is here), or resumed, keeping its own."""
    targets = None
    if not resume:
        described = backend.describe()
        bound = speed_bound(settings.run.gguf or described.gguf_path)
        targets = {backend.model: described.with_bound(bound)}
    return RunLedger.open(
        store,
        kind,
        settings,
        None if resume else this_host(probe()),
        backend=backend.kind,
        url=getattr(backend, "base_url", None),
        model=backend.model,
        suite=suite,
        targets=targets,
        resume=resume,
    )


class RequestRun:
    """The requests of one run as they are asked: those stored already (a resumed run) and
    each new one, added to the ledger the moment it ends. `energy`: the run's session,
    started by the caller; stopped here when the asking ends."""

    def __init__(self, ledger: RunLedger, energy: EnergyMeter | None = None) -> None:
        self.ledger = ledger
        self.energy = energy
        self.records = ledger.requests()
        self.ok = 0
        self.failed = 0

    def record(
        self,
        item_id: str,
        rep: int,
        started_at: str,
        trace: Trace,
        prompt: str,
        grade: Grader,
        *,
        measure_energy: bool = True,
    ) -> RequestRecord:
        """The record of one finished request (a failed one too): its metrics, its energy
        and host window when the run measures them, and its grade."""
        metrics = request_metrics(trace)
        energy = host = None
        if self.energy is not None and measure_energy:
            energy, host = self.energy.window(
                trace.start_ns,
                trace.times_ns[0] if trace.times_ns else None,
                trace.end_ns,
                metrics.prompt_tokens,
                metrics.completion_tokens,
            )
        answer = trace.text("answer")  # joined and cleaned once: graded, then stored
        return RequestRecord(
            run_id=self.ledger.run_id,
            item_id=item_id,
            rep=rep,
            started_at=started_at,
            status="error" if trace.error else "ok",
            error=trace.error,
            prompt=prompt,
            answer=answer,
            thinking=trace.text("thinking"),
            metrics=metrics,
            grade=grade(answer, metrics, trace.error),
            energy=energy,
            host=host,
        )

    def add(self, record: RequestRecord) -> None:
        """Store the request now; a failed one counts and the run goes on."""
        self.ledger.add_request(record)
        self.records.append(record)
        if record.status == "ok":
            self.ok += 1
        else:
            self.failed += 1

    def run(self, ask: Callable[[], T]) -> tuple[str, T | None]:
        """Call `ask` (which adds each request as it ends) and finish the run however it
        ends: "done" when any request succeeded, "failed" when none did, "interrupted" on
        Ctrl-C or SIGTERM (the request in flight is dropped, what finished is kept and the
        run can be resumed; `ask`'s value is then None). Other errors are raised once the
        run is finished."""
        status, value = "interrupted", None
        try:
            value = ask()
            status = "done" if any(r.status == "ok" for r in self.records) else "failed"
        except KeyboardInterrupt:
            status = "interrupted"
        finally:
            if self.energy is not None:
                self.energy.stop()  # its last window closed before the totals
            # best effort: when the database itself failed, its error is the one to tell
            with suppress(StoreError):
                totals = None
                if self.energy is not None:
                    recs = self.ledger.requests()
                    totals = self.energy.totals([r.energy for r in recs], [r.host for r in recs])
                self.ledger.finish(status, totals)
        return status, value
