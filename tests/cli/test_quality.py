"""Paired comparison against a reference and answers side by side, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import tokbench
from tokbench.core.records import Grade, RequestRecord, RunInfo
from tokbench.store.database import Store


def store_run(db: Path, run_id: str, model: str, verdicts: list[str]) -> None:
    s = Store(db)
    s.create_run(
        RunInfo(
            id=run_id,
            created_at=f"2026-01-0{run_id[-1]}T00:00:00",
            status="done",
            kind="run",
            tokbench_version="0",
            backend="openai",
            url=None,
            model=model,
            suite="seed5",
            host_name="h",
        )
    )
    for i, v in enumerate(verdicts):
        value = "Thursday" if v == "pass" else "Wednesday"
        s.add_request(
            RequestRecord(
                run_id,
                "weekday",
                i,
                "t",
                "ok",
                None,
                "今天星期几?",
                f"今天是{'星期四' if v == 'pass' else '星期三'}。",
                "",
                None,
                Grade(v, value, "r", "seed5.weekday"),
            )
        )
    s.close()


def test_compare_with_reference_counts_flips_and_mcnemar(tb_home: Path) -> None:
    db = tb_home / "results.db"
    ref = ["pass"] * 9 + ["fail"]
    cand = ["fail"] * 6 + ["pass"] * 3 + ["pass"]  # 6 right->wrong, 1 wrong->right
    store_run(db, "20260101-000000-aaaaa1", "full-precision", ref)
    store_run(db, "20260101-000000-aaaaa2", "q2-quant", cand)
    r = tokbench(
        "compare", "20260101-000000-aaaaa2", "--ref", "20260101-000000-aaaaa1", "--format", "json"
    )
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["pairs"] == 10 and d["reference_pass_rate"] == 0.9
    assert d["candidate_pass_rate"] == 0.4 and d["difference"] == pytest.approx(-0.5)
    assert len(d["right_to_wrong"]) == 6 and d["wrong_to_right"] == ["weekday#10"]
    assert d["mcnemar_p"] == pytest.approx(2 * 8 / 128)  # b=6, c=1: 2*P(X<=1), n=7
    assert d["difference_ci"][0] < -0.5 < d["difference_ci"][1]
    assert d["answer_agreement"] == pytest.approx(0.3)
    md = tokbench(
        "compare", "20260101-000000-aaaaa2", "--ref", "20260101-000000-aaaaa1", "--format", "md"
    )
    assert "Exact McNemar test: p = 0.125 (not significant at 5%)" in md.stdout
    assert "takes about 14 independent items per run; this comparison has 10" in md.stdout
    assert d["items_needed"] == 14
    bad = tokbench("compare", "20260101-000000-aaaaa2", "20260101-000000-aaaaa1", "--ref", "x")
    assert bad.returncode == 2 and "exactly one candidate" in bad.stderr


def test_answers_side_by_side(tb_home: Path) -> None:
    db = tb_home / "results.db"
    store_run(db, "20260101-000000-bbbbb1", "model-a", ["pass"])
    store_run(db, "20260101-000000-bbbbb2", "model-b", ["fail"])
    r = tokbench(
        "answers",
        "20260101-000000-bbbbb1",
        "20260101-000000-bbbbb2",
        "--item",
        "weekday",
        "--format",
        "md",
    )
    assert r.returncode == 0, r.stderr
    assert "### model-a (openai, 20260101-000000-bbbbb1), rep 1: pass (Thursday)" in r.stdout
    assert "今天是星期三" in r.stdout
    t = tokbench("answers", "20260101-000000-bbbbb1", "20260101-000000-bbbbb2", "--item", "weekday")
    assert t.returncode == 0 and "model-b" in t.stdout and "fail (Wednesday)" in t.stdout
    none = tokbench("answers", "20260101-000000-bbbbb1", "--item", "essay")
    assert none.returncode == 2 and "no answers to item 'essay'" in none.stderr
