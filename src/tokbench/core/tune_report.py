"""A tune's report as records: computed by `tune.report`, stored whole in the run's
settings (`BenchSettings.tune`) and read back by the renderers. `from_json` reads every
stored shape: a field an older report lacks takes its default (None where it has none),
so reports stored before intervals or the pick's verdict existed still render as they did.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, Literal, TypeVar

VsPick = Literal["pick", "same", "within noise", "slower", "faster"]

_R = TypeVar("_R")


def _read(cls: type[_R], d: dict[str, Any], **parsed: Any) -> _R:
    """A `cls` from its stored JSON `d`, with the nested records already read (`parsed`):
    a missing field takes its default, or None where it has none (stored before it existed)."""
    kw = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name in parsed:
            kw[f.name] = parsed[f.name]
        elif f.name in d:
            kw[f.name] = d[f.name]
        elif f.default is MISSING and f.default_factory is MISSING:
            kw[f.name] = None
    return cls(**kw)


@dataclass(frozen=True, slots=True)
class Advice:
    """Lines to paste, and the knobs that this target cannot set (with why)."""

    lines: tuple[str, ...]
    left_out: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RankedRow:
    rank: int | None  # None for failed candidates
    key: str
    n: int
    mean_tps: float | None
    ci_low_tps: float | None
    ci_high_tps: float | None
    speedup: float | None  # mean / the start's mean (geometric means' ratio)
    predicted_tps: float
    is_start: bool
    is_best: bool  # the pick
    failure: str | None
    speedup_low: float | None = None  # 95 % interval of the ratio over the start
    speedup_high: float | None = None
    vs_pick: VsPick | None = None  # None: failed, no pick, or stored before the verdict
    vs_pick_low: float | None = None  # 95 % interval of the ratio over the pick
    vs_pick_high: float | None = None


@dataclass(frozen=True, slots=True)
class ThreadPoint:
    threads: int
    mean_tps: float
    ci_low_tps: float | None
    ci_high_tps: float | None
    bandwidth_gb_s: float  # tok/s x bytes per token


@dataclass(frozen=True, slots=True)
class ThreadScaling:
    """Decode speed against threads, with the other knobs held at `held`."""

    held: str  # key of the other knobs' values
    points: tuple[ThreadPoint, ...]
    flat_threads: int  # fewest threads within flat_within of the fastest
    flat_tps: float
    flat_bandwidth_gb_s: float
    measured_bandwidth_gb_s: float | None
    bandwidth_share: float | None  # flat bandwidth / measured bandwidth


@dataclass(frozen=True, slots=True)
class KnobEffect:
    """One knob's change between its fastest and slowest value, other knobs held (`held`).

    `measurable`: the two values' speeds separate (the interval of their ratio excludes 1 at
    99 % over all the knob's comparisons, and the change passes 1 %); otherwise the change
    is noise at this n and is shown only as the 95 % interval it lies in. None: stored
    before intervals existed."""

    knob: str
    change: float  # fastest/slowest - 1 (geometric means)
    fastest_value: str
    slowest_value: str
    values_measured: int
    held: str
    measurable: bool | None = None
    change_low: float | None = None  # 95 % interval of the change
    change_high: float | None = None
    n_fastest: int = 0
    n_slowest: int = 0


@dataclass(frozen=True, slots=True)
class DriftCheck:
    """The start measured at the beginning and again at the end of the tune."""

    first_tps: float | None
    last_tps: float | None
    n_first: int
    n_last: int
    ratio: float | None  # last / first (geometric means)
    ratio_low: float | None
    ratio_high: float | None
    drifted: bool  # beyond the noise (the duels' 99 % rule)
    note: str = ""  # why the start was not measured again


@dataclass(frozen=True, slots=True)
class TuneReport:
    rows: tuple[RankedRow, ...]
    best: str | None
    start: str
    best_speedup: float | None
    llama_server: str | None
    tokbench_run: Advice | None
    ollama: Advice | None
    threads: ThreadScaling | None
    effects: tuple[KnobEffect, ...]
    drift: DriftCheck | None
    candidates_tried: int
    grid_size: int
    measure_calls: int
    stopped: str

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TuneReport:
        advice = {
            name: Advice(tuple(a["lines"]), tuple(a.get("left_out") or ()))
            if (a := d.get(name)) else None
            for name in ("tokbench_run", "ollama")
        }  # fmt: skip
        th = d.get("threads")
        threads = None
        if th:
            threads = _read(
                ThreadScaling, th, points=tuple(_read(ThreadPoint, p) for p in th["points"])
            )
        return _read(
            cls, d, **advice, threads=threads,
            rows=tuple(_read(RankedRow, r) for r in d.get("rows") or ()),
            effects=tuple(_read(KnobEffect, e) for e in d.get("effects") or ()),
            drift=_read(DriftCheck, d["drift"]) if d.get("drift") else None,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class TunedKnob:
    """A knob as the tune searched it."""

    name: str
    values: tuple[str, ...]
    default: str


@dataclass(frozen=True, slots=True)
class TuneDocument:
    """A tune as stored in its run's settings: its parameters (`tune.run.TuneParams` as
    JSON, read back to resume) and, once it ends, its report and what it was run on."""

    params: dict[str, Any]  # TuneParams.to_json(): the JSON a resume reads back
    report: TuneReport | None = None  # None: still running, or cut off before its report
    knobs: tuple[TunedKnob, ...] = ()
    objective: str = "decode"
    engine: str = "?"
    model: str = ""
    bytes_per_token: float | None = None
    prefill_tps: dict[str, float] = field(default_factory=dict)  # candidate key -> mean

    def to_json(self) -> dict[str, Any]:
        if self.report is None:  # as stored when the tune starts
            return {"params": self.params, "report": None}
        return {
            "params": self.params,
            "report": asdict(self.report),
            "knobs": [asdict(k) for k in self.knobs],
            "objective": self.objective,
            "engine": self.engine,
            "model": self.model,
            "bytes_per_token": self.bytes_per_token,
            "prefill_tps": self.prefill_tps,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TuneDocument:
        report = d.get("report")
        return cls(
            params=dict(d.get("params") or {}),
            report=TuneReport.from_json(report) if report else None,
            knobs=tuple(
                TunedKnob(k["name"], tuple(k["values"]), k["default"]) for k in d.get("knobs") or ()
            ),
            objective=d.get("objective") or "decode",
            engine=d.get("engine") or "?",
            model=d.get("model") or "",
            bytes_per_token=d.get("bytes_per_token"),
            prefill_tps=dict(d.get("prefill_tps") or {}),
        )
