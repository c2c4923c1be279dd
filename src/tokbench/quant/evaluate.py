"""Entry points: `build_reference()` writes a reference model's compact file once;
`evaluate()` scores a candidate GGUF alone (perplexity), against such a file (the compact
KLD with its bounds), or against a reference GGUF run alongside (full KLD, and the compact
KLD's error beside it)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from tokbench.backends.embedded import quiet_llama_logs
from tokbench.errors import TokbenchError
from tokbench.gguf.identity import file_sha256, sha_cache_file
from tokbench.hardware.probe import physical_cores
from tokbench.quant import kld as m
from tokbench.quant.reference import (
    FORMAT,
    MAX_K,
    Reference,
    ReferenceMeta,
    RefRows,
    check_reference,
    load_reference,
    save_reference,
    tokens_sha256,
)
from tokbench.quant.score import (
    F32,
    I32,
    CandidateRows,
    WindowDecoder,
    WindowPlan,
    candidate_rows,
    covering_rows,
    full_kld_rows,
    plan_windows,
    row_blocks,
    tokenize,
    vocab_info,
)
from tokbench.quant.text import EvalText, load_text

Progress = Callable[[int, int], None]  # (windows done, windows in all)
RefKind = Literal["none", "file", "live", "http"]
DEFAULT_CTX = 512
# What a reference file keeps per position: the reference's most likely tokens until they
# cover DEFAULT_MASS of the probability, at most DEFAULT_MAX_K (docs/metrics.md: on a flat
# base-model distribution of Chinese text a fixed top 32 fell 29 % short of the full KLD)
DEFAULT_MASS = 0.999
DEFAULT_MAX_K = 2048


@dataclass(frozen=True, slots=True)
class QuantResult:
    model_path: str
    model_size_bytes: int
    text_name: str
    n_ctx: int
    n_windows: int
    scored_tokens: int
    threads: int
    perplexity: float
    perplexity_se: float
    reference_kind: RefKind
    reference_name: str | None  # the reference file, or the reference GGUF in live mode
    mass: float | None  # the reference file's coverage rule: mass, at most max_k tokens
    max_k: int | None
    uncovered_mass: float | None  # the mean probability it leaves uncovered per position
    reference_perplexity: float | None
    reference_perplexity_se: float | None
    ln_ppl_ratio: float | None  # ln(PPL(Q)/PPL(ref)), paired standard error below
    ln_ppl_ratio_se: float | None
    kld: m.KldStats | None  # full KLD in live mode, compact KLD against a reference file
    kld_exact: bool  # False: kld is the compact KLD, a lower bound
    kld_upper: float | None  # the compact KLD's upper bound, mean over positions
    kld_compact: m.KldStats | None
    compact_error: m.CompactKldError | None  # live mode only
    same_top_rate: float | None
    same_top_se: float | None
    delta_p_mean: float | None  # llama-perplexity's Δp: Q(actual) - P(actual)
    delta_p_se: float | None
    delta_p_rms: float | None
    delta_p_top_mean: float | None  # Q(ref top) - P(ref top)
    delta_p_top_se: float | None
    load_s: float
    elapsed_s: float  # decoding and scoring, after loading
    scored_tps: float  # scored tokens per second of elapsed_s (both models' work in live mode)


@dataclass(frozen=True, slots=True)
class ReferenceSummary:
    path: str
    size_bytes: int
    meta: ReferenceMeta
    perplexity: float
    perplexity_se: float
    load_s: float
    elapsed_s: float
    scored_tps: float


def _as_text(text: EvalText | str | Path | None) -> EvalText:
    if isinstance(text, EvalText):
        return text
    return load_text(text)


def _load(model_path: Path, n_ctx: int, threads: int) -> Any:
    from llama_cpp import Llama

    if not model_path.is_file():
        raise TokbenchError(f"model file not found: {model_path}")
    quiet_llama_logs()
    n_batch = min(n_ctx, 512)
    try:
        return Llama(
            model_path=str(model_path), n_ctx=n_ctx, n_batch=n_batch, n_ubatch=n_batch,
            n_threads=threads, n_threads_batch=threads,
            flash_attn=True,  # as llama-perplexity's default on CPU
            verbose=False,
        )
    except (ValueError, RuntimeError) as exc:
        raise TokbenchError(f"llama.cpp could not load {model_path}: {exc}") from None


def _is_gguf(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(4) == b"GGUF"
    except OSError:
        return False


@dataclass(slots=True)
class _Setup:
    llm: Any
    text: EvalText
    tokens: list[int]
    plan: WindowPlan
    n_vocab: int
    fingerprint: str


def _setup(stack: ExitStack, model_path: Path, text: EvalText, n_ctx: int, chunks: int | None,
           threads: int) -> _Setup:
    llm = _load(model_path, n_ctx, threads)
    stack.callback(llm.close)
    n_vocab, fp, add_bos, bos = vocab_info(llm)
    tokens = tokenize(llm, text.text)
    plan = plan_windows(len(tokens), n_ctx, chunks, add_bos=add_bos, bos_id=bos)
    return _Setup(llm, text, tokens, plan, n_vocab, fp)


def _next_tokens(plan: WindowPlan, tokens: list[int], i: int) -> NDArray[np.int32]:
    base = i * plan.n_ctx
    return np.asarray(tokens[base + plan.first + 1 : base + plan.n_ctx], dtype=np.int32)


def _windows(plan: WindowPlan, progress: Progress | None) -> Iterator[int]:
    for i in range(plan.n_windows):
        yield i
        if progress is not None:
            progress(i + 1, plan.n_windows)


def check_coverage(mass: float, max_k: int) -> None:
    if not 0.0 < mass <= 1.0:
        raise TokbenchError(f"--mass {mass}: must be above 0 and at most 1")
    if not 1 <= max_k <= MAX_K:
        raise TokbenchError(f"--max-k {max_k}: must be between 1 and {MAX_K}")


def build_reference(
    model_path: Path | str,
    out_path: Path | str,
    text: EvalText | str | Path | None = None,
    n_ctx: int = DEFAULT_CTX,
    chunks: int | None = None,
    threads: int | None = None,
    mass: float = DEFAULT_MASS,
    max_k: int = DEFAULT_MAX_K,
    *,
    progress: Progress | None = None,
    sha_cache: Path | None = None,
) -> ReferenceSummary:
    """Score `model_path` over the text and write its compact reference to `out_path`:
    per position the most likely tokens until they cover `mass`, at most `max_k`."""
    model_path, out_path = Path(model_path), Path(out_path)
    check_coverage(mass, max_k)
    et = _as_text(text)
    threads = threads or physical_cores()
    t0 = time.perf_counter()
    with ExitStack() as stack:
        s = _setup(stack, model_path, et, n_ctx, chunks, threads)
        dec = stack.enter_context(WindowDecoder(s.llm, s.llm.n_batch))
        pool = stack.enter_context(ThreadPoolExecutor(threads))
        t1 = time.perf_counter()
        parts: list[RefRows] = []
        for i in _windows(s.plan, progress):
            nxt = _next_tokens(s.plan, s.tokens, i)
            for off, view in dec.decode(s.plan.window(s.tokens, i), s.plan.first):
                job = partial(_ref_block, view, nxt, off, mass, max_k)
                parts.extend(pool.map(job, row_blocks(view.shape[0])))
        t2 = time.perf_counter()
    meta = ReferenceMeta(
        format=FORMAT, model_sha256=file_sha256(model_path, sha_cache or sha_cache_file()),
        model_name=model_path.name,
        model_size_bytes=model_path.stat().st_size, text_sha256=et.sha256, text_name=et.name,
        tokens_sha256=tokens_sha256(s.tokens[: s.plan.n_windows * n_ctx]), n_ctx=n_ctx,
        n_vocab=s.n_vocab, vocab_fingerprint=s.fingerprint, n_windows=s.plan.n_windows,
        scored_per_window=s.plan.scored_per_window, mass=mass, max_k=max_k,
    )
    ref = Reference(meta, RefRows.concat(parts))
    size = save_reference(out_path, ref)
    ppl = m.perplexity(-ref.rows.actual_lp)
    return ReferenceSummary(str(out_path), size, meta, ppl.mean, ppl.se, t1 - t0, t2 - t1,
                            s.plan.scored_tokens / max(t2 - t1, 1e-9))


@dataclass(slots=True)
class _Acc:
    """Per-position records gathered window by window."""

    cand: list[CandidateRows]
    ref: list[RefRows]  # live mode: the reference's records
    full: list[NDArray[np.float64]]  # live mode: exact KLD


def evaluate(
    model_path: Path | str,
    text: EvalText | str | Path | None = None,
    n_ctx: int = DEFAULT_CTX,
    chunks: int | None = None,
    threads: int | None = None,
    reference: Path | str | None = None,
    *,
    mass: float = DEFAULT_MASS,
    max_k: int = DEFAULT_MAX_K,
    progress: Progress | None = None,
) -> QuantResult:
    """Score `model_path`; `reference` is a reference file from `build_reference()` or a
    reference GGUF evaluated alongside (then `mass` and `max_k` set the compact KLD measured
    beside the full one). Without a reference only perplexity is measured."""
    model_path = Path(model_path)
    check_coverage(mass, max_k)
    et = _as_text(text)
    threads = threads or physical_cores()
    ref_path = Path(reference) if reference is not None else None
    kind: RefKind = "none" if ref_path is None else "live" if _is_gguf(ref_path) else "file"
    ref_file: Reference | None = None
    if ref_path is not None and kind == "file":
        ref_file = load_reference(ref_path, max_tokens=len(et.text.encode("utf-8")) + 1)
        check_reference(ref_path, ref_file.meta, text_sha256=et.sha256, text_name=et.name,
                        n_ctx=n_ctx, n_vocab=ref_file.meta.n_vocab,
                        vocab_fingerprint=ref_file.meta.vocab_fingerprint, n_windows=chunks)
        if chunks is None:
            chunks = ref_file.meta.n_windows
    t0 = time.perf_counter()
    with ExitStack() as stack:
        s = _setup(stack, model_path, et, n_ctx, chunks, threads)
        live: _Setup | None = None
        if ref_path is not None and kind == "live":
            live = _setup(stack, ref_path, et, n_ctx, chunks, threads)
            if (live.n_vocab, live.fingerprint) != (s.n_vocab, s.fingerprint):
                raise TokbenchError(
                    f"{ref_path.name} and {model_path.name} have different vocabularies "
                    f"({live.n_vocab} vs {s.n_vocab} tokens): "
                    "KL divergence needs the same tokenizer"
                )
        if ref_file is not None and ref_path is not None:
            check_reference(ref_path, ref_file.meta, text_sha256=et.sha256, text_name=et.name,
                            n_ctx=n_ctx, n_vocab=s.n_vocab, vocab_fingerprint=s.fingerprint,
                            n_windows=chunks)
            used = s.tokens[: ref_file.meta.n_windows * n_ctx]
            if tokens_sha256(used) != ref_file.meta.tokens_sha256:
                raise TokbenchError(
                    f"{model_path.name} tokenizes the text differently from the reference "
                    f"{ref_path}"
                )
            ref_file = ref_file.head(s.plan.n_windows)
        dec = stack.enter_context(WindowDecoder(s.llm, s.llm.n_batch))
        ref_dec = stack.enter_context(WindowDecoder(live.llm, live.llm.n_batch)) if live else None
        pool = stack.enter_context(ThreadPoolExecutor(threads))
        # float64 full-vocabulary temporaries: fewer of them at once
        live_pool = stack.enter_context(ThreadPoolExecutor(min(threads, 4)))
        t1 = time.perf_counter()
        acc = _Acc([], [], [])
        per = s.plan.scored_per_window
        for i in _windows(s.plan, progress):
            nxt = _next_tokens(s.plan, s.tokens, i)
            window = s.plan.window(s.tokens, i)
            if ref_dec is None:
                for off, view in dec.decode(window, s.plan.first):
                    rows = None if ref_file is None else ref_file.rows.rows(i * per + off,
                                                                            i * per + per)
                    job = partial(_cand_block, view, nxt, off, rows)
                    acc.cand.extend(pool.map(job, row_blocks(view.shape[0])))
            else:
                steps = zip(ref_dec.decode(window, s.plan.first), dec.decode(window, s.plan.first),
                            strict=True)
                for (off, rview), (_o, cview) in steps:
                    live_job = partial(_live_block, rview, cview, nxt, off, mass, max_k)
                    for rr, cr, full in live_pool.map(live_job, row_blocks(rview.shape[0])):
                        acc.ref.append(rr)
                        acc.cand.append(cr)
                        acc.full.append(full)
        t2 = time.perf_counter()
    return _result(model_path, et, s.plan, threads, kind, ref_path, ref_file, acc, mass, max_k,
                   t1 - t0, t2 - t1)


# Row blocks run on a thread pool (numpy releases the GIL), as llama-perplexity spreads its
# softmax over worker threads: one block's temporaries are ROWS full-vocabulary rows.


def _ref_block(view: F32, nxt: I32, off: int, mass: float, max_k: int, b: slice) -> RefRows:
    return covering_rows(view[b], nxt[off + b.start : off + b.stop], mass, max_k)


def _cand_block(view: F32, nxt: I32, off: int, ref: RefRows | None, b: slice) -> CandidateRows:
    """`ref`: the reference's records from this decode step's first row on."""
    lo, hi = off + b.start, off + b.stop
    return candidate_rows(view[b], nxt[lo:hi],
                          None if ref is None else ref.rows(b.start, b.stop))


def _live_block(
    rview: F32, cview: F32, nxt: I32, off: int, mass: float, max_k: int, b: slice
) -> tuple[RefRows, CandidateRows, NDArray[np.float64]]:
    rr = covering_rows(rview[b], nxt[off + b.start : off + b.stop], mass, max_k)
    cr = candidate_rows(cview[b], nxt[off + b.start : off + b.stop], rr)
    return rr, cr, full_kld_rows(rview[b], cview[b])


def _cat(parts: list[NDArray[Any] | None]) -> NDArray[Any]:
    return np.concatenate([p for p in parts if p is not None])


def _result(
    model_path: Path, et: EvalText, plan: WindowPlan, threads: int, kind: RefKind,
    ref_path: Path | None, ref_file: Reference | None, acc: _Acc, mass: float, max_k: int,
    load_s: float, elapsed_s: float,
) -> QuantResult:
    actual = _cat([c.actual_lp for c in acc.cand])
    ppl = m.perplexity(-actual)
    plain = QuantResult(
        model_path=str(model_path), model_size_bytes=model_path.stat().st_size,
        text_name=et.name, n_ctx=plan.n_ctx, n_windows=plan.n_windows,
        scored_tokens=plan.scored_tokens, threads=threads, perplexity=ppl.mean,
        perplexity_se=ppl.se, reference_kind=kind,
        reference_name=str(ref_path) if ref_path else None, mass=None, max_k=None,
        uncovered_mass=None, reference_perplexity=None, reference_perplexity_se=None,
        ln_ppl_ratio=None, ln_ppl_ratio_se=None, kld=None, kld_exact=False, kld_upper=None,
        kld_compact=None, compact_error=None, same_top_rate=None,
        same_top_se=None, delta_p_mean=None, delta_p_se=None, delta_p_rms=None,
        delta_p_top_mean=None, delta_p_top_se=None, load_s=load_s, elapsed_s=elapsed_s,
        scored_tps=plan.scored_tokens / max(elapsed_s, 1e-9),
    )
    if kind == "none":
        return plain
    if ref_file is not None:
        rows, mass, max_k = ref_file.rows, ref_file.meta.mass, ref_file.meta.max_k
    else:
        rows = RefRows.concat(acc.ref)
    return with_reference(
        plain, rows, mass, max_k, actual, _cat([c.argmax for c in acc.cand]),
        _cat([c.lp_at_top for c in acc.cand]), _cat([c.kld_lower for c in acc.cand]),
        _cat([c.kld_upper for c in acc.cand]), _cat(list(acc.full)) if acc.full else None,
    )


def with_reference(
    plain: QuantResult, ref: RefRows, mass: float, max_k: int, actual: NDArray[np.float64],
    argmax: NDArray[np.int32], lp_at_top: NDArray[np.float64], kld_lower: NDArray[np.float64],
    kld_upper: NDArray[np.float64] | None, full_vals: NDArray[np.float64] | None = None,
) -> QuantResult:
    """`plain` (perplexity only) with the metrics against the reference's records: per
    position the candidate's actual-token log-prob, argmax, log-prob on the reference's top
    token and the compact KLD's bounds (upper: None where unknown), and the exact KLD when
    the reference ran alongside."""
    compact = m.kld_stats(kld_lower)
    ref_actual = ref.actual_lp
    ref_ppl = m.perplexity(-ref_actual)
    ratio = m.ln_ppl_ratio(-actual, -ref_actual)
    same = m.same_top(ref.top_ids, argmax)
    dp = m.delta_p(actual, ref_actual)
    dp_all = np.exp(actual) - np.exp(ref_actual)
    dpt = m.delta_p(lp_at_top, ref.top_lp.astype(np.float64))
    exact = full_vals is not None
    upper = None
    if not exact and kld_upper is not None and kld_upper.size:
        upper = max(float(np.mean(kld_upper)), compact.mean)
    return replace(
        plain, mass=mass, max_k=max_k,
        uncovered_mass=ref.uncovered_mass,
        reference_perplexity=ref_ppl.mean, reference_perplexity_se=ref_ppl.se,
        ln_ppl_ratio=ratio.mean, ln_ppl_ratio_se=ratio.se,
        kld=m.kld_stats(full_vals) if full_vals is not None else compact, kld_exact=exact,
        kld_upper=upper, kld_compact=compact,
        compact_error=m.compact_error(kld_lower, full_vals) if full_vals is not None else None,
        same_top_rate=same.mean, same_top_se=same.se, delta_p_mean=dp.mean, delta_p_se=dp.se,
        delta_p_rms=float(np.sqrt(np.mean(dp_all * dp_all))),
        delta_p_top_mean=dpt.mean, delta_p_top_se=dpt.se,
    )
