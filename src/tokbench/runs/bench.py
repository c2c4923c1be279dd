"""`tokbench bench`: llama-bench-style tests over any backend, with statistics that
know when to stop, concurrency levels, drift (soak) and resumable matrices.

Every measurement is stored the moment it completes; a resumed run continues each
test from its next repetition.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

from tokbench.backends.base import BenchEngine
from tokbench.core.config import BenchConfig, BenchTest
from tokbench.core.energy import EnergyMeter, HostWindow, RequestEnergy
from tokbench.core.records import (
    BenchSample,
    BenchSettings,
    HostInfo,
    RunInfo,
    Sample,
    utc_now,
)
from tokbench.core.stats import rate_ci
from tokbench.errors import TokbenchError
from tokbench.hardware.bandwidth import speed_bound
from tokbench.store.database import Store
from tokbench.store.ledger import RunLedger


class BenchObserver(Protocol):
    """Progress hooks; the CLI shows a bar with ETA."""

    def plan(self, total: int) -> None: ...
    def measuring(self, model: str, test: str, rep: int, warmup: bool) -> None: ...
    def measured(self, sample: BenchSample) -> None: ...


class _Quiet:
    def plan(self, total: int) -> None:
        pass

    def measuring(self, model: str, test: str, rep: int, warmup: bool) -> None:
        pass

    def measured(self, sample: BenchSample) -> None:
        pass


def config_of(run: RunInfo) -> BenchConfig:
    if not isinstance(run.config, BenchSettings):
        raise TokbenchError(f"run {run.id} is a {run.kind} run, not a bench run")
    return run.config.bench


def bench_settings(run: RunInfo) -> BenchSettings:
    assert isinstance(run.config, BenchSettings)  # a bench run
    return run.config


def _stop_rule(cfg: BenchConfig, values: list[float], started: float) -> str | None:
    n = len(values)
    if cfg.until_ci_pct is None:
        return "reps" if n >= cfg.reps else None
    if n >= 3:
        est = rate_ci(values)
        rel = est.rel_half_width_pct
        if rel is not None and rel <= cfg.until_ci_pct:
            return "ci"
    if n >= cfg.max_reps:
        return "max-reps"
    if n >= 2 and cfg.max_time_s is not None and time.monotonic() - started >= cfg.max_time_s:
        return "max-time"
    return None


@dataclass
class BenchRun:
    """A bench being measured: its ledger, settings and progress hooks."""

    ledger: RunLedger
    cfg: BenchConfig
    observer: BenchObserver
    t0_ns: int = field(default_factory=time.perf_counter_ns)
    energy: EnergyMeter | None = None

    @property
    def run_id(self) -> str:
        return self.ledger.run_id

    def samples(self) -> list[BenchSample]:
        return self.ledger.samples()

    def _measure(self, c: int, s: Sample) -> tuple[RequestEnergy | None, HostWindow | None]:
        """A sample's energy (one stream at a time only: concurrent streams share the
        box's watts) and the host window over it."""
        if self.energy is None or not s.first_ns or not s.last_ns or s.last_ns < s.first_ns:
            return None, None
        if c > 1:
            return None, self.energy.host_only(s.first_ns, s.last_ns)
        t_first = s.first_ns + int(s.ttft_ms * 1e6) if s.ttft_ms is not None else None
        if t_first is not None and not s.first_ns <= t_first <= s.last_ns:
            t_first = None
        # the test's named part: prompt tokens for ppN, generated tokens for tgN
        return self.energy.window(s.first_ns, t_first, s.last_ns, None, s.tokens)

    def record(self, model: str, test: str, c: int, rep: int, stream: int, s: Sample) -> None:
        span = (s.last_ns - s.first_ns) / 1e9 if s.first_ns and s.last_ns else None
        sent_ns = s.first_ns or time.perf_counter_ns()
        energy, host = self._measure(c, s)
        sample = BenchSample(
            run_id=self.run_id,
            model=model,
            test=test,
            concurrency=c,
            rep=rep,
            stream=stream,
            started_at=utc_now(),
            t_s=(sent_ns - self.t0_ns) / 1e9,
            status=s.status,
            note=s.note,
            tps=s.tps,
            server_tps=s.server_tps,
            tokens=s.tokens,
            ttft_ms=s.ttft_ms,
            span_s=span,
            energy=energy,
            host=host,
        )
        self.ledger.add_sample(sample)
        self.observer.measured(sample)


