"""What a tune reports: ranking, commands, thread scaling and each knob's effect."""

from __future__ import annotations

import shlex

import pytest

from tokbench.tune.commands import ollama_advice, tokbench_run_advice
from tokbench.tune.report import build_report, knob_effects, ranking, thread_scaling
from tokbench.tune.search import SearchConfig, search
from tokbench.tune.space import Candidate

from .test_search import HOST, KNOBS, MODEL, OPTIMUM, Box, true_tps


@pytest.fixture(scope="module")
def result():  # type: ignore[no-untyped-def]
    def fail(c: Candidate) -> str | None:
        return "cannot allocate memory" if c["mmap"] == "mlock" else None

    return search(KNOBS, Box(fail=fail), host=HOST, model=MODEL)


def test_ranking_is_fastest_first_with_speedups_over_the_start(result) -> None:  # type: ignore[no-untyped-def]
    rows = ranking(result)
    ok = [r for r in rows if r.rank is not None]
    assert [r.rank for r in ok] == list(range(1, len(ok) + 1))
    assert [r.mean_tps for r in ok] == sorted((r.mean_tps for r in ok), reverse=True)
    top = ok[0]
    assert top.key == OPTIMUM.key and top.is_best
    start = next(r for r in rows if r.is_start)
    assert start.speedup == pytest.approx(1.0)
    assert top.speedup == pytest.approx(true_tps(OPTIMUM) / true_tps(result.start))
    failed = rows[-1]
    assert failed.rank is None and failed.failure == "cannot allocate memory"
    assert top.ci_low_tps == top.ci_high_tps == top.mean_tps  # noise-free samples


def test_thread_scaling_finds_where_speed_flattens(result) -> None:  # type: ignore[no-untyped-def]
    ts = thread_scaling(result, bytes_per_token=4e9, measured_bandwidth_gb_s=60.0)
    assert ts is not None
    assert [p.threads for p in ts.points] == [1, 2, 4, 8, 16]
    # the sweep ran from llama.cpp's defaults, where fa=auto gives 5 %
    assert ts.held == "fa=auto,kv=f16,ubatch=512,batch=2048,mmap=on"
    held = Candidate.from_key(ts.held)
    for p in ts.points:
        assert p.mean_tps == pytest.approx(true_tps(held.with_value("threads", str(p.threads))))
    assert ts.flat_threads == 8  # 16 threads is slower, 4 is 23 % below
    assert ts.flat_bandwidth_gb_s == pytest.approx(13.0 * 1.05 * 4.0)
    assert ts.bandwidth_share == pytest.approx(13.0 * 1.05 * 4.0 / 60.0)
    lenient = thread_scaling(result, bytes_per_token=4e9, flat_within=0.25)
    assert lenient is not None and lenient.flat_threads == 4
    assert lenient.bandwidth_share is None


def test_knob_effects_rank_what_mattered(result) -> None:  # type: ignore[no-untyped-def]
    effects = {e.knob: e for e in knob_effects(result)}
    assert effects["threads"].change == pytest.approx(13.0 / 3.0 - 1)
    assert effects["fa"].change == pytest.approx(0.12)
    assert (effects["fa"].fastest_value, effects["fa"].slowest_value) == ("on", "off")
    assert effects["batch"].change == pytest.approx(0.0)
    order = [e.knob for e in knob_effects(result)]
    assert order[0] == "threads" and order.index("fa") < order.index("kv")


def test_full_report_carries_commands_and_counts(result) -> None:  # type: ignore[no-untyped-def]
    rep = build_report(
        result, "/m/gemma.gguf", bytes_per_token=4e9, target="server", measured_bandwidth_gb_s=60.0
    )
    assert rep.best == OPTIMUM.key and rep.candidates_tried == 16 and rep.grid_size == 1620
    assert rep.llama_server is not None
    argv = shlex.split(rep.llama_server)
    assert argv[argv.index("-t") + 1] == "8" and argv[argv.index("-ub") + 1] == "256"
    assert rep.tokbench_run is not None and "--url" in rep.tokbench_run.lines[0]
    assert rep.best_speedup == pytest.approx(true_tps(OPTIMUM) / true_tps(result.start))


def test_ollama_lines_use_ollama_names_and_say_what_they_cannot_express() -> None:
    advice = ollama_advice(
        Candidate(
            {
                "threads": "8",
                "ngl": "all",
                "cpu_moe": "12",
                "fa": "on",
                "kv": "q8_0",
                "ubatch": "256",
                "batch": "1024",
                "mmap": "off",
            }
        )
    )
    assert advice.lines == (
        "PARAMETER num_thread 8",
        "PARAMETER num_gpu 999",
        "PARAMETER num_batch 1024",
        "PARAMETER use_mmap false",
        "OLLAMA_FLASH_ATTENTION=1",
        "OLLAMA_KV_CACHE_TYPE=q8_0",
    )
    assert any(x.startswith("cpu_moe=12") for x in advice.left_out)
    assert any(x.startswith("ubatch=256") for x in advice.left_out)
    assert ollama_advice(Candidate({"mmap": "mlock", "kv": "q5_1"})).lines == (
        "PARAMETER use_mlock true",
    )


def test_tokbench_run_advice_for_the_embedded_engine() -> None:
    best = Candidate({"threads": "2", "ngl": "all", "fa": "on", "kv": "q8_0", "mmap": "mlock"})
    advice = tokbench_run_advice(best, "/m/x y.gguf", "embedded")
    assert shlex.split(advice.lines[0]) == [
        "tokbench", "run", "--model-path", "/m/x y.gguf", "--threads", "2",
        "--gpu-layers", "all", "--flash-attn", "on", "--cache-type-k", "q8_0",
        "--cache-type-v", "q8_0", "--mmap", "mlock",
    ]  # fmt: skip
    assert advice.left_out == ()
    # expert placement is llama-server's alone: said, never silently dropped
    moe = tokbench_run_advice(Candidate({"cpu_moe": "4"}), "/m/x.gguf", "embedded")
    assert moe.left_out == (
        "cpu_moe=4: llama-cpp-python cannot place tensors; serve the model with llama-server",
    )
    assert tokbench_run_advice(Candidate({"cpu_moe": "0"}), "/m/x.gguf", "embedded").left_out == ()


def test_no_thread_sweep_no_scaling_section() -> None:
    from tokbench.tune.space import search_space

    only_fa = search(
        search_space(HOST, MODEL, only={"fa"}), Box(), host=HOST, model=MODEL, config=SearchConfig()
    )
    assert thread_scaling(only_fa, bytes_per_token=4e9) is None


def test_report_serialises_to_json_for_storage(result) -> None:  # type: ignore[no-untyped-def]
    import dataclasses
    import json

    rep = build_report(result, "/m/g.gguf", bytes_per_token=4e9, target="embedded")
    data = json.loads(json.dumps(dataclasses.asdict(rep)))
    assert data["best"] == OPTIMUM.key and data["rows"][0]["key"] == OPTIMUM.key
    assert data["threads"]["flat_threads"] == 8
