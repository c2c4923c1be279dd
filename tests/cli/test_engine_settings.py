"""The embedded engine's settings as flags of `run` and `bench`: `tokbench tune`'s printed
`tokbench run` line runs as printed, every knob reaches llama.cpp and is stored with the run."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from tokbench.cli import cli
from tokbench.core.config import EngineSettings
from tokbench.core.records import RunSettings
from tokbench.paths import default_db
from tokbench.store.database import Store
from tokbench.tune.commands import tokbench_run_advice
from tokbench.tune.space import Candidate

# a winner with every embedded knob away from its default (fa off: an f32 cache needs none)
WINNER = Candidate(
    {"threads": "1", "fa": "off", "kv": "f32", "ubatch": "64", "batch": "256", "mmap": "off"}
)


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), prog_name="tokbench")
    return result.exit_code, result.stdout, result.stderr


def test_tunes_run_line_runs_as_printed_and_every_knob_reaches_llama_cpp(
    gemma_path: Path,
) -> None:
    advice = tokbench_run_advice(WINNER, str(gemma_path), "embedded")
    assert advice.left_out == ()  # nothing the embedded engine takes is left out
    argv = shlex.split(advice.lines[0])
    assert argv[:2] == ["tokbench", "run"]
    code, out, err = _invoke(
        *argv[1:], "--suite", "seed5-en", "--max-tokens", "1", "--json", "--no-progress"
    )
    assert code == 0, err
    doc = json.loads(out)
    run_id = doc["run"]["id"]

    # stored with the run, whole: what a resume reopens the engine with
    run = Store(default_db()).run(run_id)
    assert isinstance(run.config, RunSettings)
    want = EngineSettings(
        threads=1, flash_attn=False, cache_type_k="f32", cache_type_v="f32", batch=256,
        ubatch=64, mmap="off",
    )  # fmt: skip
    assert run.config.run.engine == want

    # what llama.cpp took, read back from its context and model parameters
    target = doc["run"]["target"]
    assert target["flash_attn"] is False
    assert (target["cache_type_k"], target["cache_type_v"]) == ("f32", "f32")
    assert (target["n_batch"], target["n_ubatch"]) == (256, 64)
    assert target["mmap"] == "off"
    assert all(q["status"] == "ok" for q in doc["requests"])

    # `show` says how the engine was set up
    code, out, err = _invoke("show", run_id)
    assert code == 0, err
    assert "1 threads, -fa off -ctk f32 -ctv f32 -b 256 -ub 64 --mmap off" in out


def test_a_run_with_no_knob_is_described_and_stored_as_before(gemma_path: Path) -> None:
    code, out, err = _invoke(
        "run", "--suite", "seed5-en", "--max-tokens", "1", "-t", "1", "--json", "--no-progress"
    )
    assert code == 0, err
    doc = json.loads(out)
    config = doc["run"]["config"]["run_config"]
    assert not {"flash_attn", "cache_type_k", "batch", "ubatch", "mmap"} & set(config)
    assert not {"cache_type_k", "n_batch", "n_ubatch", "mmap"} & set(doc["run"]["target"])
    assert doc["run"]["target"]["flash_attn"] is True  # tokbench's default, as before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("-ctk", "q3_x"), "'q3_x' is not one of"),
        (("--cache-type-v", "f8"), "'f8' is not one of"),
        (("--ubatch-size", "1024"), "--ubatch-size 1024 is above the batch size 512"),
        (("-b", "256", "-ub", "512"), "--ubatch-size 512 is above the batch size 256"),
        (("-fa", "off", "-ctv", "q8_0"), "a q8_0 V cache needs flash attention"),
        (("--mmap", "maybe"), "'maybe' is not one of"),
        (("-ngl", "some"), "'some': a number of layers or 'all'"),
        (("--flash-attn", "auto"), "'auto' is not one of"),
    ],
)
@pytest.mark.parametrize("command", ["run", "bench"])
def test_bad_engine_settings_are_one_sentence(
    command: str, args: tuple[str, ...], message: str
) -> None:
    code, out, err = _invoke(command, *args, "--no-progress")
    assert code != 0 and out == ""
    assert message in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith("Error")]) == 1


def test_bench_takes_the_knobs_and_stores_them(gemma_path: Path) -> None:
    code, out, err = _invoke(
        "bench", "-p", "16", "-n", "4", "-r", "1", "--warmup", "0", "-t", "1",
        "-ctk", "q8_0", "-ctv", "q8_0", "-b", "128", "-ub", "32", "--json", "--no-progress",
    )  # fmt: skip
    assert code == 0, err
    run_id = json.loads(out)["run"]["id"]
    run = Store(default_db()).run(run_id)
    stored = run.config.to_json()["bench_config"]
    assert (stored["cache_type_k"], stored["cache_type_v"]) == ("q8_0", "q8_0")
    assert (stored["batch"], stored["ubatch"], stored["threads"]) == (128, 32, 1)
    target = run.target
    assert (target.details["cache_type_k"], target.details["n_ubatch"]) == ("q8_0", 32)
