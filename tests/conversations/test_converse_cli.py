"""`tokbench converse` as a user runs it, against the loopback fake server: the per-turn
table, show/history/export of the stored turns, resume, capacity, one sentence for bad input."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.conftest import tokbench
from tests.testing.fakeserver import FakeConfig, FakeServer
from tokbench.store.database import Store

SMALL = ("--backend", "openai", "-n", "2", "-t", "3", "--system-tokens", "8",
         "--user-tokens", "4", "--max-tokens", "4", "--no-progress")  # fmt: skip


def test_turns_are_stored_and_shown_everywhere(tmp_path: Path) -> None:
    db = str(tmp_path / "runs.db")
    with FakeServer(FakeConfig(n_tokens=4, ttft_s=0.02, itl_s=0.005)) as srv:
        r = tokbench("converse", "--url", srv.url, *SMALL, "--slo", "ttft_p90=2s", "--db", db)
        assert r.returncode == 0, r.stderr
        # each turn resends the history: 3 turns, growing prompts
        sent = [len(req["messages"]) for req in srv.requests if "messages" in req]
    assert sorted(sent) == [2, 2, 4, 4, 6, 6]  # system + history + the question
    assert "turn" in r.stdout and "not reported" in r.stdout  # no cache counters: said so
    assert "goodput:" in r.stdout and "ttft p90 ≤ 2 s" in r.stdout
    (run,) = Store(db).runs()
    assert run.kind == "converse" and run.status == "done"
    shown = json.loads(tokbench("show", run.id, "--json", "--db", db).stdout)
    assert [t["requests"] for t in shown["turns"]] == [2, 2, 2]
    assert shown["hit_rate"] is None and shown["cache_source"] == "not reported"
    assert "converse" in tokbench("history", "--db", db).stdout
    exported = tokbench("export", run.id, "--format", "csv", "--db", db)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.count("c001.t0") == 3
    html = tmp_path / "report.html"
    assert tokbench("report", run.id, "-o", str(html), "--db", db).returncode == 0
    chart = html.read_text("utf-8").split(f'id="chart-turns-{run.id}"')[1].split("</div>")[0]
    assert "TTFT by turn, cache on" in chart and chart.count("<circle") == 3  # one per turn


def test_resume_asks_only_the_turns_not_yet_stored(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    with FakeServer(FakeConfig(n_tokens=4)) as srv:
        r = tokbench("converse", "--url", srv.url, *SMALL, "--db", str(db))
        assert r.returncode == 0, r.stderr
        store = Store(db)
        (run,) = store.runs()
        kept = [x for x in store.requests(run.id) if x.item_id != "c001.t02"]
        with sqlite3.connect(db) as raw:  # a run cut off before its last turn
            raw.execute("DELETE FROM requests WHERE item_id = 'c001.t02'")
        before = len(srv.requests)
        r = tokbench("converse", "--resume", run.id, "--no-progress", "--db", str(db))
        assert r.returncode == 0, r.stderr
        asked = srv.requests[before:]
    chats = [q for q in asked if "messages" in q]
    assert len(chats) == 1 and len(chats[0]["messages"]) == 6  # the history was rebuilt
    assert len(Store(db).requests(run.id)) == len(kept) + 1


def test_bad_input_gets_one_sentence(tmp_path: Path) -> None:
    db = str(tmp_path / "runs.db")
    for args, says in (
        (("--slo", "ttft=3s"), "--slo: cannot read 'ttft=3s'"),
        (("--arrival", "poisson"), "needs --rate"),
        (("--source", str(tmp_path / "none.jsonl")), "cannot read conversations"),
        (("--capacity", "4"), "--capacity needs objectives"),
        (("-c", "2"), "needs a server"),
        (("--capacity", "4", "--capacity-over", "rate", "--slo", "ttft_p50=1s"), "needs a server"),
        (("--lost-cache-cost", "4q"), "'4q' is not a history length"),
        (("--lost-cache-cost", "4k", "--lost-cache-reps", "0"), "must be at least 1"),
    ):
        r = tokbench("converse", *args, "--db", db, "--no-progress")
        assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
        assert says in r.stderr and r.stderr.strip().count("\n") == 0, r.stderr


def test_capacity_command_prints_its_sentence(tmp_path: Path) -> None:
    paced = FakeConfig(ttft_s=0.25, itl_s=0.01, n_tokens=3, slots=1)
    with FakeServer(paced) as srv:
        r = tokbench("converse", "--url", srv.url, *SMALL, "--slo", "ttft_p90=400ms",
                     "--capacity", "4", "--level-requests", "40", "--json",
                     "--db", str(tmp_path / "runs.db"))  # fmt: skip
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["outcome"] == "found" and doc["capacity"] == 1, doc
    assert doc["sentence"].startswith("this box serves 1 conversation at once")
    assert [lv["verdict"] for lv in doc["levels"]] == ["meets", "fails"]


def test_compare_and_export_conversation_runs(tmp_path: Path) -> None:
    db = str(tmp_path / "runs.db")
    with FakeServer(FakeConfig(n_tokens=4, ttft_s=0.01, itl_s=0.002)) as srv:
        for extra in ((), ("--no-cache",)):
            r = tokbench("converse", "--url", srv.url, *SMALL, "--db", db, *extra)
            assert r.returncode == 0, r.stderr
        cost = tokbench("converse", "--url", srv.url, "--backend", "openai", "--db", db,
                        "--lost-cache-cost", "64", "--lost-cache-reps", "2", "--max-tokens",
                        "2", "--no-progress", "--json")  # fmt: skip
        assert cost.returncode == 0, cost.stderr
    (point,) = json.loads(cost.stdout)["lost_cache_cost"]
    # this server reports no cache counters: no cached count is made up, TTFT still paired
    assert point["warm_cached_tokens"] is None and point["prefill_cost_ms"] is None
    assert point["ttft_cost_ms"]["n"] == 2 and "of time to first token" in point["sentence"]
    on, off, lc = (run.id for run in sorted(Store(db).runs(), key=lambda r: r.created_at))
    table = tokbench("compare", on, off, "--db", db)
    assert table.returncode == 0, table.stderr
    assert "#1 TTFT ms (cache on)" in table.stdout and "#2 TTFT ms (cache off)" in table.stdout
    md = tokbench("compare", on, off, lc, "--format", "md", "--db", db).stdout
    assert md.count("\n| ") == 3 and "losing the cache at 64 of history" in md  # 3 turns
    rows = tokbench("compare", on, off, "--format", "csv", "--db", db).stdout.splitlines()
    assert rows[0].startswith("run_id,prompt_cache,turn,requests") and len(rows) == 1 + 2 * 3
    doc = json.loads(tokbench("compare", on, off, "--json", "--db", db).stdout)
    assert [d["run_id"] for d in doc] == [on, off]
    # export: every turn with its conversation, turn and cache reading
    exported = tokbench("export", on, "--format", "jsonl", "--db", db)
    assert exported.returncode == 0, exported.stderr
    lines = [json.loads(x) for x in exported.stdout.splitlines()]
    assert sorted((x["conversation"], x["turn"]) for x in lines) == [
        (c, t) for c in (1, 2) for t in (1, 2, 3)
    ]
    assert {x["cache_source"] for x in lines} == {"not reported"}
    assert all(x["cache_lost"] == "" for x in lines)
