"""Copy history from one store to another (a laptop's SQLite into a fleet's PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tokbench.store.database import Store
from tokbench.store.quant import quant_reference, quant_results, save_quant_run


@dataclass(frozen=True, slots=True)
class CopyResult:
    runs_copied: int
    runs_present: int  # already in the destination: left as they are
    requests: int
    bench_samples: int


def copy_runs(
    src: Store, dst: Store, progress: Callable[[int, int], None] | None = None
) -> CopyResult:
    """Copy every run the destination lacks, oldest first, each run in one transaction:
    an interrupted copy is resumed by running it again."""
    present = {r.id for r in dst.runs()}
    todo = [r for r in reversed(src.runs()) if r.id not in present]
    n_req = n_samples = 0
    for i, run in enumerate(todo):
        reqs, samples = src.requests(run.id), src.bench_samples(run.id)
        if run.kind == "quant":  # its rows live in the quant tables
            reference = quant_reference(src, run.id)
            save_quant_run(dst, run, reference, quant_results(src, run.id))
        else:
            dst.add_run(run, reqs, samples, src.imported_tests(run.id))
        n_req += len(reqs)
        n_samples += len(samples)
        if progress:
            progress(i + 1, len(todo))
    return CopyResult(len(todo), len(present & {r.id for r in src.runs()}), n_req, n_samples)