def run_tests(run: BenchRun, engine: BenchEngine, model: str, stop_rules: dict[str, str]) -> None:
    done = {
        (s.test, s.rep)
        for s in run.samples()
        if s.model == model and s.concurrency == 1 and s.rep >= 0
    }
    for test in run.cfg.tests():
        key = f"{model} | {test.name}"
        if key in stop_rules:
            continue  # finished before an interruption
        for w in range(run.cfg.warmup):
            run.observer.measuring(model, test.name, w, True)
            run.record(model, test.name, 1, -(w + 1), 0, engine.measure(test, -(w + 1)))
        values = [
            s.tps
            for s in run.samples()
            if s.model == model
            and s.test == test.name
            and s.concurrency == 1
            and s.rep >= 0
            and s.status == "ok"
            and s.tps
        ]
        started = time.monotonic()
        rep = 0
        while (rule := _stop_rule(run.cfg, values, started)) is None:
            if (test.name, rep) not in done:
                run.observer.measuring(model, test.name, rep, False)
                s = engine.measure(test, rep)
                run.record(model, test.name, 1, rep, 0, s)
                if s.status == "ok" and s.tps:
                    values.append(s.tps)
                elif s.status == "error" and rep >= 2 and not values:
                    rule = "errors"
                    break
            rep += 1
            if rep > run.cfg.max_reps * 3:
                rule = "max-reps"
                break
        stop_rules[key] = rule
        settings = bench_settings(run.ledger.run)
        run.ledger.set_settings(replace(settings, stop_rules=dict(stop_rules)))


def concurrency_levels(run: BenchRun, model: str) -> tuple[BenchTest, list[int]]:
    """The test every concurrency level runs, and the levels (c > 1) not yet measured."""
    test = BenchTest("tg", run.cfg.n_gen[0] if run.cfg.n_gen else 128, run.cfg.depths[0])
    have = {
        (s.test, s.concurrency) for s in run.samples() if s.model == model and s.concurrency > 1
    }
    return test, [c for c in run.cfg.concurrency if c > 1 and (test.name, c) not in have]


def measure_streams(
    engine: BenchEngine, test: BenchTest, c: int, streams: list[int], start_ns: int | None = None
) -> list[tuple[int, Sample]]:
    """Streams `streams` of a level of `c`, each on its own thread, released together by
    one event: at once, or at `start_ns` on this process's monotonic clock. A stream that
    fails is recorded as failed, never dropped."""
    go = threading.Event()
    results: dict[int, Sample] = {}

    def stream(i: int) -> None:
        go.wait()
        try:
            results[i] = engine.measure(test, 1000 * c + i)
        except Exception as exc:
            results[i] = Sample(None, None, None, "error", f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=stream, args=(i,), daemon=True) for i in streams]
    for t in threads:
        t.start()
    if start_ns is not None:
        time.sleep(max(0.0, (start_ns - time.perf_counter_ns()) / 1e9))
    go.set()
    for t in threads:
        t.join()
    return [(i, results.get(i) or Sample(None, None, None, "error", "lost")) for i in streams]


def run_concurrency(run: BenchRun, engine: BenchEngine, model: str) -> None:
    """N simultaneous streams per level, started together, in this process."""
    test, levels = concurrency_levels(run, model)
    for c in levels:
        run.observer.measuring(model, f"{test.name} x{c}", 0, False)
        for i, s in measure_streams(engine, test, c, list(range(c))):
            run.record(model, test.name, c, 0, i, s)


