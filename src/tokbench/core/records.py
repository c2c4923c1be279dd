"""The domain's values: runs, requests, bench measurements, grades, run ids.

Records are plain frozen dataclasses with no knowledge of storage; `tokbench.store`
maps them to rows by column name.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any, Literal

from tokbench.core.config import BenchConfig, ConverseConfig, RunConfig, Sampling
from tokbench.core.energy import HostWindow, RequestEnergy, RunEnergy
from tokbench.core.redact import redact_url
from tokbench.core.tune_report import TuneDocument


def new_run_id(host_name: str) -> str:
    """Sortable by time and unique across hosts writing one shared store: UTC time, a tag
    of the host's name, random bits: 20261128-120501-7c2e-3fa9c1."""
    tag = hashlib.sha256(host_name.encode()).hexdigest()[:4]
    return f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{tag}-{secrets.token_hex(3)}"


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True)
class RequestMetrics:
    ttft_ms: float | None
    ttfa_ms: float | None
    total_ms: float
    prompt_tokens: int | None
    prompt_tokens_source: str | None
    completion_tokens: int | None
    completion_tokens_source: str | None
    thinking_tokens: int | None
    thinking_tokens_source: str | None
    prefill_tps: float | None
    decode_tps: float | None
    e2e_tps: float | None
    itl_p50_ms: float | None
    itl_p95_ms: float | None
    itl_max_ms: float | None
    engine_prefill_tps: float | None
    engine_decode_tps: float | None
    finish_reason: str | None
    answer_state: str = "answered"
    answer_tokens: int | None = None
    answer_tokens_source: str | None = None
    load_ms: float | None = None
    cached_prompt_tokens: int | None = None
    engine_prompt_tokens: int | None = None
    engine_decode_tokens: int | None = None
    decode_gap_pct: float | None = None
    prefill_gap_pct: float | None = None
    count_gap_pct: float | None = None
    crosscheck: str | None = None  # "decode", "count", "decode,count" when beyond tolerance
    draft_tokens: int | None = None  # speculative decoding, as the server reported it
    draft_accepted_tokens: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RequestMetrics:
        """Tolerant of records written by older or newer versions."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in d.items() if k in names}
        for f in fields(cls):
            values.setdefault(f.name, None)
        return cls(**values)


Verdict = Literal["pass", "fail", "no_answer", "error"]


@dataclass(frozen=True, slots=True)
class Grade:
    verdict: Verdict
    extracted: str | None
    reason: str
    grader: str = ""


@dataclass(frozen=True, slots=True)
class Sample:
    tps: float | None  # client clock: tokens of the named part / its seconds
    server_tps: float | None  # the engine's or server's own clock, when it reports one
    tokens: int | None  # tokens the named part really had (verified where possible)
    status: str  # ok | short | error
    note: str | None = None
    ttft_ms: float | None = None
    first_ns: int | None = None  # monotonic send time, for concurrency arithmetic
    last_ns: int | None = None  # monotonic time of the last token


@dataclass(frozen=True, slots=True)
class BenchSample:
    """One measurement. Warm-ups have rep < 0; concurrent streams share a rep."""

    run_id: str
    model: str
    test: str
    concurrency: int
    rep: int
    stream: int
    started_at: str
    t_s: float  # when it was sent, seconds after the process started measuring
    status: str
    note: str | None
    tps: float | None
    server_tps: float | None
    tokens: int | None
    ttft_ms: float | None
    span_s: float | None  # send to last token
    energy: RequestEnergy | None = None  # None: not measured (concurrent streams, old runs)
    host: HostWindow | None = None  # the host monitor's window over the sample

    @property
    def busy(self) -> bool | None:
        return self.host.busy if self.host else None


def _redacted(url: str | None) -> str | None:
    return redact_url(url) if url else url


def _known(cls: Any, d: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a stored JSON object into a record's fields and the rest (kept, not lost)."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in d.items() if k in names}, {
        k: v for k, v in d.items() if k not in names
    }


@dataclass(frozen=True, slots=True)
class SpeedBound:
    """The decode speed a host can reach with one model: its measured bandwidth over the
    bytes each token reads (weights only, all in RAM)."""

    bandwidth_gbs: float
    bytes_per_token: int
    bound_tps: float


@dataclass(frozen=True, slots=True)
class Target:
    """What was measured: the backend's description of one model, plus its speed bound.
    One shape for runs (one target) and benches (one per model)."""

    backend_kind: str | None = None
    server_kind: str | None = None
    server_version: str | None = None
    base_url: str | None = None
    gguf_path: str | None = None
    gguf_bytes: int | None = None
    quantization: str | None = None
    n_params: int | None = None
    n_ctx: int | None = None
    threads: int | None = None
    bandwidth_gbs: float | None = None  # the host's measured bandwidth, when known
    bytes_per_token: int | None = None
    bound_tps: float | None = None  # bandwidth / bytes per token
    # the model's identity (gguf.identity): "sha256:..." for a file, "served:..." otherwise
    model_id: str | None = None
    model_name: str | None = None  # its one display name
    details: dict[str, Any] = field(default_factory=dict)  # what else the backend said

    def to_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "details"}
        return {**self.details, **{k: v for k, v in out.items() if v is not None}}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Target:
        d = dict(d)
        if "kind" in d and "backend_kind" not in d:  # bench targets before 0.2
            d["backend_kind"] = d.pop("kind")
        known, rest = _known(cls, d)
        known.pop("details", None)
        return cls(**known, details=rest)

    def with_facts(self, **facts: Any) -> Target:
        """This target with more of what the backend said (fields or details)."""
        return Target.from_json({**self.to_json(), **facts})

    def with_bound(self, bound: SpeedBound | None) -> Target:
        """This target with the host's speed bound (unchanged when there is none)."""
        if bound is None:
            return self
        return replace(
            self,
            bandwidth_gbs=bound.bandwidth_gbs,
            bytes_per_token=bound.bytes_per_token,
            bound_tps=bound.bound_tps,
        )

    @property
    def bound(self) -> SpeedBound | None:
        if self.bandwidth_gbs is None or self.bytes_per_token is None or self.bound_tps is None:
            return None
        return SpeedBound(self.bandwidth_gbs, self.bytes_per_token, self.bound_tps)


