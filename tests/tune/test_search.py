"""The coordinate search against a synthetic box whose fastest setting is known."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Callable, Mapping

import pytest

from tokbench.tune.inputs import HostFacts, ModelFacts
from tokbench.tune.search import Failure, Measurement, SearchConfig, resume_state, search
from tokbench.tune.space import Candidate, Knob, search_space

HOST = HostFacts(logical_cores=16, physical_cores=8, cpu_bandwidth_gb_s=60.0)
MODEL = ModelFacts(file_bytes=4_000_000_000, bytes_per_token=4e9, n_layers=32)
KNOBS = search_space(HOST, MODEL)  # threads 1..16, fa, kv, ubatch, batch, mmap: 1620 combos

# decode tok/s of the synthetic box: threads saturate at the physical cores (8) and lose a
# little with hyper-threads; fa=on +12 %, kv=q8_0 +6 %, ubatch=256 +4 %; batch and mmap do
# nothing, so llama.cpp's defaults (2048, on) must stay
THREADS_TPS = {"1": 3.0, "2": 5.8, "4": 10.0, "8": 13.0, "16": 11.5}
GAINS = {
    "fa": {"on": 1.12, "auto": 1.05},
    "kv": {"q8_0": 1.06, "q4_0": 1.03},
    "ubatch": {"256": 1.04},
}
OPTIMUM = Candidate(
    {"threads": "8", "fa": "on", "kv": "q8_0", "ubatch": "256", "batch": "2048", "mmap": "on"}
)


def true_tps(c: Mapping[str, str]) -> float:
    tps = THREADS_TPS[c.get("threads", "8")]
    for knob, gains in GAINS.items():
        tps *= gains.get(c.get(knob, ""), 1.0)
    return tps


class Box:
    """A measure() with seeded multiplicative noise that logs every call."""

    def __init__(
        self,
        noise: float = 0.0,
        seed: int = 0,
        fail: Callable[[Candidate], str | None] = lambda c: None,
    ) -> None:
        self.rng = random.Random(seed)
        self.noise = noise
        self.fail = fail
        self.calls: list[tuple[str, int]] = []

    def __call__(self, c: Candidate, reps: int) -> Measurement:
        self.calls.append((c.key, reps))
        reason = self.fail(c)
        if reason:
            raise RuntimeError(reason)
        return Measurement(
            tuple(true_tps(c) * math.exp(self.rng.gauss(0, self.noise)) for _ in range(reps))
        )


def test_noisy_search_finds_the_optimum_measuring_a_fraction_of_the_grid() -> None:
    found, tried = 0, []
    for seed in range(20):
        result = search(KNOBS, Box(noise=0.01, seed=seed), host=HOST, model=MODEL)
        found += result.best == OPTIMUM
        tried.append(result.candidates_tried)
        assert result.grid_size == 1620 and result.stopped == "done"
    # each duel adopts a knob with no effect at most ~1 % of the time (99 % interval)
    assert found >= 18
    assert max(tried) == 16  # 1 start + (5-1) threads + 2 fa + 2 kv + 3 ubatch + 2 + 2


def test_noise_free_search_is_exact_and_measures_each_candidate_once() -> None:
    box = Box()
    result = search(KNOBS, box, host=HOST, model=MODEL)
    assert result.best == OPTIMUM
    assert result.start.key == "threads=8,fa=auto,kv=f16,ubatch=512,batch=2048,mmap=on"
    *keys, again = [k for k, _ in box.calls]
    assert len(keys) == len(set(keys)) == result.candidates_tried == 16
    assert all(reps == 3 for _, reps in box.calls)
    # the start, measured again at the end, has not drifted on a noise-free box
    assert again == result.start.key and result.recheck_tps == (true_tps(result.start),) * 3
    assert result.knob_order[0] == "threads"
    # the fastest-predicted thread count (the physical cores) is the start; then 16
    threads = [d.value for d in result.decisions if d.knob == "threads"]
    assert threads == ["16", "4", "2", "1"]
    verdicts = {(d.knob, d.value): d.verdict for d in result.decisions}
    assert verdicts[("fa", "on")] == "better" and verdicts[("batch", "512")] == "same"
    assert verdicts[("ubatch", "1024")] == "worse"


def test_second_pass_rechecks_knobs_from_the_winner() -> None:
    one = search(KNOBS, Box(), host=HOST, model=MODEL)
    two = search(KNOBS, Box(), host=HOST, model=MODEL, config=SearchConfig(passes=2))
    assert two.best == one.best == OPTIMUM
    assert two.candidates_tried > one.candidates_tried
    assert {d.pass_no for d in two.decisions} == {1, 2}
    # a pass that changes nothing ends the search early
    pinned = search_space(HOST, MODEL, only={"batch"})
    quiet = search(pinned, Box(), host=HOST, model=MODEL, config=SearchConfig(passes=3))
    assert quiet.stopped == "converged"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_interrupted_tune_resumes_without_remeasuring() -> None:
    clock = Clock()
    stored: dict[str, list[float]] = defaultdict(list)
    failed: dict[str, str] = {}

    def store(c: Candidate, outcome: Measurement | Failure) -> None:
        if isinstance(outcome, Failure):
            failed[c.key] = outcome.reason
        else:
            stored[c.key] += outcome.decode_tps

    def ticking(c: Candidate, reps: int) -> Measurement:
        clock.now += 1.0  # each measurement takes a second
        return first(c, reps)

    oom = lambda c: "out of memory" if c["kv"] == "q4_0" else None  # noqa: E731
    first = Box(fail=oom)
    cut = search(
        KNOBS,
        ticking,
        host=HOST,
        model=MODEL,
        store=store,
        clock=clock,
        config=SearchConfig(max_time_s=7),
    )
    # a second (the first measurement's length) is kept back to measure the start again
    assert cut.stopped == "max-time" and len(first.calls) == 7 and clock.now == 7
    assert first.calls[-1][0] == cut.start.key and len(cut.recheck_tps) == 3

    again = Box(fail=oom)
    resumed = search(KNOBS, again, host=HOST, model=MODEL, store=store, done=stored, failed=failed)
    whole = search(KNOBS, Box(fail=oom), host=HOST, model=MODEL)
    first_keys = {k for k, _ in first.calls[:-1]}  # the last call of each is the recheck
    assert not first_keys & {k for k, _ in again.calls[:-1]}  # nothing measured twice
    assert len(first.calls) - 1 + len(again.calls) == whole.measure_calls
    assert resumed.best == whole.best
    assert sum(t.resumed_reps > 0 for t in resumed.trials) == 6


def test_failing_candidates_are_recorded_and_the_search_goes_on() -> None:
    def fail(c: Candidate) -> str | None:
        if c["kv"] == "q4_0":
            return "llama-server exited: failed to allocate KV cache"
        if c["threads"] == "1":
            return "server crashed (signal 11)"
        return None

    outcomes: list[tuple[str, str]] = []
    result = search(
        KNOBS,
        Box(fail=fail),
        host=HOST,
        model=MODEL,
        store=lambda c, o: outcomes.append((c.key, type(o).__name__)),
    )
    assert result.best == OPTIMUM
    failures = {t.key: t.failure for t in result.trials if t.failure}
    assert len(failures) == 2
    assert any("signal 11" in f for f in failures.values())
    failed_decisions = [d for d in result.decisions if d.verdict == "failed"]
    assert {d.knob for d in failed_decisions} == {"threads", "kv"}
    assert (
        outcomes.count(("threads=1,fa=auto,kv=f16,ubatch=512,batch=2048,mmap=on", "Failure")) == 1
    )


def test_a_failing_start_hands_the_lead_to_the_first_candidate_that_runs() -> None:
    def fail(c: Candidate) -> str | None:
        return "flag rejected" if c["fa"] == "auto" else None

    knobs = search_space(HOST, MODEL, only={"fa", "kv"})
    result = search(knobs, Box(fail=fail), host=HOST, model=MODEL)
    assert result.best is not None and result.best["fa"] == "on"
    assert result.decisions[0].verdict == "failed" and result.decisions[0].against is None
    assert sum(d.key == result.start.key for d in result.decisions) == 1  # noted once
    first = next(d for d in result.decisions if d.verdict == "first")
    assert first.knob == "fa"


def test_a_challenger_that_fails_on_a_repetition_loses() -> None:
    calls: dict[str, int] = defaultdict(int)
    rng = random.Random(3)

    def flaky(c: Candidate, reps: int) -> Measurement:
        calls[c.key] += 1
        if c["fa"] == "on" and calls[c.key] > 1:
            raise RuntimeError("server died mid-run")
        # fa=on is only 1 % faster here, so the duel needs more repetitions
        tps = 10.0 * (1.01 if c["fa"] == "on" else 1.0)
        return Measurement(tuple(tps * math.exp(rng.gauss(0, 0.02)) for _ in range(reps)))

    knobs = search_space(HOST, MODEL, only={"fa"})
    result = search(knobs, flaky, host=HOST, model=MODEL)
    on = next(d for d in result.decisions if d.value == "on")
    assert on.verdict == "failed" and "mid-run" in on.reason
    assert result.best is not None and result.best["fa"] != "on"


def test_measurements_without_speeds_count_as_failures() -> None:
    knobs = search_space(HOST, MODEL, only={"fa"})
    result = search(knobs, lambda c, n: Measurement(()), host=HOST, model=MODEL)
    assert result.best is None
    assert all(t.failure == "no decode speed was measured" for t in result.trials)


def test_prefill_objective_ranks_by_prefill() -> None:
    def m(c: Candidate, reps: int) -> Measurement:
        pp = 100.0 * (1.3 if c["ubatch"] == "1024" else 1.0)
        return Measurement((10.0,) * reps, (pp,) * reps)

    knobs = search_space(HOST, MODEL, only={"ubatch"})
    result = search(knobs, m, host=HOST, model=MODEL, config=SearchConfig(objective="prefill"))
    assert result.best is not None and result.best["ubatch"] == "1024"


@pytest.mark.parametrize("bad", [{"min_reps": 1}, {"min_reps": 5, "max_reps": 4}, {"passes": 0}])
def test_config_is_checked(bad: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        SearchConfig(**bad)


def test_single_valued_knobs_are_not_searched() -> None:
    knobs = [Knob("threads", ("4",), "4", "-t", "both")]
    result = search(knobs, Box(), host=HOST, model=MODEL)
    assert result.grid_size == 1 and result.candidates_tried == 1 and result.knob_order == ()


def test_gpu_placement_search_finds_the_fastest_fitting_expert_split() -> None:
    from tokbench.tune.inputs import GpuFacts
    from tokbench.tune.predict import predict

    host = HostFacts(
        logical_cores=16,
        physical_cores=8,
        cpu_bandwidth_gb_s=80.0,
        gpus=(GpuFacts("gpu", 48 * 2**30, 900.0),),
    )
    moe = ModelFacts(
        file_bytes=100_000_000_000,
        bytes_per_token=10e9,
        n_layers=40,
        is_moe=True,
        expert_bytes=90_000_000_000,
        expert_bytes_per_token=8e9,
    )
    knobs = search_space(host, moe, only={"threads", "ngl", "cpu_moe"})
    rng = random.Random(5)
    ooms: list[str] = []

    def gpu_box(c: Candidate, reps: int) -> Measurement:
        p = predict(c, host, moe)
        if not p.fits:
            ooms.append(c.key)
            raise RuntimeError("CUDA error: out of memory")
        # the real box reaches 45 % of the bound, with 1 % noise
        return Measurement(
            tuple(0.45 * p.decode_tps * math.exp(rng.gauss(0, 0.01)) for _ in range(reps))
        )

    result = search(knobs, gpu_box, host=host, model=moe)
    # llama.cpp's -ngl all with every expert on the GPU does not fit (100 GB on 48 GiB):
    # like llama.cpp's --fit, the start keeps the experts of 30 of 40 layers on the CPU
    assert result.start["ngl"] == "all" and result.start["cpu_moe"] == "30"
    assert result.best == Candidate({"threads": "8", "ngl": "all", "cpu_moe": "30"})
    assert ooms and all(t.failure for t in result.trials if t.key in ooms)
    assert result.candidates_tried < result.grid_size


def test_resume_state_rebuilds_done_and_failed_from_stored_rows() -> None:
    rows = [("threads=1", 3.0, None), ("threads=2", None, "crashed"), ("threads=1", 3.2, None),
            ("threads=4", 0.0, None)]  # fmt: skip
    done, failed = resume_state(rows)
    assert done == {"threads=1": [3.0, 3.2]}
    assert failed == {"threads=2": "crashed"}
