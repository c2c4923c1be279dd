"""Entry points: `build_reference()` writes a reference model's compact top-k file once;
`evaluate()` scores a candidate GGUF alone (perplexity), against such a file (top-k KLD), or
against a reference GGUF run alongside (full KLD, and the top-k KLD error beside it)."""

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

from tokbench.backends.embedded import _quiet_llama_logs
from tokbench.errors import TokbenchError
from tokbench.hardware.host import physical_cores
from tokbench.paths import cache_dir
from tokbench.quant import kld as m
from tokbench.quant.reference import (
    FORMAT,
    Reference,
    ReferenceMeta,
    check_reference,
    file_sha256,
    load_reference,
    save_reference,
    tokens_sha256,
)
from tokbench.quant.score import (
    F32,
    I32,
    CandidateRows,
    TopKRows,
    WindowDecoder,
    WindowPlan,
    candidate_rows,
    full_kld_rows,
    plan_windows,
    row_blocks,
    tokenize,
    topk_rows,
    vocab_info,
)
from tokbench.quant.text import EvalText, load_text

Progress = Callable[[int, int], None]  # (windows done, windows in all)
RefKind = Literal["none", "file", "live", "http"]
DEFAULT_CTX = 512
DEFAULT_TOP_K = 32


def sha_cache_file() -> Path:
    """Where model files' sha256 are remembered (by path, size and mtime)."""
    return cache_dir() / "sha256.json"


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
    top_k: int | None
    reference_perplexity: float | None
    reference_perplexity_se: float | None
    ln_ppl_ratio: float | None  # ln(PPL(Q)/PPL(ref)), paired standard error below
    ln_ppl_ratio_se: float | None
    kld: m.KldStats | None  # full KLD in live mode, top-k KLD against a reference file
    kld_topk: m.KldStats | None
    topk_error: m.TopkKldError | None  # live mode only
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
    _quiet_llama_logs()
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


def build_reference(
    model_path: Path | str,
    out_path: Path | str,
    text: EvalText | str | Path | None = None,
    n_ctx: int = DEFAULT_CTX,
    chunks: int | None = None,
    threads: int | None = None,
    top_k: int = DEFAULT_TOP_K,
    *,
    progress: Progress | None = None,
    sha_cache: Path | None = None,
) -> ReferenceSummary:
    """Score `model_path` over the text and write its compact top-k reference to `out_path`."""
    model_path, out_path = Path(model_path), Path(out_path)
    if top_k < 1:
        raise TokbenchError(f"--top-k {top_k}: must be at least 1")
    et = _as_text(text)
    threads = threads or physical_cores()
    t0 = time.perf_counter()
    with ExitStack() as stack:
        s = _setup(stack, model_path, et, n_ctx, chunks, threads)
        dec = stack.enter_context(WindowDecoder(s.llm, s.llm.n_batch))
        pool = stack.enter_context(ThreadPoolExecutor(threads))
        t1 = time.perf_counter()
        parts: list[TopKRows] = []
        for i in _windows(s.plan, progress):
            nxt = _next_tokens(s.plan, s.tokens, i)
            for off, view in dec.decode(s.plan.window(s.tokens, i), s.plan.first):
                job = partial(_ref_block, view, nxt, off, top_k)
                parts.extend(pool.map(job, row_blocks(view.shape[0])))
        t2 = time.perf_counter()
    meta = ReferenceMeta(
        format=FORMAT, model_sha256=file_sha256(model_path, sha_cache or sha_cache_file()),
        model_name=model_path.name,
        model_size_bytes=model_path.stat().st_size, text_sha256=et.sha256, text_name=et.name,
        tokens_sha256=tokens_sha256(s.tokens[: s.plan.n_windows * n_ctx]), n_ctx=n_ctx,
        top_k=int(parts[0].top_ids.shape[1]), n_vocab=s.n_vocab, vocab_fingerprint=s.fingerprint,
        n_windows=s.plan.n_windows, scored_per_window=s.plan.scored_per_window,
    )
    ref = Reference(
        meta,
        np.concatenate([p.actual_lp for p in parts]),
        np.concatenate([p.top_ids for p in parts]),
        np.concatenate([p.top_lp for p in parts]),
        np.concatenate([p.rest_lp for p in parts]),
    )
    size = save_reference(out_path, ref)
    ppl = m.perplexity(-ref.actual_lp)
    return ReferenceSummary(str(out_path), size, meta, ppl.mean, ppl.se, t1 - t0, t2 - t1,
                            s.plan.scored_tokens / max(t2 - t1, 1e-9))


