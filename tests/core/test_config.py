"""A run's settings are stored whole and read back whole, in the flat shape runs have always
been stored in."""

from __future__ import annotations

from dataclasses import replace

from tokbench.core.config import Connection, EngineSettings, RunConfig, Sampling
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
