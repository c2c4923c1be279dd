"""`tokbench eval` end to end against a loopback server whose right answers are known: the
accuracy comes out exactly, with its interval; the time box, resume, and the other
commands (history, show, compare --ref) see the run."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

from tests.conftest import tokbench
from tests.evals.keyserver import key_server
from tokbench.evals.data_files import shipped_items
from tokbench.evals.estimate import estimate

ITEMS = shipped_items("gsm8k")


def _eval(url: str, *args: str) -> tuple[int, dict, str]:  # type: ignore[type-arg]
    r = tokbench("eval", "gsm8k", "--url", url, "--json", "--no-progress", *args)
    doc = json.loads(r.stdout) if r.stdout.strip() else {}
    return r.returncode, doc, r.stderr


def test_known_answers_give_exact_accuracy() -> None:
    right = {it.id for k, it in enumerate(ITEMS[:60]) if k % 3 != 0}  # 40 of the first 60
    with key_server(ITEMS, right) as srv:
        rc, doc, err = _eval(srv.url, "--limit", "60")
        assert rc == 0, err
        assert srv.asked == [it.id for it in ITEMS[:60]]  # the subset's own order
    (b,) = doc["benchmarks"]
    want = estimate(40, 60, 1319)
    assert (b["correct"], b["graded"], b["population"]) == (40, 60, 1319)
    assert b["accuracy"] == 40 / 60
    assert (b["ci95_low"], b["ci95_high"]) == (want.low, want.high)
    assert 10 < b["half_width_pts"] < 13
    assert doc["run"]["kind"] == "eval"
    assert doc["stopped_by"] == "all items asked"


def test_shipped_mmlu_multiple_choice_exact() -> None:
    mmlu = shipped_items("mmlu")
    right = {it.id for it in mmlu[:20:2]}  # 10 of the first 20
    with key_server(mmlu, right) as srv:
        r = tokbench("eval", "mmlu", "--url", srv.url, "--limit", "20", "--json", "--no-progress")
        assert r.returncode == 0, r.stderr
    (b,) = json.loads(r.stdout)["benchmarks"]
    assert (b["correct"], b["graded"], b["population"]) == (10, 20, 14042)


def test_time_box_cuts_marks_and_resume_finishes() -> None:
    right = {it.id for it in ITEMS[:12]}
    # ~0.05 s a chunk, ~12 chunks an answer: about 0.6 s an item; a 2 s box asks ~3
    with key_server(ITEMS, right, itl_s=0.05) as srv:
        t0 = time.monotonic()
        rc, doc, err = _eval(srv.url, "--limit", "12", "--max-time", "2s")
        assert rc == 0, err
        assert time.monotonic() - t0 < 15
        run = doc["run"]
        took = (
            datetime.fromisoformat(run["finished_at"]) - datetime.fromisoformat(run["created_at"])
        ).total_seconds()
        assert took <= 2.2  # within 10 % of the box
        (b,) = doc["benchmarks"]
        assert b["cut"] == 1 and 1 <= b["graded"] < 12
        assert b["accuracy"] == 1.0
        assert "time box" in doc["stopped_by"]
        srv.itl_s = 0.0
        r = tokbench("eval", "--resume", run["id"], "--json", "--no-progress")
        assert r.returncode == 0, r.stderr
        doc2 = json.loads(r.stdout)
    (b,) = doc2["benchmarks"]
    assert (b["correct"], b["graded"], b["cut"]) == (12, 12, 0)
    # the cut item was asked again, and no answered item twice
    assert len(srv.asked) == len(set(srv.asked)) + 1


def test_until_ci_stops_early_and_other_commands_see_the_run(tmp_path: Path) -> None:
    right = {it.id for it in ITEMS}  # every answer right: the interval narrows fast
    with key_server(ITEMS, right) as srv:
        rc, doc, err = _eval(srv.url, "--until-ci", "8")
        assert rc == 0, err
        (b,) = doc["benchmarks"]
        assert 10 <= b["graded"] < 100 and b["half_width_pts"] <= 8
        assert "--until-ci" in doc["stopped_by"]
        first, n = doc["run"]["id"], b["graded"]
        srv.right = {it.id for it in ITEMS[4:]}  # a worse quant: its first four answers wrong
        rc, doc2, err = _eval(srv.url, "--limit", str(n))
        assert rc == 0, err
    hist = tokbench("history", "--json")
    assert hist.returncode == 0, hist.stderr
    assert first in hist.stdout
    show = tokbench("show", first)
    assert show.returncode == 0, show.stderr
    assert "Accuracy, estimated for the full set" in show.stdout
    shown = json.loads(tokbench("show", first, "--json").stdout)
    assert shown["eval"][0]["graded"] == n and shown["eval"][0]["accuracy"] == 1.0
    cmp = tokbench("compare", doc2["run"]["id"], "--ref", first, "--json")
    assert cmp.returncode == 0, cmp.stderr
    paired = json.loads(cmp.stdout)
    # item by item: four right-to-wrong flips, exact McNemar p = 2 * 0.5**4
    assert paired["pairs"] == n
    assert len(paired["right_to_wrong"]) == 4 and paired["wrong_to_right"] == []
    assert paired["mcnemar_p"] == 0.125
    html = Path(tmp_path / "r.html")
    rep = tokbench("report", first, doc2["run"]["id"], "-o", str(html))
    assert rep.returncode == 0, rep.stderr
    text = html.read_text("utf-8")
    chart = text[text.index('id="chart-accuracy"') :]
    chart = chart[: chart.index("</svg>")]
    assert chart.count('class="interval"') == 2  # one point per run, each with its interval
    assert "key-model" in chart and "gsm8k" in chart


def test_two_benchmarks_interleaved_one_from_a_path(tmp_path: Path) -> None:
    folder = tmp_path / "cmmlu" / "test"
    folder.mkdir(parents=True)
    for subject in ("agronomy", "astronomy"):
        rows = [
            f"{k},{subject}问题{k}是什么____,甲{k},乙{k},丙{k},丁{k},{'ABCD'[k % 4]}"
            for k in range(6)
        ]
        (folder / f"{subject}.csv").write_text(
            ",Question,A,B,C,D,Answer\n" + "\n".join(rows), "utf-8"
        )
    from tokbench.evals.formats import read_path

    cm = read_path(tmp_path / "cmmlu", "cmmlu")
    with key_server(ITEMS + cm, {c.id for c in cm}) as srv:
        r = tokbench(
            "eval", "gsm8k", "cmmlu", "--data", f"cmmlu={tmp_path / 'cmmlu'}", "--limit", "6",
            "--url", srv.url, "--json", "--no-progress",
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert [a.split("/")[0] for a in srv.asked] == ["gsm8k", "cmmlu"] * 6
    doc = json.loads(r.stdout)
    got = {b["benchmark"]: (b["correct"], b["graded"], b["population"]) for b in doc["benchmarks"]}
    assert got == {"gsm8k": (0, 6, 1319), "cmmlu": (6, 6, 12)}


def test_bad_input_is_one_sentence(tmp_path: Path) -> None:
    for args, says in [
        (("cmmlu",), "give its files with --data cmmlu=PATH"),
        (("gsm8k", "--full"), "--full needs the full gsm8k set"),
        (("nope",), "unknown benchmark 'nope'"),
        (("gsm8k", "--data", "gsm8k"), "give NAME=PATH"),
        (("gsm8k", "--max-time", "soon"), "positive duration"),
        (("mmlu", "--data", f"mmlu={tmp_path / 'missing'}"), "no such file or folder"),
    ]:
        r = tokbench("eval", *args, "--url", "http://127.0.0.1:9/v1", "--no-progress")
        assert r.returncode != 0
        assert says in r.stderr and "Traceback" not in r.stderr, r.stderr
