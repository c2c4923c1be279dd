"""The run ledger: how every kind of run (a suite run, a bench, a tune, a quant comparison,
an import) comes to be stored. A run measured live is opened (created, or resumed: marked
running again), gets its targets and measurements as they come, and is finished with its
status, real finish time and energy; a run known whole is written in one transaction."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass, field
from typing import Any

from tokbench.core.energy import RunEnergy
from tokbench.core.records import (
    BenchSample,
    HostInfo,
    RequestRecord,
    RunInfo,
    Settings,
    Target,
    utc_now,
)
from tokbench.errors import TokbenchError
from tokbench.gguf.identity import identified
from tokbench.hardware.probe import HostProbe, cpu_model, host_name, physical_cores
from tokbench.store.database import Store, new_run_info


def this_host(hw: HostProbe | None = None) -> HostInfo:
    """The machine measuring now: its summary, and the full probe (`tokbench hw`) when
    given, kept as its JSON."""
    import psutil

    return HostInfo(
        hostname=host_name(),
        cpu_model=cpu_model(),
        physical_cores=physical_cores(),
        logical_cpus=os.cpu_count(),
        ram_bytes=psutil.virtual_memory().total,
        os=f"{platform.system()} {platform.release()}",
        machine=platform.machine(),
        python=sys.version.split()[0],
        hw=hw.to_json() if hw else {},
    )


def resumable(store: Store, run_id: str, kinds: tuple[str, ...], command: str) -> RunInfo:
    """The stored run to resume, when it is of one of `kinds` (else one sentence)."""
    run = store.run(run_id)
    if run.kind not in kinds:
        raise TokbenchError(f"run {run.id} is a {run.kind} run, which {command} cannot resume")
    return run


def identify_targets(targets: dict[str, Target]) -> dict[str, Target]:
    """Each target with its model identity (a GGUF here: its sha256, read once and cached;
    else the server's model id, quant and size): every kind of run gets it here."""
    return {name: identified(name, t) for name, t in targets.items()}


def new_run(
    kind: str,
    settings: Settings,
    host: HostInfo,
    *,
    backend: str,
    model: str | None = None,
    targets: dict[str, Target] | None = None,
    **known: Any,
) -> RunInfo:
    """A run not yet stored (`new_run_info`'s fields), its targets identified: what a run
    known whole (a quant comparison, an import) is built with."""
    return new_run_info(
        kind,
        settings,
        host,
        backend=backend,
        model=model,
        targets=identify_targets(targets or {}),
        **known,
    )


@dataclass
class RunLedger:
    """One run being measured, in the store as it goes."""

    store: Store
    run_id: str
    kind: str
    targets: dict[str, Target] = field(default_factory=dict)

    @classmethod
    def open(
        cls,
        store: Store,
        kind: str,
        settings: Settings,
        host: HostInfo | None = None,
        *,
        backend: str,
        url: str | None = None,
        model: str | None = None,
        suite: str | None = None,
        targets: dict[str, Target] | None = None,
        resume: str | None = None,
    ) -> RunLedger:
        """Create the run, marked running (`host`: where it runs; None: this machine's
        summary); or, with `resume` (a run id), mark that run running again and keep its
        settings, host and measurements (`targets`, when given, replace its targets)."""
        if resume:
            run = store.run(resume)
            given = identify_targets(targets) if targets is not None else None
            store.update_run(run.id, status="running", clear_finished=True, targets=given)
            ledger = cls(store, run.id, run.kind, dict(run.targets))
            ledger.targets.update(given or {})
            return ledger
        run = new_run(
            kind,
            settings,
            host or this_host(),
            backend=backend,
            url=url,
            model=model,
            suite=suite,
            targets=targets,
        )
        store.create_run(run)
        return cls(store, run.id, kind, dict(run.targets))

    @property
    def run(self) -> RunInfo:
        return self.store.run(self.run_id)

    def set_target(self, name: str, target: Target, *, model_from_targets: bool = False) -> None:
        """What was measured under `name` (a bench's model, a tune's candidate); with
        `model_from_targets` the run's model field names them all (a bench's models)."""
        self.targets |= identify_targets({name: target})
        model = ", ".join(self.targets) if model_from_targets else None
        self.store.update_run(self.run_id, targets=self.targets, model=model)

    def set_settings(self, settings: Settings) -> None:
        """The run's settings with what it learnt (a bench's stop rules, a tune's report)."""
        self.store.update_run(self.run_id, config=settings)

    def add_request(self, record: RequestRecord) -> None:
        self.store.add_request(record)

    def add_sample(self, sample: BenchSample) -> None:
        self.store.add_bench_sample(sample)

    def requests(self) -> list[RequestRecord]:
        return self.store.requests(self.run_id)

    def samples(self) -> list[BenchSample]:
        return self.store.bench_samples(self.run_id)

    def finish(
        self, status: str, energy: RunEnergy | None = None, settings: Settings | None = None
    ) -> RunInfo:
        """How the run ended (done | failed | interrupted), now; returns the stored run."""
        self.store.update_run(
            self.run_id, status=status, finished_at=utc_now(), energy=energy, config=settings
        )
        return self.run
