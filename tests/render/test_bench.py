"""The bench table: the decode bound only on decode rows, and a wide CI marked with one line
saying how to narrow it (#22 item 5)."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

from rich.console import Console

from tests.runs.test_bench import run_scripted
from tokbench.core.config import BenchConfig
from tokbench.core.records import Target
from tokbench.render.bench import markdown, table_view, to_json, wide_ci


def _with_bound(tmp_path: Path, values: list[float], reps: int = 3):  # type: ignore[no-untyped-def]
    run, s, _e = run_scripted(
        tmp_path, BenchConfig(n_prompt=(128,), n_gen=(16,), reps=reps, warmup=0), values
    )
    (model,) = {r.model for r in s.tests}
    run = dataclasses.replace(run, targets={model: Target(bound_tps=200.0)})
    return run, s


def _text(view: object) -> str:
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(view)
    return out.getvalue()


def test_the_decode_bound_shows_on_decode_rows_only(tmp_path: Path) -> None:
    run, s = _with_bound(tmp_path, [300.0, 301.0, 299.0, 50.0, 50.5, 49.5])
    tests = {t["test"]: t for t in to_json(run, s)["tests"]}
    assert tests["tg16"]["bound_tps"] == 200.0 and tests["tg16"]["efficiency"] == 0.25
    assert tests["pp128"]["bound_tps"] is None and tests["pp128"]["efficiency"] is None
    rows = {ln.split("│")[2].strip(): ln for ln in _text(table_view(run, s)).splitlines()
            if ln.count("│") > 5}  # fmt: skip
    assert "200.00" in rows["tg16"] and "200.00" not in rows["pp128"]


def test_a_wide_interval_is_marked_with_one_line_on_how_to_narrow_it(tmp_path: Path) -> None:
    # the pp128 274.59 ± 61.69 at n=3; tg16 tight
    run, s = _with_bound(tmp_path, [250.0, 230.0, 344.0, 50.0, 50.5, 49.5])
    pp = next(r for r in s.tests if r.test == "pp128")
    tg = next(r for r in s.tests if r.test == "tg16")
    assert wide_ci(pp) and not wide_ci(tg)
    md = markdown(run, s)
    assert md.count("(wide)") == 1 and "| pp128 |" in next(ln for ln in md.splitlines()
                                                            if "(wide)" in ln)  # fmt: skip
    hint = [ln for ln in md.splitlines() if "--until-ci" in ln]
    assert len(hint) == 1 and "-r" in hint[0] and hint[0].startswith("1 row(s)")
    text = _text(table_view(run, s))
    assert "wide CI" in text and text.count("--until-ci") == 1


def test_tight_results_print_no_hint(tmp_path: Path) -> None:
    run, s = _with_bound(tmp_path, [300.0, 301.0, 299.0, 50.0, 50.5, 49.5])
    assert "--until-ci" not in markdown(run, s) and "--until-ci" not in _text(table_view(run, s))