@dataclass(slots=True)
class _Acc:
    """Per-position records gathered window by window."""

    actual: list[NDArray[np.float64]]
    argmax: list[NDArray[np.int32]]
    lp_at_ref: list[NDArray[np.float32]]
    rest: list[NDArray[np.float32]]
    ref: list[TopKRows]  # live mode: the reference's records
    full: list[NDArray[np.float64]]  # live mode: exact KLD


def evaluate(
    model_path: Path | str,
    text: EvalText | str | Path | None = None,
    n_ctx: int = DEFAULT_CTX,
    chunks: int | None = None,
    threads: int | None = None,
    reference: Path | str | None = None,
    *,
    top_k: int = DEFAULT_TOP_K,
    progress: Progress | None = None,
) -> QuantResult:
    """Score `model_path`; `reference` is a reference file from `build_reference()` or a
    reference GGUF evaluated alongside (then `top_k` sets the top-k KLD measured beside the
    full one). Without a reference only perplexity is measured."""
    model_path = Path(model_path)
    et = _as_text(text)
    threads = threads or physical_cores()
    ref_path = Path(reference) if reference is not None else None
    kind: RefKind = "none" if ref_path is None else "live" if _is_gguf(ref_path) else "file"
    ref_file: Reference | None = None
    if ref_path is not None and kind == "file":
        ref_file = load_reference(ref_path)
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
        acc = _Acc([], [], [], [], [], [])
        per = s.plan.scored_per_window
        for i in _windows(s.plan, progress):
            nxt = _next_tokens(s.plan, s.tokens, i)
            window = s.plan.window(s.tokens, i)
            if ref_dec is None:
                for off, view in dec.decode(window, s.plan.first):
                    ids = None if ref_file is None else ref_file.top_ids[i * per : (i + 1) * per]
                    job = partial(_cand_block, view, nxt, off, ids)
                    for cr in pool.map(job, row_blocks(view.shape[0])):
                        _add(acc, cr)
            else:
                steps = zip(ref_dec.decode(window, s.plan.first), dec.decode(window, s.plan.first),
                            strict=True)
                for (off, rview), (_o, cview) in steps:
                    live_job = partial(_live_block, rview, cview, nxt, off, top_k)
                    for tk, cr, full in live_pool.map(live_job, row_blocks(rview.shape[0])):
                        acc.ref.append(tk)
                        _add(acc, cr)
                        acc.full.append(full)
        t2 = time.perf_counter()
    return _result(model_path, et, s.plan, threads, kind, ref_path, ref_file, acc, top_k,
                   t1 - t0, t2 - t1)


# Row blocks run on a thread pool (numpy releases the GIL), as llama-perplexity spreads its
# softmax over worker threads: one block's temporaries are ROWS full-vocabulary rows.


def _ref_block(view: F32, nxt: I32, off: int, k: int, b: slice) -> TopKRows:
    return topk_rows(view[b], nxt[off + b.start : off + b.stop], k)


def _cand_block(view: F32, nxt: I32, off: int, ids: I32 | None, b: slice) -> CandidateRows:
    lo, hi = off + b.start, off + b.stop
    ref_ids = np.zeros((hi - lo, 0), dtype=np.int32) if ids is None else ids[lo:hi]
    return candidate_rows(view[b], nxt[lo:hi], ref_ids)


def _live_block(
    rview: F32, cview: F32, nxt: I32, off: int, k: int, b: slice
) -> tuple[TopKRows, CandidateRows, NDArray[np.float64]]:
    tk = topk_rows(rview[b], nxt[off + b.start : off + b.stop], k)
    cr = candidate_rows(cview[b], nxt[off + b.start : off + b.stop], tk.top_ids)
    return tk, cr, full_kld_rows(rview[b], cview[b])


def _add(acc: _Acc, r: CandidateRows) -> None:
    acc.actual.append(r.actual_lp)
    acc.argmax.append(r.argmax)
    acc.lp_at_ref.append(r.lp_at_ref)
    acc.rest.append(r.rest_lp)


