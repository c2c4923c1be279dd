"""Quant comparisons in the store (migrations m007, m008, m010): a run of kind "quant" in
`runs`, its reference in `quant_references` and one `quant_results` row per candidate
model. Each row is a frozen record whose fields are the table's columns, written in one
transaction with the run, so a failed comparison stores nothing."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from tokbench.core.records import RunInfo
from tokbench.store.database import Store, insert


@dataclass(frozen=True, slots=True)
class QuantRow:
    """A candidate's result: its `quant_results` row."""

    position: int
    model_path: str
    model_sha256: str | None
    size_bytes: int | None
    reference_kind: str
    reference_name: str | None
    text_sha256: str | None
    n_ctx: int
    windows: int
    scored_tokens: int
    top_k: int | None  # the most tokens the reference keeps per position
    mass: float | None  # the probability it keeps them up to (None: a fixed top-k reference)
    uncovered_mass: float | None
    threads: int | None
    perplexity: float | None
    perplexity_se: float | None
    reference_perplexity: float | None
    ln_ppl_ratio: float | None
    ln_ppl_ratio_se: float | None
    kld_mean: float | None
    kld_se: float | None
    kld_median: float | None
    kld_p90: float | None
    kld_p99: float | None
    kld_max: float | None
    kld_is_topk: bool | None  # the KLD is the compact one, from a reference file (not exact)
    kld_upper: float | None  # its upper bound (None: exact, unknown, or a run before m010)
    topk_kld_mean: float | None  # with --full-kld: the compact KLD beside the exact one
    topk_rel_error: float | None
    same_top: float | None
    same_top_se: float | None
    delta_p_mean: float | None
    delta_p_se: float | None
    delta_p_rms: float | None
    delta_p_top_mean: float | None
    delta_p_top_se: float | None
    load_s: float | None
    elapsed_s: float | None
    scored_tps: float | None
    decode_tps: float | None = None  # measured by the comparison (tokbench quant --speed)
    decode_tps_se: float | None = None


@dataclass(frozen=True, slots=True)
class QuantReference:
    """The reference a comparison scored against: its `quant_references` row."""

    model_path: str | None  # None: only a reference file was given
    model_name: str
    model_sha256: str
    size_bytes: int | None
    source: str  # built | cache | file
    file_path: str | None
    file_bytes: int | None
    text_name: str | None
    text_sha256: str
    n_ctx: int
    top_k: int
    mass: float | None
    uncovered_mass: float | None
    windows: int
    scored_tokens: int
    perplexity: float | None
    perplexity_se: float | None
    build_s: float | None
    decode_tps: float | None = None
    decode_tps_se: float | None = None


RESULT_COLUMNS = tuple(f.name for f in fields(QuantRow))
REFERENCE_COLUMNS = tuple(f.name for f in fields(QuantReference))


def save_quant_run(
    store: Store, run: RunInfo, reference: QuantReference | None, results: list[QuantRow]
) -> None:
    """The run, its reference and its results, all or nothing."""
    with store.transaction() as db:
        store.insert_run(db, run)
        if reference is not None:
            insert(db, "quant_references", {"run_id": run.id, **asdict(reference)})
        for r in results:
            row = asdict(r)
            if r.kld_is_topk is not None:
                row["kld_is_topk"] = int(r.kld_is_topk)
            insert(db, "quant_results", {"run_id": run.id, **row})


def quant_reference(store: Store, run_id: str) -> QuantReference | None:
    rows = store.fetch_dicts("SELECT * FROM quant_references WHERE run_id = ?", (run_id,))
    return QuantReference(**{c: rows[0][c] for c in REFERENCE_COLUMNS}) if rows else None


def quant_results(store: Store, run_id: str) -> list[QuantRow]:
    rows = store.fetch_dicts(
        "SELECT * FROM quant_results WHERE run_id = ? ORDER BY position", (run_id,)
    )
    out = []
    for r in rows:
        row = QuantRow(**{c: r[c] for c in RESULT_COLUMNS})
        if row.kld_is_topk is not None:
            row = replace(row, kld_is_topk=bool(row.kld_is_topk))
        out.append(row)
    return out