@dataclass(frozen=True, slots=True)
class HostInfo:
    """The machine a run was made on: a summary, and the full probe (`tokbench hw`)."""

    hostname: str | None = None
    cpu_model: str | None = None
    physical_cores: int | None = None
    logical_cpus: int | None = None
    ram_bytes: int | None = None
    os: str | None = None
    machine: str | None = None
    python: str | None = None
    hw: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "details"}
        if not self.hw:
            out.pop("hw")
        return {**self.details, **out}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> HostInfo:
        known, rest = _known(cls, d)
        known.pop("details", None)
        return cls(**known, details=rest)


@dataclass(frozen=True, slots=True)
class ItemPlan:
    """One suite item as it was asked: kept so a resumed run asks the same."""

    id: str
    max_tokens: int | None
    sampling: Sampling


@dataclass(frozen=True, slots=True)
class EvalPlan:
    """An eval run's own settings (`tokbench eval`): the benchmarks, where their items came
    from, how they were asked and when the run stops. Kept so a resumed run asks the same."""

    benchmarks: tuple[str, ...] = ()
    data: dict[str, str] = field(default_factory=dict)  # benchmark -> the path given
    populations: dict[str, int] = field(default_factory=dict)  # items in each full set
    full: bool = False
    limit: int | None = None  # the first N items of each benchmark's subset
    style: str = "chat"  # chat | completion
    shots: int = 0
    max_time_s: float | None = None
    until_ci_pts: float | None = None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> EvalPlan:
        known, _ = _known(cls, d)
        known["benchmarks"] = tuple(known.get("benchmarks") or ())
        return cls(**known)


