"""Coordinate search over llama.cpp's knobs, measuring one knob at a time.

Start at llama.cpp's defaults. For each knob (threads first, then by how much the
bandwidth bound says it could matter), measure its values from the current best with the
other knobs held, most promising first. Each challenger duels the knob's current leader:
both get `min_reps` repetitions, then more (one side at a time, the noisier one first)
until the interval of their speed ratio excludes 1 (better or worse), lies within
±`same_within` (same), or both reach `max_reps` (undecided). Only a better challenger
takes the lead, so llama.cpp's default stays unless a change measurably helps. The
leader is adopted and the search moves on; a second pass repeats the sweep from there.

Then the pick is settled against the ranking: every measured candidate whose mean beats
the pick's duels it the same way, and one that is measurably better becomes the pick, so
the pick is the ranking's top or within noise of every row above it. Last, the start is
measured again (time for it is kept back from --max-time), so drift of the box over the
tune can be told from the knobs' effects.

`measure(candidate, reps)` is injected (the bench engine or a llama-server launcher);
`store(candidate, outcome)` is called after every call so a run can resume, and `done`
hands back the samples of an earlier run so those candidates are not measured again. A
candidate whose measurement raises (crash, out of memory, a flag the binary rejects) is
recorded as failed with the reason, and the search goes on.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from tokbench.tune.inputs import HostFacts, ModelFacts
from tokbench.tune.predict import fitted_start, order_values, predict, predicted_spread
from tokbench.tune.space import Candidate, Knob, conflict, grid_size
from tokbench.tune.verdict import compare


@dataclass(frozen=True, slots=True)
class Measurement:
    """Speeds from `reps` repetitions of one candidate (tok/s, one value per repetition)."""

    decode_tps: tuple[float, ...]
    prefill_tps: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class Failure:
    reason: str


class Measure(Protocol):
    def __call__(self, candidate: Candidate, reps: int) -> Measurement: ...


class Store(Protocol):
    def __call__(self, candidate: Candidate, outcome: Measurement | Failure) -> None: ...


Objective = Literal["decode", "prefill"]


@dataclass(frozen=True, slots=True)
class SearchConfig:
    min_reps: int = 3
    max_reps: int = 10
    same_within: float = 0.02  # ratios inside ±2 % count as no change
    passes: int = 1  # a second pass re-sweeps every knob from the winner
    max_time_s: float | None = None
    objective: Objective = "decode"

    def __post_init__(self) -> None:
        if not 2 <= self.min_reps <= self.max_reps:
            raise ValueError("need 2 <= min_reps <= max_reps")
        if self.passes < 1:
            raise ValueError("passes must be at least 1")


Verdict = Literal["better", "worse", "same", "undecided", "failed", "skipped", "first"]


@dataclass(frozen=True, slots=True)
class Decision:
    """One challenger against the knob's leader at that moment."""

    pass_no: int
    knob: str
    value: str
    key: str
    against: str | None
    verdict: Verdict
    ratio: float | None = None
    ratio_low: float | None = None
    ratio_high: float | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Trial:
    """Everything measured for one candidate (samples from a resumed run included)."""

    candidate: Candidate
    decode_tps: tuple[float, ...]
    prefill_tps: tuple[float, ...]
    failure: str | None
    predicted_decode_tps: float
    resumed_reps: int

    @property
    def key(self) -> str:
        return self.candidate.key


Stopped = Literal["done", "converged", "max-time", "interrupted"]


@dataclass(frozen=True, slots=True)
class SearchResult:
    knobs: tuple[Knob, ...]
    knob_order: tuple[str, ...]
    start: Candidate
    best: Candidate | None
    trials: tuple[Trial, ...]
    decisions: tuple[Decision, ...]
    grid_size: int
    measure_calls: int
    stopped: Stopped
    elapsed_s: float
    objective: Objective
    recheck_tps: tuple[float, ...] = ()  # the start measured again at the end
    recheck_note: str = ""  # why it was not (time box ended, it failed)

    @property
    def candidates_tried(self) -> int:
        """Distinct candidates measured or attempted, this run and resumed ones."""
        return len(self.trials)

    def trial(self, candidate: Candidate) -> Trial | None:
        return next((t for t in self.trials if t.candidate == candidate), None)


