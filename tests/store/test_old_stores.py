"""A store written by tokbench 0.1.0 (before the package was regrouped and rows were mapped
by column name) opens, migrates and reads back exactly as that version showed it.

The fixtures were written by 0.1.0 itself: a suite run against the fake server, a bench
and an embedded run in `store-0.1.0.sqlite`, and that version's `show --json` and
`export` output of them."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import tokbench
from tokbench.core.records import BenchSettings, RunSettings
from tokbench.store.database import Store
from tokbench.store.migrations import MIGRATIONS

FIXTURES = Path(__file__).parent / "fixtures"
# options added since, at their defaults: a run and a bench stored by 0.1.0 lack them
NEW_RUN_OPTIONS = {
    "allow_code": False,
    "allow_judge": [],
    "idle_timeout_s": None,
    "max_response_mb": 64.0,
}
NEW_BENCH_OPTIONS = {"idle_timeout_s": None, "max_response_mb": 64.0}
# request metrics added since (speculative decoding): unknown for an old request
NEW_METRICS = ("draft_tokens", "draft_accepted_tokens")
RUNS = ("20261202-080404-5bce-cd3991", "20261202-080405-5bce-4bd0f4", "20261202-080413-5bce-60e669")


@pytest.fixture
def old_db(tmp_path: Path) -> Path:
    db = tmp_path / "old.sqlite"
    shutil.copy(FIXTURES / "store-0.1.0.sqlite", db)
    return db


def test_old_store_opens_and_migrates(old_db: Path) -> None:
    store = Store(old_db)
    assert store.schema_version() == [n for n, _ in MIGRATIONS]
    runs = {r.id: r for r in store.runs()}
    assert set(runs) == set(RUNS)
    suite, bench, embedded = (runs[r] for r in RUNS)
    assert isinstance(suite.config, RunSettings) and suite.config.run.suite == "seed5-en"
    assert len(suite.config.items) == 5 and suite.target.backend_kind == "openai"
    assert isinstance(bench.config, BenchSettings) and bench.config.bench.n_prompt == (16,)
    assert bench.targets["fake-model"].backend_kind == "openai"  # stored as "kind" then
    assert embedded.target.gguf_path and embedded.target.gguf_bytes
    assert embedded.threads == 1 and embedded.host.cpu_model
    assert len(store.requests(suite.id)) == 5 and len(store.bench_samples(bench.id)) > 0


@pytest.mark.parametrize("run_id", RUNS)
def test_show_json_is_what_the_old_version_printed(old_db: Path, run_id: str) -> None:
    r = tokbench("show", run_id, "--json", "--db", str(old_db))
    assert r.returncode == 0, r.stderr
    old = json.loads((FIXTURES / f"show-{run_id}.json").read_text())
    if old["run"]["kind"] == "bench":
        # the one change: a bench's targets now have the runs' shape ("backend_kind")
        for target in old["run"]["target"].values():
            target["backend_kind"] = target.pop("kind")
    new = json.loads(r.stdout)
    # added since (m011): the model's identity, none derivable here, and its old name
    assert new["run"].pop("model_id") is None
    assert new["run"].pop("model_name") == old["run"]["model"]
    for test, was in zip(new.get("tests", []), old.get("tests", []), strict=True):
        # added since: the bound and the share of it reached
        assert test.pop("bound_tps") is None and test.pop("efficiency") is None
        # changed since: rates' intervals are taken on the log scale (never below zero)
        for key in ("ci_low", "ci_high", "notes"):
            test.pop(key), was.pop(key)
    for request in new.get("requests", []):
        for name in NEW_METRICS:
            assert request["metrics"].pop(name) is None
    config = new["run"]["config"]
    for key, added in (("run_config", NEW_RUN_OPTIONS), ("bench_config", NEW_BENCH_OPTIONS)):
        for name, default in added.items():
            assert config.get(key, {}).pop(name, default) == default
    assert new == old


@pytest.mark.parametrize("bench", [False, True])
def test_export_is_what_the_old_version_wrote(old_db: Path, bench: bool) -> None:
    r = tokbench("export", *(["--bench"] if bench else []), "--db", str(old_db))
    assert r.returncode == 0, r.stderr
    name = "export-bench.csv" if bench else "export.csv"
    got = list(csv.DictReader(io.StringIO(r.stdout)))
    for row in got:
        # added since (m011): the model's identity (none derivable) and its one name
        assert row.pop("model_id") == "" and row.pop("model_name") == row["model"]
        for column in NEW_METRICS if not bench else ():
            assert row.pop(column) == ""  # added since: unknown for an old request
    want = list(csv.DictReader(io.StringIO((FIXTURES / name).read_text())))
    assert got == want
    assert list(got[0]) == list(want[0])  # the columns, in their order


def test_old_runs_list_compare_and_report(old_db: Path, tmp_path: Path) -> None:
    assert tokbench("history", "--db", str(old_db)).returncode == 0
    r = tokbench("compare", *RUNS, "--format", "md", "--db", str(old_db))
    assert r.returncode == 0 and "fake-model" in r.stdout, r.stderr
    out = tmp_path / "r.html"
    r = tokbench("report", *RUNS, "-o", str(out), "--db", str(old_db))
    assert r.returncode == 0 and out.stat().st_size > 0, r.stderr
