"""A candidate's result as its `quant_results` row (store.quant.QuantRow), the one shape
the engine comparison and the HTTP path store and the renderers read."""

from __future__ import annotations

from tokbench.quant.evaluate import QuantResult
from tokbench.quant.view import DecodeSpeed
from tokbench.store.quant import QuantRow


def result_row(position: int, r: QuantResult, sha: str, text_sha: str,
               speed: DecodeSpeed | None = None) -> QuantRow:
    """A candidate's result as its `quant_results` row."""
    k, compact = r.kld, r.kld_compact
    return QuantRow(
        position=position,
        model_path=r.model_path,
        model_sha256=sha,
        size_bytes=r.model_size_bytes,
        reference_kind=r.reference_kind,
        reference_name=r.reference_name,
        text_sha256=text_sha,
        n_ctx=r.n_ctx,
        windows=r.n_windows,
        scored_tokens=r.scored_tokens,
        top_k=r.max_k,
        mass=r.mass,
        uncovered_mass=r.uncovered_mass,
        threads=r.threads,
        perplexity=r.perplexity,
        perplexity_se=r.perplexity_se,
        reference_perplexity=r.reference_perplexity,
        ln_ppl_ratio=r.ln_ppl_ratio,
        ln_ppl_ratio_se=r.ln_ppl_ratio_se,
        kld_mean=k.mean if k else None,
        kld_se=k.se if k else None,
        kld_median=k.median if k else None,
        kld_p90=k.p90 if k else None,
        kld_p99=k.p99 if k else None,
        kld_max=k.max if k else None,
        kld_is_topk=k is not None and not r.kld_exact,
        kld_upper=r.kld_upper,
        topk_kld_mean=compact.mean if compact and r.kld_exact else None,
        topk_rel_error=r.compact_error.mean_rel if r.compact_error else None,
        same_top=r.same_top_rate,
        same_top_se=r.same_top_se,
        delta_p_mean=r.delta_p_mean,
        delta_p_se=r.delta_p_se,
        delta_p_rms=r.delta_p_rms,
        delta_p_top_mean=r.delta_p_top_mean,
        delta_p_top_se=r.delta_p_top_se,
        load_s=r.load_s,
        elapsed_s=r.elapsed_s,
        scored_tps=r.scored_tps,
        decode_tps=speed.tps if speed else None,
        decode_tps_se=speed.se if speed else None,
    )
