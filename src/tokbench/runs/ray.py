"""Distributed load on Ray: the streams of each concurrency level spread over workers
(Ray actors, one process each, on any node of the cluster), started at one scheduled
instant.

Every worker timestamps its streams with its own monotonic clock. Before each level the
driver measures each worker's clock offset the NTP way (the best of several round trips:
offset = worker clock - midpoint of the driver's send and receive; uncertainty = half that
round trip), and maps the worker's timestamps onto its own clock, so the merged samples
give the same metrics as a single-process run. A worker that dies loses only its own
streams: they are recorded as failed, never dropped.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from tokbench.core.config import BenchTest
from tokbench.core.records import RayLevel, RayReport, RayWorker, Sample
from tokbench.errors import TokbenchError
from tokbench.hardware.probe import host_name
from tokbench.runs.bench import bench_settings, concurrency_levels, measure_streams

if TYPE_CHECKING:
    from tokbench.backends.base import BenchEngine
    from tokbench.core.config import BenchConfig
    from tokbench.runs.bench import BenchRun

# Opens a bench's engines in a worker: `backends.registry.open_engine_for`, passed in by the
# driver (Ray pickles the function by reference and imports it there).
EngineFactory = Callable[
    ["BenchConfig", Callable[[str], None]], Callable[[str | None], "BenchEngine"]
]

START_LEAD_S = 1.0  # the common start is scheduled this far ahead: every call arrives first
OFFSET_ROUNDS = 15


class LoadWorker:
    """One Ray actor: its own connection(s) to the server, its own clock."""

    def __init__(
        self, cfg: BenchConfig, model: str | None, api_key: str | None, engines: EngineFactory
    ) -> None:

        if api_key and cfg.connection.api_key_env:  # the driver's secret, kept in this process only
            os.environ[cfg.connection.api_key_env] = api_key
        self.engine = engines(cfg, lambda _msg: None)(model)

    def describe(self) -> RayWorker:
        import ray

        return RayWorker(os.getpid(), host_name(), ray.get_runtime_context().get_node_id())

    def clock(self) -> int:
        return time.perf_counter_ns()

    def run_streams(
        self, test: BenchTest, c: int, streams: list[int], start_ns: int
    ) -> list[tuple[int, Sample]]:
        """Start `streams` together at `start_ns` (this worker's clock)."""

        return measure_streams(self.engine, test, c, streams, start_ns)

    def close(self) -> None:
        self.engine.close()


@dataclass(frozen=True, slots=True)
class ClockOffset:
    offset_ns: int  # worker clock minus driver clock
    uncertainty_ns: int  # half the best round trip


def measure_offset(clock: Any, rounds: int = OFFSET_ROUNDS) -> ClockOffset:
    """`clock()` returns the remote clock (blocking); the best round trip bounds the error."""
    best: ClockOffset | None = None
    for _ in range(rounds):
        t1 = time.perf_counter_ns()
        remote = clock()
        t2 = time.perf_counter_ns()
        est = ClockOffset(remote - (t1 + t2) // 2, (t2 - t1) // 2)
        if best is None or est.uncertainty_ns < best.uncertainty_ns:
            best = est
    assert best is not None
    return best


def to_driver_clock(s: Sample, offset_ns: int) -> Sample:
    return replace(
        s,
        first_ns=s.first_ns - offset_ns if s.first_ns is not None else None,
        last_ns=s.last_ns - offset_ns if s.last_ns is not None else None,
    )


def assign_streams(c: int, workers: int) -> list[list[int]]:
    """Stream i goes to worker i mod n: each worker gets c/n streams, +-1."""
    return [list(range(w, c, workers)) for w in range(workers)]


class RayConcurrency:
    """Runs the concurrency levels of `tokbench bench` on a Ray cluster; a drop-in for
    `benchmark.run_concurrency`."""

    def __init__(
        self, cfg: BenchConfig, address: str | None, workers: int | None, engines: EngineFactory
    ) -> None:
        try:
            import ray
        except ImportError:
            raise TokbenchError("--ray needs Ray: pip install 'tokbench[fleet]'") from None
        self.cfg, self.workers_wanted, self.engines = cfg, workers, engines
        if not ray.is_initialized():
            try:
                ray.init(
                    address=address,  # None: start a local cluster
                    include_dashboard=False,
                    log_to_driver=False,
                    configure_logging=False,
                )
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise TokbenchError(f"cannot join the Ray cluster at {address}: {exc}") from None
        self.workers: tuple[RayWorker, ...] | None = None  # once spawned
        self.levels: list[RayLevel] = []

    @property
    def report(self) -> RayReport:
        return RayReport(tuple(self.levels), self.workers)

    def _spawn(self, model: str | None) -> list[Any]:
        import ray

        nodes = [n for n in ray.nodes() if n.get("Alive")]  # type: ignore[no-untyped-call]
        n = self.workers_wanted or max(len(nodes), 2)
        cls: Any = ray.remote(num_cpus=0)(LoadWorker)
        key = (
            os.environ.get(self.cfg.connection.api_key_env)
            if self.cfg.connection.api_key_env
            else None
        )
        actors = [
            cls.options(scheduling_strategy="SPREAD").remote(self.cfg, model, key, self.engines)
            for _ in range(n)
        ]
        try:
            self.workers = tuple(ray.get([a.describe.remote() for a in actors]))
        except Exception as exc:
            raise TokbenchError(f"the Ray workers could not open the server: {exc}") from None
        return actors

    def __call__(self, run: BenchRun, engine: BenchEngine, model: str) -> None:
        import ray

        test, levels = concurrency_levels(run, model)
        actors = self._spawn(model if run.cfg.models else None)  # None: the server's default
        alive = list(range(len(actors)))
        try:
            for c in levels:
                run.observer.measuring(model, f"{test.name} x{c} on {len(alive)} workers", 0, False)
                for stream, sample in self.level(actors, alive, test, c):
                    run.record(model, test.name, c, 0, stream, sample)
                settings = bench_settings(run.ledger.run)
                run.ledger.set_settings(replace(settings, ray=self.report))
        finally:
            for a in actors:
                ray.kill(a)

    def level(
        self, actors: list[Any], alive: list[int], test: BenchTest, c: int
    ) -> list[tuple[int, Sample]]:
        """One level: offsets, a common start, merged samples on the driver's clock.
        Workers that die are removed from `alive`; their streams come back failed."""
        import ray

        offsets: dict[int, ClockOffset] = {}
        for w in list(alive):
            try:
                offsets[w] = measure_offset(lambda w=w: ray.get(actors[w].clock.remote()))
            except ray.exceptions.RayActorError:
                alive.remove(w)
        if not alive:
            raise TokbenchError("every Ray worker has died")
        parts = dict(zip(alive, assign_streams(c, len(alive)), strict=True))
        start = time.perf_counter_ns() + int(START_LEAD_S * 1e9)
        refs = {
            w: actors[w].run_streams.remote(test, c, streams, start + offsets[w].offset_ns)
            for w, streams in parts.items()
        }
        out: list[tuple[int, Sample]] = []
        for w, ref in refs.items():
            try:
                got = ray.get(ref, timeout=self.cfg.connection.timeout_s + START_LEAD_S + 30)
                out += [(i, to_driver_clock(s, offsets[w].offset_ns)) for i, s in got]
            except (ray.exceptions.RayError, TimeoutError) as exc:
                alive.remove(w)
                why = f"ray worker {w} failed: {type(exc).__name__}"
                out += [(i, Sample(None, None, None, "error", why)) for i in parts[w]]
        self.levels.append(
            RayLevel(
                concurrency=c,
                workers=len(parts),
                clock_offsets_ms={str(w): o.offset_ns / 1e6 for w, o in offsets.items()},
                clock_uncertainty_ms=max(o.uncertainty_ns for o in offsets.values()) / 1e6,
            )
        )
        return sorted(out, key=lambda x: x[0])