@dataclass(frozen=True, slots=True)
class RunSettings:
    """A suite run's settings, as stored (an eval run's too, with its `eval` plan)."""

    run: RunConfig
    suite_source: str | None = None
    items: tuple[ItemPlan, ...] = ()
    eval: EvalPlan | None = None

    def to_json(self) -> dict[str, Any]:
        out = {
            "run_config": {**self.run.to_json(), "url": _redacted(self.run.url)},
            "suite_source": self.suite_source,
            "repeat": self.run.repeat,
            "threads": self.run.threads,
            "items": [asdict(i) for i in self.items],
        }
        return out if self.eval is None else {**out, "eval": asdict(self.eval)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RunSettings:
        items = tuple(
            ItemPlan(str(i["id"]), i.get("max_tokens"), Sampling(**(i.get("sampling") or {})))
            for i in d.get("items") or []
            if isinstance(i, dict) and "id" in i
        )
        plan = EvalPlan.from_json(d["eval"]) if isinstance(d.get("eval"), dict) else None
        run = RunConfig.from_json(d.get("run_config") or {})
        return cls(run, d.get("suite_source"), items, plan)


@dataclass(frozen=True, slots=True)
class RayWorker:
    """One Ray actor of a `--ray` bench: its process and node."""

    pid: int
    host: str
    node_id: str


@dataclass(frozen=True, slots=True)
class RayLevel:
    """One concurrency level run on Ray: its workers and their clock offsets."""

    concurrency: int
    workers: int
    clock_offsets_ms: dict[str, float]  # worker index -> its clock minus the driver's
    clock_uncertainty_ms: float  # the largest half round trip


@dataclass(frozen=True, slots=True)
class RayReport:
    """What a `--ray` bench learnt on the way: its workers and each level's offsets."""

    levels: tuple[RayLevel, ...] = ()
    workers: tuple[RayWorker, ...] | None = None  # None: not spawned yet

    def to_json(self) -> dict[str, Any]:
        out = {"levels": [asdict(lv) for lv in self.levels]}
        if self.workers is not None:
            out["workers"] = [asdict(w) for w in self.workers]
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RayReport:
        workers = d.get("workers")
        return cls(
            tuple(RayLevel(**lv) for lv in d.get("levels") or []),
            None if workers is None else tuple(RayWorker(**w) for w in workers),
        )


@dataclass(frozen=True, slots=True)
class BenchSettings:
    """A bench's settings, as stored, with what the run learnt on the way."""

    bench: BenchConfig
    stop_rules: dict[str, str] = field(default_factory=dict)  # test -> why it stopped
    ray: RayReport | None = None  # workers and clock offsets of a `--ray` run
    tune: TuneDocument | None = None  # a `tokbench tune` run: its settings and report

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "bench_config": {**self.bench.to_json(), "url": _redacted(self.bench.url)}
        }
        if self.stop_rules:
            out["stop_rules"] = self.stop_rules
        if self.ray is not None:
            out["ray"] = self.ray.to_json()
        if self.tune is not None:
            out["tune"] = self.tune.to_json()
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> BenchSettings:
        return cls(
            BenchConfig.from_dict(d.get("bench_config") or {}),
            dict(d.get("stop_rules") or {}),
            RayReport.from_json(d["ray"]) if d.get("ray") is not None else None,
            TuneDocument.from_json(d["tune"]) if d.get("tune") is not None else None,
        )


@dataclass(frozen=True, slots=True)
class QuantSettings:
    """A quant comparison's settings (`tokbench quant`): the reference, the text, the
    windows; each model's numbers are in the store's quant tables."""

    reference_model: str | None = None  # the reference GGUF, when it was given
    reference_sha256: str = ""
    reference_name: str = ""  # the reference GGUF's file name
    reference_file: str | None = None  # the compact top-k reference used
    reference_source: str = ""  # built | cache | file
    text_name: str = ""
    text_sha256: str = ""
    n_ctx: int = 512
    chunks: int | None = None
    n_windows: int = 0
    top_k: int = 32
    full_kld: bool = False
    threads: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"quant": asdict(self)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> QuantSettings:
        known, _ = _known(cls, d.get("quant") or {})
        return cls(**known)


@dataclass(frozen=True, slots=True)
class ConverseSettings:
    """A conversation run's settings (`tokbench converse`); each turn is a request."""

    converse: ConverseConfig

    def to_json(self) -> dict[str, Any]:
        return {"converse": {**self.converse.to_json(), "url": _redacted(self.converse.url)}}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ConverseSettings:
        return cls(ConverseConfig.from_dict(d.get("converse") or {}))


Settings = RunSettings | BenchSettings | QuantSettings | ConverseSettings


