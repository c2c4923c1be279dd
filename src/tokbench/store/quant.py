"""Quant comparisons in the store (migrations m007, m008): a run of kind "quant" in `runs`, its
reference in `quant_references` and one `quant_results` row per candidate model. Rows are
plain dicts keyed by column name (the quant package maps its results to them), written in
one transaction with the run, so a failed comparison stores nothing."""

from __future__ import annotations

from typing import Any

from tokbench.core.records import RunInfo
from tokbench.store.database import Store, insert

RESULT_COLUMNS = (
    "position",
    "model_path",
    "model_sha256",
    "size_bytes",
    "reference_kind",
    "reference_name",
    "text_sha256",
    "n_ctx",
    "windows",
    "scored_tokens",
    "top_k",  # the most tokens the reference keeps per position
    "mass",  # the probability it keeps them up to (NULL: a fixed top-k reference)
    "uncovered_mass",
    "threads",
    "perplexity",
    "perplexity_se",
    "reference_perplexity",
    "ln_ppl_ratio",
    "ln_ppl_ratio_se",
    "kld_mean",
    "kld_se",
    "kld_median",
    "kld_p90",
    "kld_p99",
    "kld_max",
    "kld_is_topk",  # the KLD is the compact one, from a reference file (not exact)
    "kld_upper",  # its upper bound (NULL: exact, unknown, or a run before m008)
    "topk_kld_mean",  # with --full-kld: the compact KLD beside the exact one
    "topk_rel_error",
    "same_top",
    "same_top_se",
    "delta_p_mean",
    "delta_p_se",
    "delta_p_rms",
    "delta_p_top_mean",
    "delta_p_top_se",
    "load_s",
    "elapsed_s",
    "scored_tps",
    "decode_tps",  # measured by the comparison (tokbench quant --speed)
    "decode_tps_se",
)
REFERENCE_COLUMNS = (
    "model_path",
    "model_name",
    "model_sha256",
    "size_bytes",
    "source",
    "file_path",
    "file_bytes",
    "text_name",
    "text_sha256",
    "n_ctx",
    "top_k",
    "mass",
    "uncovered_mass",
    "windows",
    "scored_tokens",
    "perplexity",
    "perplexity_se",
    "build_s",
    "decode_tps",
    "decode_tps_se",
)


def save_quant_run(
    store: Store, run: RunInfo, reference: dict[str, Any], results: list[dict[str, Any]]
) -> None:
    """The run, its reference and its results, all or nothing."""
    with store.transaction() as db:
        store.insert_run(db, run)
        insert(
            db,
            "quant_references",
            {"run_id": run.id, **{c: reference.get(c) for c in REFERENCE_COLUMNS}},
        )
        for r in results:
            row = {c: r.get(c) for c in RESULT_COLUMNS}
            if row["kld_is_topk"] is not None:
                row["kld_is_topk"] = int(bool(row["kld_is_topk"]))
            insert(db, "quant_results", {"run_id": run.id, **row})


def quant_reference(store: Store, run_id: str) -> dict[str, Any] | None:
    rows = store.fetch_dicts("SELECT * FROM quant_references WHERE run_id = ?", (run_id,))
    return {c: rows[0][c] for c in REFERENCE_COLUMNS} if rows else None


def quant_results(store: Store, run_id: str) -> list[dict[str, Any]]:
    rows = store.fetch_dicts(
        "SELECT * FROM quant_results WHERE run_id = ? ORDER BY position", (run_id,)
    )
    out = []
    for r in rows:
        row = {c: r[c] for c in RESULT_COLUMNS}
        if row["kld_is_topk"] is not None:
            row["kld_is_topk"] = bool(row["kld_is_topk"])
        out.append(row)
    return out
