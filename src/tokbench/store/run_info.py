"""Where a `RunInfo` is made: a new run's (for the run ledger and for whole runs written at
once, such as imports and quant comparisons) and a stored run's (from its row), so every
kind of run gets the same fields the same way."""

from __future__ import annotations

import json
from typing import Any

from tokbench import __version__
from tokbench.core.energy import HostWindow, RequestEnergy, RunEnergy
from tokbench.core.records import (
    HostInfo,
    RunInfo,
    Settings,
    Target,
    new_run_id,
    settings_from_json,
    targets_from_json,
    targets_to_json,
    utc_now,
)
from tokbench.core.redact import redact_url
from tokbench.hardware.host import host_name


def new_run_info(
    kind: str,
    settings: Settings,
    host: HostInfo,
    *,
    backend: str,
    url: str | None = None,
    model: str | None = None,
    suite: str | None = None,
    targets: dict[str, Target] | None = None,
    status: str = "running",
    created_at: str | None = None,
    finished_at: str | None = None,
    run_id: str | None = None,
    source: str | None = None,
    source_sha256: str | None = None,
    version: str = __version__,
) -> RunInfo:
    """A run not yet stored: its id from the host's name, created now unless told when."""
    return RunInfo(
        id=run_id or new_run_id(host.hostname or host_name()),
        created_at=created_at or utc_now(),
        finished_at=finished_at,
        status=status,
        kind=kind,
        tokbench_version=version,
        backend=backend,
        url=url,
        model=model,
        suite=suite,
        host_name=host.hostname,
        config=settings,
        targets=dict(targets or {}),
        host=host,
        source=source,
        source_sha256=source_sha256,
    )


def energy_json(record: RequestEnergy | HostWindow | RunEnergy | None) -> str | None:
    return json.dumps(record.to_json()) if record is not None else None


def run_row(run: RunInfo) -> dict[str, Any]:
    return {
        "id": run.id,
        "created_at": run.created_at,
        "finished_at": run.finished_at,
        "status": run.status,
        "kind": run.kind,
        "tokbench_version": run.tokbench_version,
        "backend": run.backend,
        "url": redact_url(run.url) if run.url else None,
        "model": run.model,
        "suite": run.suite,
        "host_name": run.host_name,
        "config_json": json.dumps(run.config.to_json()),
        "target_json": json.dumps(targets_to_json(run.kind, run.targets)),
        "host_json": json.dumps(run.host.to_json()),
        "source": run.source,
        "source_sha256": run.source_sha256,
        "energy_json": energy_json(run.energy),
    }


def run_from_row(r: dict[str, Any]) -> RunInfo:
    return RunInfo(
        id=r["id"],
        created_at=r["created_at"],
        finished_at=r["finished_at"],
        status=r["status"],
        kind=r["kind"],
        tokbench_version=r["tokbench_version"],
        backend=r["backend"],
        url=r["url"],
        model=r["model"],
        suite=r["suite"],
        host_name=r["host_name"],
        config=settings_from_json(r["kind"], json.loads(r["config_json"])),
        targets=targets_from_json(r["kind"], r["model"], json.loads(r["target_json"])),
        host=HostInfo.from_json(json.loads(r["host_json"])),
        source=r.get("source"),
        source_sha256=r.get("source_sha256"),
        energy=RunEnergy.from_json(json.loads(r["energy_json"])) if r.get("energy_json") else None,
    )