@dataclass
class _Record:
    candidate: Candidate
    predicted: float
    decode: list[float] = field(default_factory=list)
    prefill: list[float] = field(default_factory=list)
    failure: str | None = None
    resumed_reps: int = 0


@dataclass(frozen=True, slots=True)
class _Outcome:
    verdict: Verdict
    ratio: float | None = None
    low: float | None = None
    high: float | None = None
    reason: str = ""


class _OutOfTime(Exception):
    pass


class _Search:
    def __init__(
        self,
        knobs: Sequence[Knob],
        measure: Measure,
        host: HostFacts,
        model: ModelFacts,
        cfg: SearchConfig,
        store: Store | None,
        clock: Callable[[], float],
    ) -> None:
        self.knobs = knobs
        self.measure = measure
        self.host, self.model = host, model
        self.cfg = cfg
        self.store = store
        self.clock = clock
        self.t0 = clock()
        self.records: dict[Candidate, _Record] = {}
        self.decisions: list[Decision] = []
        self.calls = 0
        # kept back from --max-time for measuring the start again at the end: as long as the
        # session's first measurement (a load, its warm-up and min_reps repetitions) took
        self.reserve_s: float | None = None

    def elapsed(self) -> float:
        return self.clock() - self.t0

    def out_of_time(self, reserve: bool = True) -> bool:
        limit = self.cfg.max_time_s
        if limit is None:
            return False
        return self.elapsed() >= limit - ((self.reserve_s or 0.0) if reserve else 0.0)

    def record(self, candidate: Candidate) -> _Record:
        rec = self.records.get(candidate)
        if rec is None:
            p = predict(candidate, self.host, self.model).decode_tps
            rec = self.records[candidate] = _Record(candidate, p)
        return rec

    def samples(self, candidate: Candidate) -> list[float]:
        rec = self.record(candidate)
        return rec.decode if self.cfg.objective == "decode" else rec.prefill

    def run(self, candidate: Candidate, reps: int) -> bool:
        """Measure `reps` more repetitions; False if the candidate failed (now or before)."""
        rec = self.record(candidate)
        if rec.failure is not None:
            return False
        if self.out_of_time():
            raise _OutOfTime
        self.calls += 1
        began = self.clock()
        try:
            m = self.measure(candidate, reps)
            wanted = m.decode_tps if self.cfg.objective == "decode" else m.prefill_tps
            if not wanted or min(wanted) <= 0:
                raise ValueError(f"no {self.cfg.objective} speed was measured")
        except Exception as exc:  # a crash or refusal of one candidate must not end the tune
            rec.failure = str(exc).strip() or type(exc).__name__
            if self.store is not None:
                self.store(candidate, Failure(rec.failure))
            return False
        if self.reserve_s is None:
            self.reserve_s = self.clock() - began
        rec.decode += m.decode_tps
        rec.prefill += m.prefill_tps
        if self.store is not None:
            self.store(candidate, m)
        return True

    def ensure(self, candidate: Candidate) -> bool:
        missing = self.cfg.min_reps - len(self.samples(candidate))
        return (
            self.run(candidate, missing) if missing > 0 else self.record(candidate).failure is None
        )

    def duel(self, challenger: Candidate, leader: Candidate) -> _Outcome:
        """Measure both until the ratio challenger/leader is decided (or max_reps)."""
        while True:
            test = compare(self.samples(challenger), self.samples(leader), self.cfg.same_within)
            open_sides = [
                c for c in (challenger, leader) if len(self.samples(c)) < self.cfg.max_reps
            ]
            if test.verdict != "undecided" or not open_sides:
                return _Outcome(test.verdict, test.ratio, test.low, test.high)
            # top up the side whose mean is least certain (largest relative variance / n)
            side = max(open_sides, key=lambda c: _spread(self.samples(c)))
            if not self.run(side, 1):
                # a setting that crashes now and then is no setting to recommend
                if side == challenger:
                    return _Outcome("failed", reason=self.record(side).failure or "")
                return _Outcome("better", reason=f"leader failed: {self.record(side).failure}")

    def mean(self, candidate: Candidate) -> float:
        return statistics.fmean(self.samples(candidate))

    def measured(self) -> list[Candidate]:
        return [c for c, r in self.records.items() if r.failure is None and self.samples(c)]

    def adopt_decided(self, pick: Candidate) -> Candidate:
        """The pick after adopting, without measuring, any candidate already measured to be
        better than it (a duel cut short by the time box can leave one)."""
        while True:
            better = [
                c
                for c in self.measured()
                if self.mean(c) > self.mean(pick)
                and len(self.samples(c)) >= 2
                and compare(self.samples(c), self.samples(pick), self.cfg.same_within).verdict
                == "better"
            ]
            if not better:
                return pick
            pick = max(better, key=self.mean)

    def settle(self, pass_no: int, pick: Candidate) -> Candidate:
        """Duel the pick with every candidate whose mean beats it, fastest first; a measurably
        better one becomes the pick. Ends with no row above the pick left undecided that
        more repetitions (up to max_reps) could decide."""
        dueled: set[tuple[Candidate, Candidate]] = set()
        while True:
            pick = self.adopt_decided(pick)
            rivals = sorted(
                (c for c in self.measured() if self.mean(c) > self.mean(pick)),
                key=lambda c: -self.mean(c),
            )
            rival = next((c for c in rivals if (c, pick) not in dueled), None)
            if rival is None:
                return pick
            dueled.add((rival, pick))
            outcome = self.duel(rival, pick)
            self.note(pass_no, "pick", "", rival, pick, outcome)
            if outcome.verdict == "better":
                pick = rival

    def recheck(
        self, start: Candidate, measure: Measure, stored: Sequence[float]
    ) -> tuple[tuple[float, ...], str]:
        """The start measured again at the end (min_reps), or why not; a resumed search that
        measured nothing new keeps its stored end-check."""
        if self.record(start).failure is not None or not self.samples(start):
            return (), ""
        if self.calls == 0 and stored:
            return tuple(stored), ""
        if self.out_of_time(reserve=False):
            return (), "the start was not measured again: the time box ended"
        self.calls += 1
        try:
            m = measure(start, self.cfg.min_reps)
        except Exception as exc:  # a failure here says nothing about the pick
            return (), f"measuring the start again failed: {str(exc).strip() or type(exc).__name__}"
        wanted = m.decode_tps if self.cfg.objective == "decode" else m.prefill_tps
        if not wanted or min(wanted) <= 0:
            return (), f"measuring the start again gave no {self.cfg.objective} speed"
        return tuple(wanted), ""

    def note(
        self,
        pass_no: int,
        knob: str,
        value: str,
        cand: Candidate,
        against: Candidate | None,
        outcome: _Outcome,
    ) -> None:
        self.decisions.append(
            Decision(
                pass_no,
                knob,
                value,
                cand.key,
                against.key if against else None,
                outcome.verdict,
                outcome.ratio,
                outcome.low,
                outcome.high,
                outcome.reason,
            )
        )

    def sweep(
        self, pass_no: int, knob: Knob, base: Candidate | None, start: Candidate
    ) -> Candidate | None:
        """Measure the knob's values from `base`; return the knob's winner."""
        leader = base
        ref = base or start
        for value in order_values(knob, ref, self.host, self.model):
            cand = ref.with_value(knob.name, value)
            if cand == leader or (cand == start and self.record(start).failure is not None):
                continue  # the leader needs no duel; a failed start was noted already
            why = conflict(cand)
            if why is not None:
                outcome = _Outcome("skipped", reason=why)
            elif not self.ensure(cand):
                outcome = _Outcome("failed", reason=self.record(cand).failure or "")
            elif leader is None:
                outcome = _Outcome("first", reason="the first candidate that ran")
            else:
                outcome = self.duel(cand, leader)
            self.note(pass_no, knob.name, value, cand, leader, outcome)
            if outcome.verdict in ("better", "first"):
                leader = cand
        return leader


