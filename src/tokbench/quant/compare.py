"""`tokbench quant` in one call: the reference (built once and cached, or a given file),
each candidate scored against it, each model's speed facts, and the stored run of kind
"quant". Everything is measured before anything is stored, so a bad candidate stores
nothing. `load_quant` reads a stored comparison back in the same shape."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokbench.core.records import (
    QuantSettings,
    RunInfo,
    Target,
    utc_now,
)
from tokbench.errors import TokbenchError
from tokbench.hardware.host import physical_cores
from tokbench.paths import cache_dir
from tokbench.quant import kld as m
from tokbench.quant.evaluate import (
    DEFAULT_CTX,
    DEFAULT_TOP_K,
    QuantResult,
    build_reference,
    evaluate,
    sha_cache_file,
)
from tokbench.quant.reference import (
    Reference,
    check_reference,
    file_sha256,
    load_reference,
)
from tokbench.quant.speed import speeds
from tokbench.quant.text import load_text
from tokbench.quant.view import ModelSpeed, QuantView
from tokbench.store.database import Store, new_run_info
from tokbench.store.ledger import this_host
from tokbench.store.quant import quant_reference, quant_results, save_quant_run

# (what: "reference" or a candidate's file name, windows done, windows in all)
Progress = Callable[[str, int, int], None]


def is_gguf(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(4) == b"GGUF"
    except OSError:
        return False


def reference_cache_path(model: Path, model_sha: str, text_sha: str, n_ctx: int,
                         chunks: int | None, top_k: int) -> Path:
    key = hashlib.sha256(
        f"{model_sha}|{text_sha}|{n_ctx}|{chunks or 'all'}|{top_k}".encode()
    ).hexdigest()[:16]
    return cache_dir() / "quant-references" / f"{model.stem}-{key}.npz"


def _copy(src: Path, dst: Path) -> int:
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp")
    try:
        shutil.copyfile(src, tmp)
        tmp.replace(dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dst.stat().st_size


def _split_models(
    models: list[str], reference_file: Path | None
) -> tuple[Path | None, Path | None, list[Path]]:
    """(reference GGUF, reference file, candidates): the first argument is the reference,
    a GGUF or a compact reference file."""
    if not models:
        raise TokbenchError("give the reference model (or reference file) and the candidates")
    first = Path(models[0])
    if not first.is_file():
        raise TokbenchError(f"model file not found: {first}")
    ref_model: Path | None = first
    if not is_gguf(first):
        if reference_file is not None:
            raise TokbenchError(f"{first} is not a GGUF file (the reference model comes first)")
        ref_model, reference_file = None, first
    cands = [Path(c) for c in models[1:]]
    for c in cands:
        if not c.is_file():
            raise TokbenchError(f"model file not found: {c}")
        if not is_gguf(c):
            raise TokbenchError(f"{c} is not a GGUF file")
    return ref_model, reference_file, cands


@dataclass(slots=True)
class _Ref:
    path: Path
    ref: Reference
    source: str  # built | cache | file
    build_s: float | None


def _reference(
    ref_model: Path | None, reference_file: Path | None, *, text: Any, n_ctx: int,
    chunks: int | None, top_k: int, threads: int, progress: Progress | None,
) -> _Ref:
    sha_cache = sha_cache_file()
    if reference_file is not None:
        ref = load_reference(reference_file)
        if ref_model is not None:
            sha = file_sha256(ref_model, sha_cache)
            if sha != ref.meta.model_sha256:
                raise TokbenchError(
                    f"reference file {reference_file} was built from {ref.meta.model_name} "
                    f"(sha256 {ref.meta.model_sha256[:12]}…), not from {ref_model.name} "
                    f"(sha256 {sha[:12]}…)"
                )
        return _Ref(reference_file, ref, "file", None)
    assert ref_model is not None
    sha = file_sha256(ref_model, sha_cache)
    cached = reference_cache_path(ref_model, sha, text.sha256, n_ctx, chunks, top_k)
    if cached.is_file():
        try:
            ref = load_reference(cached)
            if ref.meta.model_sha256 == sha and ref.meta.text_sha256 == text.sha256:
                return _Ref(cached, ref, "cache", None)
        except TokbenchError:
            pass  # damaged: built again below
    step = (lambda d, n: progress("reference", d, n)) if progress else None
    summary = build_reference(ref_model, cached, text=text, n_ctx=n_ctx, chunks=chunks,
                              threads=threads, top_k=top_k, progress=step, sha_cache=sha_cache)
    return _Ref(cached, load_reference(cached), "built", summary.load_s + summary.elapsed_s)


def _row(position: int, r: QuantResult, sha: str, text_sha: str) -> dict[str, Any]:
    k, topk = r.kld, r.kld_topk
    return {
        "position": position,
        "model_path": r.model_path,
        "model_sha256": sha,
        "size_bytes": r.model_size_bytes,
        "reference_kind": r.reference_kind,
        "reference_name": r.reference_name,
        "text_sha256": text_sha,
        "n_ctx": r.n_ctx,
        "windows": r.n_windows,
        "scored_tokens": r.scored_tokens,
        "top_k": r.top_k,
        "threads": r.threads,
        "perplexity": r.perplexity,
        "perplexity_se": r.perplexity_se,
        "reference_perplexity": r.reference_perplexity,
        "ln_ppl_ratio": r.ln_ppl_ratio,
        "ln_ppl_ratio_se": r.ln_ppl_ratio_se,
        "kld_mean": k.mean if k else None,
        "kld_se": k.se if k else None,
        "kld_median": k.median if k else None,
        "kld_p90": k.p90 if k else None,
        "kld_p99": k.p99 if k else None,
        "kld_max": k.max if k else None,
        "kld_is_topk": r.reference_kind == "file",
        "topk_kld_mean": topk.mean if topk else None,
        "topk_rel_error": r.topk_error.mean_rel if r.topk_error else None,
        "same_top": r.same_top_rate,
        "same_top_se": r.same_top_se,
        "delta_p_mean": r.delta_p_mean,
        "delta_p_se": r.delta_p_se,
        "delta_p_rms": r.delta_p_rms,
        "delta_p_top_mean": r.delta_p_top_mean,
        "delta_p_top_se": r.delta_p_top_se,
        "load_s": r.load_s,
        "elapsed_s": r.elapsed_s,
        "scored_tps": r.scored_tps,
    }


def _target(s: ModelSpeed, n_ctx: int, threads: int) -> Target:
    return Target(
        backend_kind="embedded", gguf_path=s.path, gguf_bytes=s.size_bytes, n_ctx=n_ctx,
        threads=threads, bandwidth_gbs=s.bandwidth_gbs,
        bytes_per_token=round(s.bytes_per_token) if s.bytes_per_token else None,
        bound_tps=s.bound_tps,
    )


def _targets(paths: list[str], sp: dict[str, ModelSpeed], n_ctx: int,
             threads: int) -> dict[str, Target]:
    out: dict[str, Target] = {}
    for p in paths:
        name = Path(p).stem
        if name in out and out[name].gguf_path != p:
            name = Path(p).name if Path(p).name not in out else p
        out[name] = _target(sp[p], n_ctx, threads)
    return out


def compare_quants(
    models: list[str],
    *,
    reference_file: Path | None = None,
    save_reference: Path | None = None,
    text: Path | None = None,
    n_ctx: int = DEFAULT_CTX,
    chunks: int | None = None,
    top_k: int = DEFAULT_TOP_K,
    full_kld: bool = False,
    threads: int | None = None,
    store: Store | None = None,
    progress: Progress | None = None,
) -> QuantView:
    """Score each candidate of `models` (the first is the reference GGUF or reference file)
    against the reference and store the comparison as a run of kind "quant" in `store`.
    With no candidate, only the reference is built (and saved with `save_reference`)."""
    started_at = utc_now()
    ref_model, reference_file, cands = _split_models(models, reference_file)
    if not cands and save_reference is None:
        raise TokbenchError("give at least one candidate GGUF after the reference")
    if full_kld and ref_model is None:
        raise TokbenchError("--full-kld runs the reference model beside each candidate: "
                            "give the reference GGUF, not only a reference file")
    if top_k < 1:
        raise TokbenchError(f"--top-k {top_k}: must be at least 1")
    threads = threads or physical_cores()
    et = load_text(text)
    ref = _reference(ref_model, reference_file, text=et, n_ctx=n_ctx, chunks=chunks,
                     top_k=top_k, threads=threads, progress=progress)
    meta = ref.ref.meta
    check_reference(ref.path, meta, text_sha256=et.sha256, text_name=et.name, n_ctx=n_ctx,
                    n_vocab=meta.n_vocab, vocab_fingerprint=meta.vocab_fingerprint,
                    n_windows=chunks)
    windows = min(chunks or meta.n_windows, meta.n_windows)
    used = ref.ref.head(windows)
    ppl = m.perplexity(-used.actual_lp)
    file_bytes = ref.path.stat().st_size
    if save_reference is not None and ref.path.resolve() != save_reference.resolve():
        file_bytes = _copy(ref.path, save_reference)
    reference = {
        "model_path": str(ref_model) if ref_model else None,
        "model_name": meta.model_name,
        "model_sha256": meta.model_sha256,
        "size_bytes": meta.model_size_bytes,
        "source": ref.source,
        "file_path": str(save_reference or ref.path),
        "file_bytes": file_bytes,
        "text_name": et.name,
        "text_sha256": et.sha256,
        "n_ctx": n_ctx,
        "top_k": meta.top_k,
        "windows": windows,
        "scored_tokens": windows * meta.scored_per_window,
        "perplexity": ppl.mean,
        "perplexity_se": ppl.se,
        "build_s": ref.build_s,
    }
    rows = []
    for i, cand in enumerate(cands):
        step = (lambda d, n, c=cand: progress(c.name, d, n)) if progress else None
        res = evaluate(cand, text=et, n_ctx=n_ctx, chunks=windows, threads=threads,
                       reference=ref_model if full_kld else ref.path, top_k=meta.top_k,
                       progress=step)
        rows.append(_row(i, res, file_sha256(cand, sha_cache_file()), et.sha256))
    paths = ([str(ref_model)] if ref_model else []) + [str(c) for c in cands]
    sp = {s.path: s for s in speeds(store, list(dict.fromkeys(paths)))}
    if not cands or store is None:
        return QuantView(None, reference, rows, sp)
    settings = QuantSettings(
        reference_model=str(ref_model) if ref_model else None,
        reference_sha256=meta.model_sha256, reference_name=meta.model_name,
        reference_file=str(save_reference or ref.path), reference_source=ref.source,
        text_name=et.name, text_sha256=et.sha256, n_ctx=n_ctx, chunks=chunks,
        n_windows=windows, top_k=meta.top_k, full_kld=full_kld, threads=threads,
    )
    run = new_run_info(
        "quant", settings, this_host(), backend="embedded", model=Path(meta.model_name).stem,
        targets=_targets(list(dict.fromkeys(paths)), sp, n_ctx, threads), status="done",
        created_at=started_at, finished_at=utc_now(),
    )
    save_quant_run(store, run, reference, rows)
    return QuantView(run, reference, rows, sp)


def load_quant(store: Store, run: RunInfo) -> QuantView:
    """A stored comparison, with each model's speed facts as the store knows them now."""
    reference = quant_reference(store, run.id)
    if run.kind != "quant" or reference is None:
        raise TokbenchError(f"run {run.id} is not a quant comparison")
    rows = quant_results(store, run.id)
    paths = ([reference["model_path"]] if reference.get("model_path") else []) + [
        r["model_path"] for r in rows
    ]
    paths = list(dict.fromkeys(paths))
    found = {s.path: s for s in speeds(store, paths)}
    by_path = {t.gguf_path: t for t in run.targets.values() if t.gguf_path}
    out = {}
    for p in paths:
        s, t = found[p], by_path.get(p)
        if s.size_bytes is None and t is not None:  # the file is gone: what the run saw
            s = ModelSpeed(p, t.gguf_bytes, t.bytes_per_token, t.bandwidth_gbs, t.bound_tps,
                           s.decode_tps, s.decode_run)
        out[p] = s
    return QuantView(run, reference, rows, out)


def load_quants(store: Store, runs: list[RunInfo]) -> list[QuantView]:
    """The quant comparisons among `runs`, in their order."""
    return [load_quant(store, r) for r in runs if r.kind == "quant"]
