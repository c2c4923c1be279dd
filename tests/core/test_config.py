"""A run's settings are stored whole and read back whole, in the flat shape runs have always
been stored in."""

from __future__ import annotations

import json
from dataclasses import replace

from tokbench.core.config import (
    BENCH_TIMEOUT_S,
    BenchConfig,
    Connection,
    ConverseConfig,
    EnergySettings,
    EngineSettings,
    RunConfig,
    Sampling,
)
from tokbench.core.records import RunSettings


def test_run_settings_round_trip_whole() -> None:
    config = RunConfig(
        suite="x.toml",
        connection=Connection(url="http://u:secret@h:1/v1", kind="vllm", model="m", think=False,
                              idle_timeout_s=2.0),
        engine=EngineSettings(threads=3, n_ctx=1024),
        sampling=Sampling(temperature=0.5, top_k=40, seed=7),
        repeat=3, max_tokens=64, extra_body={"a": 1}, allow_judge=("http://j",),
    )  # fmt: skip
    stored = RunSettings(config).to_json()
    flat = stored["run_config"]
    assert flat["backend"] == "vllm" and flat["seed"] == 7 and flat["threads"] == 3
    assert flat["url"] == "http://u:***@h:1/v1"  # the secret never reaches the store
    assert RunConfig.from_json(config.to_json()) == config
    back = RunSettings.from_json(stored).run
    assert back == replace(config, connection=replace(config.connection, url=flat["url"]))
    assert back.overrides()["temperature"] == 0.5


def test_a_config_stored_by_an_old_version_loads() -> None:
    old = {"suite": "seed5-en", "url": "http://127.0.0.1:9/v1", "backend": None,
           "model": None, "n_ctx": 4096, "repeat": 2, "timeout_s": 30.0, "temperature": 0.0,
           "top_k": 1, "think": None, "gone_option": 5}  # fmt: skip
    config = RunConfig.from_json(old)
    assert config.connection == Connection(url="http://127.0.0.1:9/v1", timeout_s=30.0)
    assert config.engine == EngineSettings()
    assert config.sampling == Sampling(temperature=0.0, top_k=1)
    assert (config.suite, config.repeat, config.allow_judge) == ("seed5-en", 2, ())


# the keys (and order) runs and benches have always been stored with
OLD_RUN_KEYS = ["suite", "repeat", "max_tokens", "gguf", "extra_body", "allow_code", "allow_judge",
                "url", "backend", "model", "model_path", "api_key_env", "threads", "n_ctx",
                "chat_format", "timeout_s", "keep_alive", "think", "prompt_cache",
                "idle_timeout_s", "max_response_mb", "temperature", "top_p", "top_k",
                "seed"]  # fmt: skip
OLD_BENCH_KEYS = ["url", "backend", "models", "api_key_env", "threads", "n_prompt", "n_gen",
                  "depths", "reps", "warmup", "until_ci_pct", "max_reps", "max_time_s",
                  "concurrency", "soak_s", "soak_n", "prefix_cache", "timeout_s",
                  "idle_timeout_s", "max_response_mb"]  # fmt: skip


def test_settings_without_knobs_are_stored_as_they_always_were() -> None:
    assert list(RunConfig().to_json()) == OLD_RUN_KEYS
    assert list(BenchConfig().to_json()) == OLD_BENCH_KEYS
    assert BenchConfig().connection.timeout_s == BENCH_TIMEOUT_S


def test_engine_knobs_are_stored_and_read_back_whole() -> None:
    engine = EngineSettings(threads=2, n_ctx=1024, chat_format="chatml", flash_attn=False,
                            cache_type_k="f32", cache_type_v="bf16", batch=256, ubatch=64,
                            mmap="mlock", numa="distribute", gpu_layers=-1)  # fmt: skip
    config = RunConfig(engine=engine, energy=EnergySettings(watts=30.0))
    flat = RunSettings(config).to_json()["run_config"]
    assert list(flat)[: len(OLD_RUN_KEYS)] == OLD_RUN_KEYS  # the knobs come after
    assert "watts" not in json.dumps(flat)  # energy flags are not stored (--power-cmd)
    back = RunSettings.from_json(json.loads(json.dumps(RunSettings(config).to_json()))).run
    assert back == replace(config, energy=None)
    # a bench sizes the context per test and asks no chat: neither is stored
    bench_engine = replace(engine, n_ctx=EngineSettings().n_ctx, chat_format=None)
    bench = BenchConfig(Connection(url="http://h:1"), bench_engine, models=("a",), n_gen=(8, 16))
    assert BenchConfig.from_dict(json.loads(json.dumps(bench.to_json()))) == bench
    assert engine.note() == (
        "-fa off -ctk f32 -ctv bf16 -b 256 -ub 64 --mmap mlock --numa distribute -ngl all"
    )


def test_a_bench_stored_by_an_old_version_loads() -> None:
    old = {"url": "http://127.0.0.1:9", "backend": "vllm", "models": ["m"], "threads": 4,
           "n_gen": [8], "reps": 2, "prefix_cache": True, "idle_timeout_s": 5.0,
           "gone_option": 1}  # fmt: skip
    cfg = BenchConfig.from_dict(old)
    assert cfg.connection == Connection(
        url="http://127.0.0.1:9", kind="vllm", timeout_s=BENCH_TIMEOUT_S, idle_timeout_s=5.0
    )
    assert cfg.engine == EngineSettings(threads=4)
    assert (cfg.models, cfg.n_gen, cfg.reps, cfg.prefix_cache) == (("m",), (8,), 2, True)


OLD_CONVERSE_KEYS = ["url", "backend", "model", "api_key_env", "timeout_s", "source",
                     "conversations", "turns", "system_tokens", "shared_prefix_tokens",
                     "user_tokens", "max_tokens", "concurrency", "think_time_s", "arrival",
                     "rate", "prompt_cache", "seed", "temperature", "slo"]  # fmt: skip


def test_a_conversation_config_is_stored_as_before_and_old_ones_load() -> None:
    cfg = ConverseConfig(Connection(url="http://h:1", kind="vllm", prompt_cache=False), turns=6)
    # the old keys in their old order; keys added since come after them
    assert list(cfg.to_json()) == [*OLD_CONVERSE_KEYS, "lost_cache_cost", "lost_cache_reps",
                                   "model_path"]  # fmt: skip
    assert ConverseConfig.from_dict(json.loads(json.dumps(cfg.to_json()))) == cfg
    old = {"url": "http://h:1", "backend": None, "turns": 3, "gone": 1}
    back = ConverseConfig.from_dict(old)
    assert back.connection == Connection(url="http://h:1", prompt_cache=True)
    assert (back.turns, back.engine.n_ctx) == (3, 8192)  # room for a conversation's history
