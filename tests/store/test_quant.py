"""Quant rows through the store's public API: saved and read back as the same records,
and copied whole to another store."""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path

from tokbench.core.records import HostInfo, QuantSettings
from tokbench.store.copy import copy_runs
from tokbench.store.database import Store, new_run_info
from tokbench.store.quant import (
    QuantReference,
    QuantRow,
    quant_reference,
    quant_results,
    save_quant_run,
)

REFERENCE = QuantReference(
    model_path="/m/ref.gguf",
    model_name="ref.gguf",
    model_sha256="ab" * 32,
    size_bytes=1000,
    source="built",
    file_path="/c/ref.npz",
    file_bytes=200,
    text_name="wiki",
    text_sha256="cd" * 32,
    n_ctx=128,
    top_k=64,
    mass=0.99,
    uncovered_mass=0.004,
    windows=3,
    scored_tokens=189,
    perplexity=12.5,
    perplexity_se=0.4,
    build_s=2.0,
    decode_tps=51.0,
    decode_tps_se=0.5,
)


def a_row(position: int, **changes: object) -> QuantRow:
    # every column a distinct value, so a swapped column cannot pass unseen
    values: dict[str, object] = {}
    for i, f in enumerate(fields(QuantRow)):
        values[f.name] = float(i) + 0.25 if "float" in str(f.type) else i
    values.update(
        position=position,
        model_path=f"/m/q{position}.gguf",
        model_sha256="ef",
        reference_kind="file",
        reference_name="ref.npz",
        text_sha256="cd",
        kld_is_topk=True,
    )
    return replace(QuantRow(**values), **changes)  # type: ignore[arg-type]


def _save(store: Store, rows: list[QuantRow], reference: QuantReference | None) -> str:
    run = new_run_info(
        "quant",
        QuantSettings(),
        HostInfo(cpu_model="cpu"),
        backend="embedded",
        model="ref",
        status="done",
    )
    save_quant_run(store, run, reference, rows)
    return run.id


def test_rows_read_back_as_saved(tmp_path: Path) -> None:
    store = Store(tmp_path / "q.db")
    store.migrate()
    rows = [
        a_row(0),
        a_row(1, kld_is_topk=False, kld_upper=None, mass=None),
        a_row(2, kld_is_topk=None, decode_tps=None, decode_tps_se=None),
    ]
    run_id = _save(store, rows, REFERENCE)
    assert quant_reference(store, run_id) == REFERENCE
    back = quant_results(store, run_id)
    assert back == rows
    assert [type(r.kld_is_topk) for r in back] == [bool, bool, type(None)]


def test_a_copy_keeps_rows_and_reference(tmp_path: Path) -> None:
    src, dst = Store(tmp_path / "a.db"), Store(tmp_path / "b.db")
    src.migrate()
    dst.migrate()
    run_id = _save(src, [a_row(0), a_row(1)], REFERENCE)
    assert copy_runs(src, dst).runs_copied == 1
    assert quant_reference(dst, run_id) == REFERENCE
    assert quant_results(dst, run_id) == quant_results(src, run_id)
