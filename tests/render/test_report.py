"""Reports from real runs: HTML in real headless Chromium, Markdown round trip, exports."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import tokbench
from tokbench.core.metrics import request_metrics
from tokbench.core.records import HostInfo, RequestRecord, RunInfo, Target
from tokbench.core.trace import Count, Recorder
from tokbench.store.database import Store

EVIL = (
    '<script>document.title="pwned"</script><img src=x onerror="document.title=\'pwned\'">'
    "\n**bold** and `code` and [link](http://example.invalid)"
)


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("headless Chromium is needed: apt-get install chromium (see README)")
    return path


def headless(*args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp / 'chrome'}",
            "--enable-logging=stderr",
            "--v=0",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def add_evil_run(db: Path) -> str:
    store = Store(db)
    run = RunInfo(
        id="20260101-000000-e71e71",
        created_at="2026-01-01T00:00:00+00:00",
        status="done",
        kind="run",
        tokbench_version="0",
        backend="openai",
        url="http://127.0.0.1:1/v1",
        model="<b>evil</b>-model",
        suite="seed5",
        host_name="h<i>",
        host=HostInfo(cpu_model="<svg onload=alert(1)>"),
        targets={"m": Target(n_params=7_000_000_000)},
    )
    store.create_run(run)
    rec = Recorder(0)
    for i in range(5):
        rec.add((100 + 50 * i) * 1_000_000, "answer", EVIL if i == 0 else " x")
    trace = rec.finish(400_000_000, completion_tokens=Count(5, "server"))
    store.add_request(
        RequestRecord(
            run.id,
            "essay",
            0,
            "t",
            "ok",
            None,
            "提示<script>",
            trace.text("answer"),
            "",
            request_metrics(trace),
        )
    )
    store.close()
    return run.id


@pytest.mark.slow
def test_html_report_in_headless_chromium(tb_home: Path, tmp_path: Path) -> None:
    tb_home.mkdir(parents=True, exist_ok=True)
    (tb_home / "hw.json").write_text('{"bandwidth_gbs": 20.0}')  # so runs carry a bound
    for args in (("--max-tokens", "12"), ("--suite", "seed5-en", "--max-tokens", "12")):
        r = tokbench("run", *args, "--no-progress")
        assert r.returncode == 0, r.stderr
    evil = add_evil_run(tb_home / "results.db")
    out = tmp_path / "report.html"
    r = tokbench("report", "-o", str(out), "--charts", str(tmp_path / "charts"))
    assert r.returncode == 0, r.stderr
    html = out.read_text("utf-8")
    # self-contained: nothing fetched from anywhere
    assert 'src="http' not in html and 'href="http' not in html and "@import" not in html
    assert html.count("<svg") == 2 and 'id="runs-table"' in html
    assert html.count('class="bar"') == 3 and html.count('class="errorbar"') >= 2
    assert html.count('class="point"') == 3  # every run's model size is known
    # model output and run metadata are inert text
    assert "<img src=x" not in html and "<script>document" not in html
    assert "&lt;img src=x onerror=" in html and "&lt;b&gt;evil&lt;/b&gt;" in html
    assert "<svg onload" not in html and "提示&lt;script&gt;" in html
    assert "小学生开放命题作文" in html  # the Chinese prompt, as UTF-8
    assert evil in html
    assert 'id="quality"' in html and "all items" in html  # the seed runs are graded
    assert "<th>efficiency</th>" in html and "81.1</td>" in html  # 20 GB/s / 246.6 MB

    dom = headless("--dump-dom", f"file://{out}#open-all", tmp=tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "Uncaught" not in dom.stderr and "CONSOLE" not in dom.stderr, dom.stderr[-2000:]
    page = dom.stdout
    assert "<title>tokbench report" in page and "pwned" not in page.split("</title>")[0]
    assert "<img" not in page  # the answer's <img onerror> never became an element
    tags = re.findall(r"<details[^>]*>", page)
    assert tags and all("open" in t for t in tags)  # the page's script ran

    shot = tmp_path / "report.png"
    s = headless(
        "--window-size=1200,3000", f"--screenshot={shot}", f"file://{out}#open-all", tmp=tmp_path
    )
    assert s.returncode == 0 and shot.stat().st_size > 50_000
    for name in ("decode", "size"):
        assert (tmp_path / "charts" / f"{name}.svg").read_text().startswith("<svg")
        assert (tmp_path / "charts" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def parse_md_table(md: str) -> list[list[str]]:
    rows = [line for line in md.splitlines() if line.startswith("|")]
    return [[c.strip() for c in row.strip("|").split(" | ")] for row in rows[2:]]


def test_compare_markdown_round_trips(tb_home: Path) -> None:
    from tests.testing.fakeserver import FakeConfig, FakeServer

    with FakeServer(FakeConfig(ttft_s=0.02, itl_s=0.010, n_tokens=12)) as a:
        assert tokbench("run", "--url", a.url, "--no-progress").returncode == 0
    with FakeServer(FakeConfig(ttft_s=0.02, itl_s=0.020, n_tokens=12)) as b:
        assert tokbench("run", "--url", b.url, "--no-progress").returncode == 0
    md = tokbench("compare", "--last", "2", "--format", "md")
    js = tokbench("compare", "--last", "2", "--format", "json")
    assert md.returncode == 0 and js.returncode == 0, md.stderr
    records = {r["run_id"]: r for r in json.loads(js.stdout)}
    rows = parse_md_table(md.stdout)
    assert len(rows) == 2
    for row in rows:
        rec = records[row[3]]
        mean, sd = (float(x) for x in row[4].split(" ± "))
        assert mean == pytest.approx(rec["decode_tps_mean"], abs=0.005)
        assert sd == pytest.approx(rec["decode_tps_sd"], abs=0.005)
        assert float(row[6].rstrip("×")) == pytest.approx(rec["decode_ratio"], abs=0.005)
    slower = min(records.values(), key=lambda r: r["decode_tps_mean"])
    # twice the token interval: about half the speed (sleep overshoot under load aside)
    assert slower["decode_ratio"] == pytest.approx(0.5, abs=0.12)


def test_export_csv_and_jsonl(tb_home: Path) -> None:
    from tests.testing.fakeserver import FakeConfig, FakeServer

    with FakeServer(FakeConfig(n_tokens=5, itl_s=0.001)) as srv:
        assert tokbench("run", "--url", srv.url, "-n", "2", "--no-progress").returncode == 0
    c = tokbench("export", "--format", "csv")
    j = tokbench("export", "--format", "jsonl")
    assert c.returncode == 0 and j.returncode == 0
    rows = list(csv.DictReader(io.StringIO(c.stdout)))
    lines = [json.loads(x) for x in j.stdout.splitlines()]
    assert len(rows) == len(lines) == 10
    assert {r["item_id"] for r in rows} == {
        "essay",
        "compare-9.11-9.9",
        "autumn-quatrain",
        "weekday",
        "physics-mcq",
    }
    assert all(float(r["decode_tps"]) > 0 for r in rows)
    assert lines[0]["backend"] == "openai" and lines[0]["completion_tokens"] == 5
    assert lines[0]["completion_tokens_source"] == "server" and lines[0]["answer"]
