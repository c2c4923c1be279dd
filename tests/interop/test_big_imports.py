"""Big imports stay bounded (issue 20, item 8): a file of more tests than tokbench imports is
refused while it is read, a big YAML report is refused with the JSON remedy, a few-MB file
imports in seconds, and the views of a run with more tests than a table can hold show the
first ones and say how many more there are. Timings of 100 MB files: bench/big_import.py."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.interop.test_vllm_bench import current_result
from tokbench.cli import cli
from tokbench.errors import TokbenchError
from tokbench.interop import guidellm, parsing, vllm_bench
from tokbench.interop.detect import parse_text
from tokbench.results.views import MAX_VIEW_TESTS

FIXTURES = Path(__file__).parent / "fixtures"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def records(n: int) -> list[dict[str, Any]]:
    """n real llama-bench records, each a different prompt length."""
    base = json.loads((FIXTURES / "sweep_threads.json").read_text())[0]
    return [{**base, "n_prompt": 16 + i} for i in range(n)]


def md_table(n: int) -> str:
    rows = "".join(f"| gemma3 | CPU | 1 | pp{16 + i} | 100.00 ± 0.00 |\n" for i in range(n))
    return "| model | backend | threads | test | t/s |\n| --- | --- | ---: | ---: | ---: |\n" + rows


@pytest.mark.parametrize(
    "text",
    [json.dumps(records(11)), "\n".join(json.dumps(r) for r in records(11)), md_table(11)],
    ids=["json", "jsonl", "md"],
)
def test_more_tests_than_imported_are_refused(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parsing, "MAX_TESTS", 10)
    with pytest.raises(TokbenchError, match="more than 10 tests"):
        parse_text(text)
    monkeypatch.setattr(parsing, "MAX_TESTS", 11)
    assert len(parse_text(text).tests) == 11


def test_a_big_yaml_report_is_refused_with_the_json_remedy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(guidellm, "MAX_YAML_BYTES", 100)
    with pytest.raises(TokbenchError, match="import its JSON report"):
        guidellm.parse_yaml("benchmarks:\n" + "# padding\n" * 20)


def test_a_few_mb_file_imports_in_seconds(tmp_path: Path) -> None:
    f = tmp_path / "lb.json"
    f.write_text(json.dumps(records(4000), indent=2))  # about 5 MB
    assert f.stat().st_size > 4e6
    start = time.monotonic()
    r = invoke("import", str(f), "--json", "--db", str(tmp_path / "r.db"))
    # a generous bound for a shared, busy box: it only catches work that is not linear
    assert r.exit_code == 0 and time.monotonic() - start < 60
    assert json.loads(r.stdout)[0]["tests"] == 4000


def test_views_of_a_big_run_show_the_first_tests_and_count_the_rest(tmp_path: Path) -> None:
    db = str(tmp_path / "r.db")
    f = tmp_path / "lb.md"
    n = MAX_VIEW_TESTS + 25
    f.write_text(md_table(n))
    (done,) = json.loads(invoke("import", str(f), "--json", "--db", db).stdout)
    run_id = done["run_id"]
    line = f"25 more tests not shown (the file imported into {run_id} has them)."
    md = invoke("show", run_id, "--format", "md", "--db", db).stdout
    assert line in md and md.count("| pp") == MAX_VIEW_TESTS
    table = invoke("show", run_id, "--db", db).stdout
    assert "25 more tests not shown" in " ".join(table.split())
    shown = json.loads(invoke("show", run_id, "--json", "--db", db).stdout)
    assert len(shown["tests"]) == MAX_VIEW_TESTS and shown["more_tests"] == 25
    invoke("report", run_id, "-o", str(tmp_path / "r.html"), "--db", db)
    assert "25 more tests not shown" in (tmp_path / "r.html").read_text()


def test_long_vllm_detail_lists_are_left_out_with_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vllm_bench, "MAX_DETAIL_VALUES", 5)
    result = current_result(ttfts=[0.05] * 6, input_lens=[100] * 5)
    run = parse_text(json.dumps(result))
    extra = json.loads(run.tests[0].extra)
    assert "ttfts" not in extra and extra["input_lens"] == [100] * 5
    assert any("lists of over 5 values (ttfts)" in n for n in run.notes)
