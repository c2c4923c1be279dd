"""`tokbench quant` end to end, as a user runs it: the bundled Gemma against itself and a
Q2_K requant, stored and shown by history, show, compare, export and report; a saved
reference reused without running the reference again; bad input stopped with one sentence
and nothing stored; the refusal over HTTP."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import tokbench
from tests.testing.fakeserver import FakeServer
from tokbench.core.records import BenchSample, HostInfo, RunInfo, Target
from tokbench.gguf.synth import shape_for, write_f16
from tokbench.paths import default_db
from tokbench.quant.text import load_text
from tokbench.store.database import Store

COMMON = ["--ctx", "128", "--chunks", "2", "--threads", "2", "--no-speed"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A cache of its own: references built here are not found from another test."""
    return {"TOKBENCH_CACHE": str(tmp_path / "cache")}


def _ok(*args: str, env: dict[str, str]) -> str:
    r = tokbench(*args, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def _json(*args: str, env: dict[str, str]) -> Any:
    return json.loads(_ok(*args, "--json", env=env))


def _fail(*args: str, env: dict[str, str]) -> str:
    """One `Error: ...` line on stderr, no traceback, non-zero exit."""
    r = tokbench(*args, env=env)
    assert r.returncode != 0, r.stdout[-2000:]
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    return lines[0]


def _measured_bench(path: Path, tps: float) -> str:
    """A stored bench of `path` (as `tokbench bench --model-path` names it), to be found."""
    store = Store(default_db())
    run = RunInfo(id="20260101-000000-test-bench01", created_at="2026-01-01T00:00:00+00:00",
                  status="done", kind="bench", tokbench_version="test", backend="embedded",
                  url=None, model=path.stem, suite=None, host_name="h",
                  targets={path.stem: Target(backend_kind="embedded")}, host=HostInfo())
    samples = [BenchSample(run.id, path.stem, "tg32", 1, rep, 0, run.created_at, float(rep), "ok",
                           None, tps + rep - 1, None, 32, None, 1.0) for rep in range(3)]
    store.add_run(run, samples=samples)
    store.close()
    return run.id


def test_gemma_against_itself_and_q2k(
    gemma_path: Path, gemma_q2k: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    bench_id = _measured_bench(gemma_q2k, 123.0)
    g, q = str(gemma_path), str(gemma_q2k)
    doc = _json("quant", g, g, q, *COMMON, env=env)
    created, finished = doc["created_at"], doc["finished_at"]
    assert created < finished  # the comparison's own time, not one instant
    ref, itself, q2k = doc["models"]
    assert (ref["role"], itself["role"], q2k["role"]) == ("reference", "candidate", "candidate")
    assert doc["reference"]["source"] == "built" and doc["reference"]["scored_tokens"] == 126
    assert itself["kld_mean"] == 0.0 and itself["kld_max"] == 0.0
    assert itself["same_top"] == 1.0 and itself["perplexity"] == ref["perplexity"]
    assert q2k["kld_mean"] > 0.05 and q2k["same_top"] < 1.0 and q2k["kld_is_topk"]
    assert q2k["kld_upper"] >= q2k["kld_mean"] and q2k["mass"] == 0.999
    for m in doc["models"]:  # the speed columns
        assert m["size_bytes"] == Path(m["model_path"]).stat().st_size
        assert 0.5 * m["size_bytes"] < m["bytes_per_token"] <= m["size_bytes"]
        assert "bound_tps" in m
    assert q2k["decode_tps"] == pytest.approx(123.0) and q2k["decode_run"] == bench_id
    assert itself["decode_tps"] is None
    run_id = doc["run_id"]

    shown = _json("show", run_id, env=env)
    assert [m.get("kld_mean") for m in shown["models"]] == [
        m.get("kld_mean") for m in doc["models"]
    ]
    assert shown["settings"]["n_ctx"] == 128 and shown["settings"]["reference_source"] == "built"
    assert "gemma-q2_k.gguf" in _ok("show", run_id, env=env)
    runs = _json("history", env=env)
    assert runs[0]["id"] == run_id and runs[0]["kind"] == "quant"
    stored = Store(default_db()).run(run_id)  # its real finish time, after the scoring
    assert stored.finished_at is not None and stored.finished_at > stored.created_at

    rows = list(csv.DictReader(io.StringIO(_ok("export", "--quant", run_id, env=env))))
    assert [Path(r["model_path"]).name for r in rows] == [gemma_path.name, gemma_q2k.name]
    assert {"kld_mean", "kld_p99", "same_top", "delta_p_top_mean", "scored_tps"} <= set(rows[0])
    assert float(rows[0]["kld_mean"]) == 0.0 and float(rows[1]["kld_mean"]) > 0.05

    compared = _ok("compare", run_id, run_id, "--format", "md", env=env)
    assert compared.count("gemma-q2_k.gguf") == 2

    html = tmp_path / "r.html"
    _ok("report", run_id, bench_id, "-o", str(html), env=env)
    page = html.read_text()
    assert f'id="chart-quant-{run_id}"' in page and "KL divergence against decode speed" in page
    assert 'class="point front"' in page  # the Pareto front is marked


def test_speed_is_measured_by_the_comparison(
    gemma_path: Path, gemma_q2k: Path, env: dict[str, str]
) -> None:
    """--speed (the default): each GGUF's decode tok/s, stored with the run, so the table
    and chart need no `tokbench bench`; the table says the KLD is ≈ with its bound."""
    g, q = str(gemma_path), str(gemma_q2k)
    common = [c for c in COMMON if c != "--no-speed"]
    doc = _json("quant", g, q, *common, env=env)
    ref, q2k = doc["models"]
    run_id = doc["run_id"]
    for m in (ref, q2k):
        assert m["decode_tps"] > 0.0 and m["decode_run"] == run_id
    shown = _json("show", run_id, env=env)["models"]
    assert [m["decode_tps"] for m in shown] == [ref["decode_tps"], q2k["decode_tps"]]
    table = _ok("show", run_id, env=env)
    assert f"≈{q2k['kld_mean']:.4f}" in table and f"(≤ {q2k['kld_upper']:.4f})" in table


def test_save_reference_path_is_checked_before_work(
    gemma_path: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    g = str(gemma_path)
    msg = _fail("quant", g, "--save-reference", str(tmp_path / "no" / "r.npz"), *COMMON,
                env=env)
    assert "does not exist" in msg
    assert not (tmp_path / "cache" / "quant-references").exists()  # nothing was built


def test_hostile_text_files_get_one_sentence(gemma_path: Path, env: dict[str, str]) -> None:
    g = str(gemma_path)
    assert "not a regular file" in _fail("quant", g, g, "--text", "/dev/zero", *COMMON,
                                         env=env)


def test_saved_reference_is_reused_not_rebuilt(
    gemma_path: Path, gemma_q2k: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    g, q = str(gemma_path), str(gemma_q2k)
    saved = tmp_path / "gemma.ref.npz"
    _ok("quant", g, "--save-reference", str(saved), *COMMON, env=env)
    assert saved.is_file() and _json("history", env=env) == []  # no candidate: no run
    stamp = saved.stat().st_mtime_ns
    cache = tmp_path / "cache" / "quant-references"
    built = sorted(cache.glob("*.npz"))
    assert len(built) == 1

    doc = _json("quant", g, q, "--reference", str(saved), *COMMON, env=env)
    assert doc["reference"]["source"] == "file" and doc["reference"]["build_s"] is None
    assert doc["models"][1]["kld_mean"] > 0.05
    # the reference file alone, first: the reference GGUF is not needed
    doc2 = _json("quant", str(saved), g, *COMMON, env=env)
    assert doc2["reference"]["source"] == "file" and doc2["models"][0]["kld_mean"] == 0.0
    # the same reference GGUF again: from the cache
    assert _json("quant", g, g, *COMMON, env=env)["reference"]["source"] == "cache"
    assert saved.stat().st_mtime_ns == stamp and sorted(cache.glob("*.npz")) == built

    msg = _fail("quant", q, g, "--reference", str(saved), *COMMON, env=env)
    assert f"was built from {gemma_path.name}" in msg and gemma_q2k.name in msg


def test_bad_input_says_one_sentence_and_stores_nothing(
    gemma_path: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    g = str(gemma_path)
    tiny = tmp_path / "tiny-f16.gguf"
    write_f16(tiny, shape_for(2e6, quant="F16"))
    short = tmp_path / "short.txt"
    short.write_text("Too short for a window.")
    other = tmp_path / "other.txt"
    other.write_text(load_text().text[5000:])
    saved = tmp_path / "g.npz"
    _ok("quant", g, "--save-reference", str(saved), "--ctx", "128", "--chunks", "1",
        "--threads", "2", env=env)

    assert "vocabulary" in _fail("quant", g, g, str(tiny), *COMMON, env=env)
    assert "fewer than one window" in _fail("quant", g, g, "--text", str(short), *COMMON,
                                            env=env)
    assert "another text" in _fail("quant", str(saved), g, "--text", str(other), "--ctx", "128",
                                   env=env)
    assert "--ctx 128, this run uses --ctx 256" in _fail("quant", str(saved), g, "--ctx", "256",
                                                         env=env)
    assert "holds 1 windows" in _fail("quant", str(saved), g, *COMMON, env=env)
    assert "not found" in _fail("quant", g, str(tmp_path / "missing.gguf"), env=env)
    assert "at least one candidate" in _fail("quant", g, env=env)
    assert _json("history", env=env) == []


def test_servers_without_prompt_logprobs_are_refused(env: dict[str, str]) -> None:
    with FakeServer() as srv:
        msg = _fail("quant", "--url", srv.url, env=env)
    assert "cannot provide prompt-token log-probabilities" in msg
    assert _json("history", env=env) == []