def run_soak(run: BenchRun, engine: BenchEngine, model: str) -> None:
    """The same tg test back to back, for a duration or a count; drift comes from t_s."""
    test = BenchTest("tg", run.cfg.n_gen[0] if run.cfg.n_gen else 128, run.cfg.depths[0])
    name = f"soak {test.name}"
    done = [s for s in run.samples() if s.test == name and s.model == model]
    rep = max((s.rep for s in done), default=-1) + 1
    started = time.monotonic()
    while True:
        if run.cfg.soak_n is not None and rep >= run.cfg.soak_n:
            break
        if run.cfg.soak_s is not None and time.monotonic() - started >= run.cfg.soak_s:
            break
        run.observer.measuring(model, name, rep, False)
        run.record(model, name, 1, rep, 0, engine.measure(test, 10_000 + rep))
        rep += 1


def execute_bench(
    cfg: BenchConfig,
    store: Store,
    open_engine: Callable[[str | None], BenchEngine],
    *,
    resume: str | None = None,
    observer: BenchObserver | None = None,
    host: HostInfo | None = None,
    concurrency_runner: Callable[[BenchRun, BenchEngine, str], None] | None = None,
    energy: EnergyMeter | None = None,
) -> RunInfo:
    """Run (or resume) a benchmark matrix; returns the stored run. `concurrency_runner`
    replaces the in-process concurrency levels (e.g. `distributed.RayConcurrency`).
    `energy`: measures each one-stream sample's energy and the host's load, started after
    the first model loaded (None: nothing measured)."""

    obs: BenchObserver = observer or _Quiet()
    if resume:
        config_of(store.run(resume))
    ledger = RunLedger.open(
        store,
        "bench",
        BenchSettings(cfg),
        host or HostInfo(),
        backend=cfg.connection.kind or ("embedded" if not cfg.url else "auto"),
        url=cfg.url,
        model=", ".join(cfg.models) or None,
        resume=resume,
    )
    stop_rules = dict(bench_settings(ledger.run).stop_rules)
    session = energy
    run = BenchRun(ledger, cfg, obs, energy=session)
    models: list[str | None] = list(cfg.models) or [None]
    per_test = cfg.reps if cfg.until_ci_pct is None else cfg.max_reps
    obs.plan(
        len(models)
        * (
            len(cfg.tests()) * (per_test + cfg.warmup)
            + len([c for c in cfg.concurrency if c > 1])
            + (cfg.soak_n or 0)
        )
    )
    status = "interrupted"
    try:
        for model in models:
            engine = open_engine(model)
            if session is not None and not session.started:
                session.start()  # after the first model loaded, before its first test
            try:
                name = engine.model
                target = engine.info()
                ledger.set_target(
                    name,
                    target.with_bound(speed_bound(target.gguf_path)),
                    model_from_targets=True,
                )
                if cfg.soak_s is not None or cfg.soak_n is not None:
                    run_soak(run, engine, name)
                else:
                    run_tests(run, engine, name, stop_rules)
                    (concurrency_runner or run_concurrency)(run, engine, name)
            finally:
                engine.close()
        measured_ok = any(s.status == "ok" and s.rep >= 0 for s in ledger.samples())
        status = "done" if measured_ok else "failed"
    except KeyboardInterrupt:
        status = "interrupted"
    finally:
        totals = None
        if session is not None:
            measured = [s for s in ledger.samples() if s.rep >= 0]
            totals = session.totals(
                [s.energy for s in measured if s.concurrency == 1], [s.host for s in measured]
            )
            session.stop()
        finished = ledger.finish(status, totals)
    return finished


def with_defaults(cfg: BenchConfig) -> BenchConfig:
    if cfg.until_ci_pct is not None and cfg.until_ci_pct <= 0:
        raise TokbenchError("--until-ci must be a positive percentage, e.g. 2")
    if cfg.url is None and any(c > 1 for c in cfg.concurrency):
        raise TokbenchError(
            "concurrency (-c) needs a server (--url): the embedded engine serves one stream"
        )
    if not cfg.tests() and cfg.soak_s is None and cfg.soak_n is None:
        raise TokbenchError("nothing to measure: give a prompt length (-p) or a generation (-n)")
    return replace(cfg)