def _result(
    model_path: Path, et: EvalText, plan: WindowPlan, threads: int, kind: RefKind,
    ref_path: Path | None, ref_file: Reference | None, acc: _Acc, top_k: int,
    load_s: float, elapsed_s: float,
) -> QuantResult:
    actual = np.concatenate(acc.actual)
    ppl = m.perplexity(-actual)
    plain = QuantResult(
        model_path=str(model_path), model_size_bytes=model_path.stat().st_size,
        text_name=et.name, n_ctx=plan.n_ctx, n_windows=plan.n_windows,
        scored_tokens=plan.scored_tokens, threads=threads, perplexity=ppl.mean,
        perplexity_se=ppl.se, reference_kind=kind,
        reference_name=str(ref_path) if ref_path else None, top_k=None,
        reference_perplexity=None, reference_perplexity_se=None, ln_ppl_ratio=None,
        ln_ppl_ratio_se=None, kld=None, kld_topk=None, topk_error=None, same_top_rate=None,
        same_top_se=None, delta_p_mean=None, delta_p_se=None, delta_p_rms=None,
        delta_p_top_mean=None, delta_p_top_se=None, load_s=load_s, elapsed_s=elapsed_s,
        scored_tps=plan.scored_tokens / max(elapsed_s, 1e-9),
    )
    if kind == "none":
        return plain
    if ref_file is not None:
        ref_actual, ref_top_ids = ref_file.actual_lp, ref_file.top_ids
        ref_top_lp, ref_rest = ref_file.top_lp, ref_file.rest_lp
        k = ref_file.meta.top_k
    else:
        ref_actual = np.concatenate([r.actual_lp for r in acc.ref])
        ref_top_ids = np.concatenate([r.top_ids for r in acc.ref])
        ref_top_lp = np.concatenate([r.top_lp for r in acc.ref])
        ref_rest = np.concatenate([r.rest_lp for r in acc.ref])
        k = int(ref_top_ids.shape[1])
    full_vals = np.concatenate(acc.full) if acc.full else None
    return with_reference(plain, k, ref_actual, ref_top_ids, ref_top_lp, ref_rest, actual,
                          np.concatenate(acc.argmax), np.concatenate(acc.lp_at_ref),
                          np.concatenate(acc.rest), full_vals)


def with_reference(
    plain: QuantResult, k: int, ref_actual: NDArray[np.float64], ref_top_ids: NDArray[np.int32],
    ref_top_lp: NDArray[np.float32], ref_rest: NDArray[np.float32],
    actual: NDArray[np.float64], argmax: NDArray[np.int32], lp_at_ref: NDArray[np.floating],
    cand_rest: NDArray[np.floating], full_vals: NDArray[np.float64] | None = None,
) -> QuantResult:
    """`plain` (perplexity only) with the metrics against the reference's records: per
    position the candidate's actual-token log-prob, argmax, log-probs on the reference's
    top-k ids and its rest bucket (and the exact KLD, when the reference ran alongside)."""
    topk_vals = m.topk_kld(ref_top_lp, ref_rest, lp_at_ref, cand_rest)
    kld_topk = m.kld_stats(topk_vals)
    ref_ppl = m.perplexity(-ref_actual)
    ratio = m.ln_ppl_ratio(-actual, -ref_actual)
    same = m.same_top(ref_top_ids[:, 0], argmax)
    dp = m.delta_p(actual, ref_actual)
    dp_all = np.exp(actual) - np.exp(ref_actual)
    dpt = m.delta_p(lp_at_ref[:, 0].astype(np.float64), ref_top_lp[:, 0].astype(np.float64))
    return replace(
        plain, top_k=k, reference_perplexity=ref_ppl.mean, reference_perplexity_se=ref_ppl.se,
        ln_ppl_ratio=ratio.mean, ln_ppl_ratio_se=ratio.se,
        kld=m.kld_stats(full_vals) if full_vals is not None else kld_topk,
        kld_topk=kld_topk,
        topk_error=m.topk_error(topk_vals, full_vals) if full_vals is not None else None,
        same_top_rate=same.mean, same_top_se=same.se, delta_p_mean=dp.mean, delta_p_se=dp.se,
        delta_p_rms=float(np.sqrt(np.mean(dp_all * dp_all))),
        delta_p_top_mean=dpt.mean, delta_p_top_se=dpt.se,
    )