def _spread(xs: Sequence[float]) -> float:
    if len(xs) < 2:
        return float("inf")
    mean = sum(xs) / len(xs)
    return sum((x - mean) ** 2 for x in xs) / (len(xs) - 1) / len(xs) / (mean * mean)


def knob_order(
    knobs: Sequence[Knob], start: Candidate, host: HostFacts, model: ModelFacts
) -> list[Knob]:
    """Threads first, then the knobs the bound says matter most; ties keep KNOB_ORDER."""
    searched = [k for k in knobs if k.searched]
    head = [k for k in searched if k.name == "threads"]
    rest = [k for k in searched if k.name != "threads"]
    rest.sort(key=lambda k: -round(predicted_spread(k, start, host, model), 6))
    return head + rest


def search(
    knobs: Sequence[Knob],
    measure: Measure,
    *,
    host: HostFacts,
    model: ModelFacts,
    config: SearchConfig | None = None,
    store: Store | None = None,
    done: Mapping[str, Sequence[float]] | None = None,
    failed: Mapping[str, str] | None = None,
    clock: Callable[[], float] = time.monotonic,
    recheck: Measure | None = None,
    rechecked: Sequence[float] = (),
) -> SearchResult:
    """Find the fastest candidate; see the module docstring for the procedure.

    done: candidate key -> objective samples from an earlier run of the same tune;
    failed: candidate key -> failure reason from an earlier run (not retried);
    recheck: how the start is measured again at the end (default `measure`; a run passes
    one that stores those samples apart from the start's own); rechecked: the end-check an
    earlier run stored, kept when this one measures nothing new.
    """
    cfg = config or SearchConfig()
    s = _Search(knobs, measure, host, model, cfg, store, clock)
    for key, values in (done or {}).items():
        rec = s.record(Candidate.from_key(key))
        s.samples(rec.candidate).extend(values)
        rec.resumed_reps = len(values)
    for key, reason in (failed or {}).items():
        s.record(Candidate.from_key(key)).failure = reason

    start = fitted_start(knobs, host, model)
    order = knob_order(knobs, start, host, model)
    stopped: Stopped = "done"
    best: Candidate | None = None
    pass_no = 1
    try:
        best = start if s.ensure(start) else None
        if best is None:
            s.decisions.append(
                Decision(1, "", "", start.key, None, "failed", reason=s.record(start).failure or "")
            )
        for pass_no in range(1, cfg.passes + 1):
            before = best
            for knob in order:
                best = s.sweep(pass_no, knob, best, start)
            if best == before and pass_no < cfg.passes:
                stopped = "converged"
                break
        if best is not None:
            best = s.settle(pass_no, best)
    except _OutOfTime:
        stopped = "max-time"
        if best is not None:
            best = s.adopt_decided(best)
    again, why = s.recheck(start, recheck or measure, rechecked)

    trials = tuple(
        Trial(
            r.candidate, tuple(r.decode), tuple(r.prefill), r.failure, r.predicted, r.resumed_reps
        )
        for r in s.records.values()
        if r.decode or r.prefill or r.failure
    )
    return SearchResult(
        knobs=tuple(knobs),
        knob_order=tuple(k.name for k in order),
        start=start,
        best=best,
        trials=trials,
        decisions=tuple(s.decisions),
        grid_size=grid_size(knobs),
        measure_calls=s.calls,
        stopped=stopped,
        elapsed_s=s.elapsed(),
        objective=cfg.objective,
        recheck_tps=again,
        recheck_note=why,
    )


def resume_state(
    rows: Iterable[tuple[str, float | None, str | None]],
) -> tuple[dict[str, list[float]], dict[str, str]]:
    """Rebuild `done` and `failed` for search() from a stored run's rows.

    Each row is (candidate key, objective tok/s or None, failure reason or None), one per
    stored repetition or failure, in the order they were stored.
    """
    done: dict[str, list[float]] = {}
    failed: dict[str, str] = {}
    for key, tps, failure in rows:
        if failure is not None:
            failed[key] = failure
        elif tps is not None and tps > 0:
            done.setdefault(key, []).append(tps)
    return done, failed