@dataclass(frozen=True, slots=True)
class TestStats:
    """One test's statistics as another tool's file gave them (`tokbench import`): a
    llama-bench test (`pp512`, mean and sd of t/s, per-repetition samples where the file
    has them) or a serving benchmark's level (throughput and latency percentiles)."""

    model: str
    test: str
    kind: str  # pp | tg | pp+tg | serve
    n_prompt: int | None = None
    n_gen: int | None = None
    depth: int | None = None
    concurrency: float | None = None
    mean_tps: float | None = None
    sd_tps: float | None = None
    n: int | None = None
    samples_tps: tuple[float, ...] = ()
    # everything else the file said of this test (latency summaries, rates, settings)
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunInfo:
    id: str
    created_at: str
    status: str  # running | done | interrupted | failed
    kind: str  # run (suite questions) | eval (benchmarks) | bench | quant
    tokbench_version: str
    backend: str
    url: str | None
    model: str | None
    suite: str | None
    host_name: str | None
    config: Settings = field(default_factory=lambda: RunSettings(RunConfig()))
    targets: dict[str, Target] = field(default_factory=dict)  # model name -> target
    host: HostInfo = field(default_factory=HostInfo)
    finished_at: str | None = None
    source: str | None = None  # another tool's name and version; None: measured by tokbench
    source_sha256: str | None = None  # the imported file's hash: one run per file
    energy: RunEnergy | None = None  # energy, cost and host load; None: not measured
    # the measured model's identity (its targets'; a bench of several joins them); runs
    # stored before m011 without one keep their old name as model_name
    model_id: str | None = None
    model_name: str | None = None

    @property
    def display_model(self) -> str | None:
        """The model's one name, the same for every kind of run of the same model."""
        return self.model_name or self.model

    def model_label(self, name: str) -> str:
        """One of a bench's models (by its target's name) by its one display name."""
        target = self.targets.get(name)
        return target.model_name if target is not None and target.model_name else name

    @property
    def model_key(self) -> str:
        """What `compare` groups by: the identity, else the stored name."""
        return self.model_id or f"name:{self.model or '?'}"

    @property
    def target(self) -> Target:
        """A suite run's one target (a bench's first)."""
        return next(iter(self.targets.values()), Target())

    def to_json(self) -> dict[str, Any]:
        """The run as stored: config, target and host in their JSON shapes."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out.pop("targets")
        for key in ("source", "source_sha256", "energy"):
            if out[key] is None:
                out.pop(key)
        if self.energy is not None:
            out["energy"] = self.energy.to_json()
        return {
            **out,
            "url": _redacted(self.url),
            "config": self.config.to_json(),
            "target": targets_to_json(self.kind, self.targets),
            "host": self.host.to_json(),
        }

    @property
    def engine_note(self) -> str:
        """The embedded engine's settings beyond threads, as flags ("" when none)."""
        if isinstance(self.config, RunSettings):
            return self.config.run.engine.note()
        if isinstance(self.config, BenchSettings):
            return self.config.bench.engine.note()
        return ""

    @property
    def threads(self) -> int | None:
        if isinstance(self.config, RunSettings):
            return self.config.run.threads
        if isinstance(self.config, QuantSettings):
            return self.config.threads
        if isinstance(self.config, ConverseSettings):
            return None
        return self.config.bench.threads


def stop_rules(run: RunInfo) -> dict[str, str]:
    """Why each test of a bench stopped ({} for suite runs)."""
    return run.config.stop_rules if isinstance(run.config, BenchSettings) else {}


# kinds whose measurements are bench samples (a tune's candidates are stored as a bench's
# models; tunes stored before kind "tune" existed are "bench" runs with a tune report)
BENCH_KINDS = ("bench", "tune")


def settings_from_json(kind: str, d: dict[str, Any]) -> Settings:
    if kind == "quant":
        return QuantSettings.from_json(d)
    if kind == "converse":
        return ConverseSettings.from_json(d)
    return BenchSettings.from_json(d) if kind in BENCH_KINDS else RunSettings.from_json(d)


def targets_to_json(kind: str, targets: dict[str, Target]) -> dict[str, Any]:
    """A run keeps its one target flat, a bench (or quant comparison) one per model (the
    stored JSON shape)."""
    if kind in (*BENCH_KINDS, "quant"):
        return {name: t.to_json() for name, t in targets.items()}
    return next(iter(targets.values()), Target()).to_json()


def targets_from_json(kind: str, model: str | None, d: dict[str, Any]) -> dict[str, Target]:
    if kind in (*BENCH_KINDS, "quant"):
        return {k: Target.from_json(v) for k, v in d.items() if isinstance(v, dict)}
    return {model or "": Target.from_json(d)} if d else {}


@dataclass(frozen=True, slots=True)
class RequestRecord:
    run_id: str
    item_id: str
    rep: int
    started_at: str
    status: str  # ok | error
    error: str | None
    prompt: str
    answer: str
    thinking: str
    metrics: RequestMetrics | None
    grade: Grade | None = None
    energy: RequestEnergy | None = None  # None: not measured (old runs, imports)
    host: HostWindow | None = None  # the host monitor's window over the request
    # answer-health flags (results.quality.HEALTH_FLAGS), computed once when the answer is
    # recorded; None: not computed (stores older than migration m008)
    health: tuple[str, ...] | None = None

    @property
    def busy(self) -> bool | None:
        """Other work or swapping during the request (None: the host was not monitored)."""
        return self.host.busy if self.host else None
