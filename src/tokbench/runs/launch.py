"""`tokbench bench` as one call: the host, the engines, Ray when asked, the matrix."""

from __future__ import annotations

from collections.abc import Callable

from tokbench.backends.registry import open_engine_for
from tokbench.core.config import BenchConfig
from tokbench.core.records import RunInfo
from tokbench.energy.session import EnergySession
from tokbench.runs.bench import BenchObserver, execute_bench
from tokbench.runs.ray import RayConcurrency
from tokbench.store.database import Store
from tokbench.store.ledger import this_host


def run_bench(
    cfg: BenchConfig,
    store: Store,
    *,
    resume: str | None = None,
    ray_address: str | None = None,
    ray_workers: int | None = None,
    observer: BenchObserver | None = None,
    notify: Callable[[str], None] = lambda _msg: None,
) -> RunInfo:
    """Run (or resume) a bench; `ray_address` ("" for a local cluster) spreads the
    concurrency levels over Ray workers; `cfg.energy` says how to measure energy (None:
    not at all)."""
    runner = None
    if ray_address is not None:
        where = "cluster at " + ray_address if ray_address else "(local)"
        notify(f"joining Ray {where}...")
        runner = RayConcurrency(cfg, ray_address or None, ray_workers, open_engine_for)
    return execute_bench(
        cfg,
        store,
        open_engine_for(cfg, notify),
        resume=resume,
        observer=observer,
        host=this_host(),
        concurrency_runner=runner,
        energy=(
            EnergySession(cfg.energy, notify=notify, server_url=cfg.url) if cfg.energy else None
        ),
    )
