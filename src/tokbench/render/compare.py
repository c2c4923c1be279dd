"""`tokbench compare` output: Markdown that pastes into a blog post, CSV, JSON, or a table."""

from __future__ import annotations

import io
from typing import Any

from tokbench.core.energy import RunEnergy
from tokbench.render.energy import RUN_HEAD, run_cells
from tokbench.render.numbers import DASH, mean_sd, num
from tokbench.render.safe import md, md_row, write_csv
from tokbench.results.views import CompareRow, TestCompareRow

HEADER = [
    "model",
    "host",
    "backend",
    "run",
    "decode tok/s",
    "Δ decode",
    "× decode",
    "TTFT ms",
    "× TTFT",
    "prefill tok/s",
    "× prefill",
    "n",
]


def _x(v: float | None) -> str:
    return DASH if v is None else f"{v:.2f}×"


def cells(r: CompareRow) -> list[str]:
    v = r.view
    return [
        r.model_name,
        v.run.host_name or "?",
        v.run.backend,
        v.run.id,
        mean_sd(v.decode, 2),
        DASH if r.decode_delta is None else f"{r.decode_delta:+.2f}",
        _x(r.decode_ratio),
        mean_sd(v.ttft, 0),
        _x(r.ttft_ratio),
        mean_sd(v.prefill, 1),
        _x(r.prefill_ratio),
        str(v.decode.n),
    ]


def _with_energy(rows: list[CompareRow]) -> bool:
    return any(r.view.run.energy is not None for r in rows)


def header(rows: list[CompareRow]) -> list[str]:
    """The columns: energy ones only when a run measured energy or the host's load."""
    return HEADER + list(RUN_HEAD) if _with_energy(rows) else HEADER


def all_cells(rows: list[CompareRow]) -> list[list[str]]:
    energy = _with_energy(rows)
    return [cells(r) + (run_cells(r.view.run.energy) if energy else []) for r in rows]


def markdown(rows: list[CompareRow]) -> str:
    head = header(rows)
    lines = [
        "| " + " | ".join(head) + " |",
        "| " + " | ".join(["---"] * 4 + ["---:"] * (len(head) - 4)) + " |",
    ]
    lines += [md_row(row) for row in all_cells(rows)]
    if rows:
        lines += ["", f"Δ and × are against the first run given ({md(rows_base(rows))})."]
    if _with_energy(rows):
        lines += [
            "",
            "Energy as each run measured it (its power source in the JSON output); ~ marks "
            "approximate energy; cost/Mtok is electricity plus hardware per million output "
            "tokens, in each run's currency.",
        ]
    return "\n".join(lines) + "\n"


TEST_HEADER = ["test", "run", "source", "model", "t/s", "n", "Δ t/s", "×"]


def test_cells(r: TestCompareRow) -> list[str]:
    run = r.view.run
    return [
        r.test,
        run.id,
        run.source or "tokbench",
        run.display_model or "?",
        DASH
        if r.mean is None
        else f"{r.mean:.2f}" + (f" ± {r.sd:.2f}" if r.sd is not None else ""),
        str(r.n),
        DASH if r.delta is None else f"{r.delta:+.2f}",
        _x(r.ratio),
    ]


def tests_markdown(rows: list[TestCompareRow]) -> str:
    if not rows:
        return ""
    lines = [
        "",
        "| " + " | ".join(TEST_HEADER) + " |",
        "| " + " | ".join(["---"] * 4 + ["---:"] * 4) + " |",
    ]
    lines += [md_row(test_cells(r)) for r in rows]
    lines += ["", "Test by test: Δ and × against the first run given that has the test."]
    return "\n".join(lines) + "\n"


def tests_table(rows: list[TestCompareRow]) -> Any:
    from rich.table import Table

    t = Table(
        title="Bench tests (Δ and × against the first run with the test)", title_justify="left"
    )
    for h in TEST_HEADER:
        t.add_column(h, justify="left" if h in TEST_HEADER[:4] else "right")
    for r in rows:
        t.add_row(*test_cells(r))
    return t


def test_records(rows: list[TestCompareRow]) -> list[dict[str, Any]]:
    return [
        {
            "test": r.test,
            "run_id": r.view.run.id,
            "source": r.view.run.source,
            "model": r.view.run.model,
            "model_id": r.view.run.model_id,
            "model_name": r.view.run.display_model,
            "tps_mean": r.mean,
            "tps_sd": r.sd,
            "n": r.n,
            "delta_tps": r.delta,
            "ratio": r.ratio,
        }
        for r in rows
    ]


def rows_base(rows: list[CompareRow]) -> str:
    base = next((r for r in rows if r.decode_ratio == 1.0), rows[0])
    return base.view.run.id


def records(rows: list[CompareRow]) -> list[dict[str, Any]]:
    energy = _with_energy(rows)
    out = []
    for r in rows:
        v = r.view
        out.append(
            {
                "run_id": v.run.id,
                "model": v.run.model,
                "model_id": v.run.model_id,
                "model_name": r.model_name,
                "host": v.run.host_name,
                "backend": v.run.backend,
                "quantization": v.quant,
                "params": v.params,
                "decode_tps_mean": v.decode.mean,
                "decode_tps_sd": v.decode.sd,
                "decode_n": v.decode.n,
                "decode_delta_tps": r.decode_delta,
                "decode_ratio": r.decode_ratio,
                "ttft_ms_mean": v.ttft.mean,
                "ttft_ratio": r.ttft_ratio,
                "prefill_tps_mean": v.prefill.mean,
                "prefill_ratio": r.prefill_ratio,
                **(_energy_record(v.run.energy) if energy else {}),
            }
        )
    return out


ENERGY_KEYS = (
    "power_source",
    "energy_j",
    "j_per_token",
    "tokens_per_kwh",
    "avg_power_w",
    "peak_power_w",
    "baseline_w",
    "electricity_per_mtok",
    "hardware_per_mtok",
    "currency",
    "approximate",
    "busy_requests",
    "host_monitored",
)


def _energy_record(e: RunEnergy | None) -> dict[str, Any]:
    d = e.to_json() if e else {}
    return {k: d.get(k) for k in ENERGY_KEYS}


def to_csv(rows: list[CompareRow]) -> str:
    recs = records(rows)
    buf = io.StringIO()
    if recs:
        write_csv(buf, list(recs[0]), recs)
    return buf.getvalue()


def table(rows: list[CompareRow]) -> Any:
    from rich.table import Table

    t = Table(title="Comparison (Δ and × against the first run given)", title_justify="left")
    for h in header(rows):
        t.add_column(h, justify="left" if h in (*HEADER[:4], "host load") else "right")
    for row in all_cells(rows):
        t.add_row(*row)
    return t


__all__ = ["markdown", "num", "records", "table", "tests_markdown", "tests_table", "to_csv"]
