"""The search space: which knobs a host and model get, --only/--set, candidates and keys."""

from __future__ import annotations

import pytest

from tokbench.errors import TokbenchError
from tokbench.tune.inputs import GpuFacts, HostFacts, ModelFacts
from tokbench.tune.space import (
    Candidate,
    conflict,
    default_candidate,
    grid_size,
    parse_only,
    parse_set,
    search_space,
    thread_values,
)

LAPTOP = HostFacts(logical_cores=2, physical_cores=2)
SERVER = HostFacts(logical_cores=128, physical_cores=64, sockets=2, numa_nodes=2)
GPU = GpuFacts("test-gpu", 24 * 2**30, 1000.0)
DENSE = ModelFacts(file_bytes=4_000_000_000, bytes_per_token=4e9, n_layers=32)
MOE = ModelFacts(
    file_bytes=60_000_000_000,
    bytes_per_token=6e9,
    n_layers=48,
    is_moe=True,
    expert_bytes=55_000_000_000,
    expert_bytes_per_token=4e9,
)


def names(knobs: list) -> list[str]:
    return [k.name for k in knobs]


def test_threads_on_a_big_box_are_powers_of_two_plus_topology_counts() -> None:
    values = [int(v) for v in thread_values(SERVER)]
    assert values == [1, 2, 4, 8, 16, 32, 64, 128]  # 64 physical, 32 per socket, 128 logical
    odd = HostFacts(logical_cores=48, physical_cores=24, sockets=2)
    assert [int(v) for v in thread_values(odd)] == [1, 2, 4, 8, 12, 16, 24, 32, 48]


def test_a_laptop_gets_cpu_knobs_only_and_a_small_thread_sweep() -> None:
    knobs = search_space(LAPTOP, DENSE)
    assert names(knobs) == ["threads", "fa", "kv", "ubatch", "batch", "mmap"]
    threads = knobs[0]
    assert threads.values == ("1", "2") and threads.default == "2"


def test_numa_needs_two_nodes_and_gpu_knobs_need_a_gpu() -> None:
    assert "numa" in names(search_space(SERVER, DENSE))
    gpu_host = HostFacts(logical_cores=16, physical_cores=8, gpus=(GPU,))
    assert names(search_space(gpu_host, MOE))[:3] == ["threads", "ngl", "cpu_moe"]
    # the embedded engine (llama-cpp-python) cannot place tensors: no expert placement
    assert "cpu_moe" not in names(search_space(gpu_host, MOE, target="embedded"))
    assert "cpu_moe" not in names(search_space(gpu_host, DENSE))
    ngl = search_space(gpu_host, MOE)[1]
    assert ngl.values == ("0", "12", "24", "36", "all")


def test_embedded_and_server_defaults_differ_where_the_engines_do() -> None:
    server = default_candidate(search_space(LAPTOP, DENSE))
    embedded = default_candidate(search_space(LAPTOP, DENSE, target="embedded"))
    assert server["fa"] == "auto" and server["batch"] == "2048"
    assert embedded["fa"] == "on" and embedded["batch"] == "512"


def test_only_narrows_and_set_pins() -> None:
    knobs = search_space(LAPTOP, DENSE, only={"threads", "fa"}, fixed={"kv": "q8_0"})
    assert names(knobs) == ["threads", "fa", "kv"]
    kv = knobs[2]
    assert kv.values == ("q8_0",) and not kv.searched
    assert grid_size(knobs) == 2 * 3 * 1
    assert default_candidate(knobs).key == "threads=2,fa=auto,kv=q8_0"


def test_set_accepts_values_outside_the_offered_list_when_valid() -> None:
    knobs = search_space(LAPTOP, DENSE, fixed={"threads": "12", "kv": "q5_1"})
    assert default_candidate(knobs)["threads"] == "12"
    assert default_candidate(knobs)["kv"] == "q5_1"


@pytest.mark.parametrize(
    ("only", "fixed", "message"),
    [
        ({"thread"}, {}, "unknown knob 'thread'; valid knobs: threads, fa, kv, ubatch"),
        (None, {"warp": "9"}, "unknown knob 'warp'"),
        ({"numa"}, {}, "one NUMA node"),
        ({"ngl"}, {}, "needs a GPU"),
        (None, {"threads": "0"}, "at least 1"),
        (None, {"threads": "many"}, "whole number"),
        (None, {"kv": "q3_k"}, "expected one of f16, q8_0"),
        (None, {"mmap": "maybe"}, "expected one of on, off, mlock"),
    ],
)
def test_bad_knobs_and_values_are_one_clear_sentence(
    only: set[str] | None, fixed: dict[str, str], message: str
) -> None:
    with pytest.raises(TokbenchError, match=message.replace("(", r"\(")):
        search_space(LAPTOP, DENSE, only=only, fixed=fixed)


def test_fa_auto_is_server_only() -> None:
    with pytest.raises(TokbenchError, match="llama-server only"):
        search_space(LAPTOP, DENSE, fixed={"fa": "auto"}, target="embedded")


def test_parse_only_and_set() -> None:
    assert parse_only("threads, fa") == {"threads", "fa"}
    assert parse_only("") is None and parse_only(None) is None
    assert parse_set(["threads=8", "fa = on"]) == {"threads": "8", "fa": "on"}
    with pytest.raises(TokbenchError, match="KNOB=VALUE"):
        parse_set(["threads"])
    with pytest.raises(TokbenchError, match="KNOB=VALUE"):
        parse_set(["=3"])


def test_candidate_is_an_immutable_hashable_mapping_with_a_stable_key() -> None:
    a = Candidate({"ubatch": "512", "threads": "2", "fa": "on"})
    b = Candidate([("fa", "on"), ("threads", "2"), ("ubatch", "512")])
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a.key == "threads=2,fa=on,ubatch=512"  # knob order, not insertion order
    assert Candidate.from_key(a.key) == a
    assert dict(a) == {"threads": "2", "fa": "on", "ubatch": "512"}
    assert a.with_value("fa", "off")["fa"] == "off" and a["fa"] == "on"
    assert "threads" not in a.without("threads")
    with pytest.raises(AttributeError):
        a.key = "x"  # type: ignore[misc]
    with pytest.raises(TokbenchError):
        Candidate({"threads": "1,2"})
    with pytest.raises(TokbenchError):
        Candidate.from_key("threads")


def test_conflicts_llama_cpp_would_refuse_or_silently_change() -> None:
    assert conflict({"fa": "off", "kv": "q8_0"}) is not None
    assert conflict({"fa": "auto", "kv": "q8_0"}) is None
    assert conflict({"batch": "512", "ubatch": "1024"}) is not None
    assert conflict({"batch": "2048", "ubatch": "1024"}) is None
    assert conflict({"ngl": "0", "cpu_moe": "12"}) is not None
    assert conflict({"ngl": "all", "cpu_moe": "12"}) is None
