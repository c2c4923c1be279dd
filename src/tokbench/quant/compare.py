"""`tokbench quant` in one call: the reference (built once and cached, or a given file),
each candidate scored against it, each model's speed facts, and the stored run of kind
"quant". Everything is measured before anything is stored, so a bad candidate stores
nothing; the run's created_at is when the comparison started, finished_at when it ended.
`load_quant` reads a stored comparison back in the same shape."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from tokbench.core.records import (
    QuantSettings,
    RunInfo,
    Target,
    utc_now,
)
from tokbench.errors import TokbenchError
from tokbench.gguf.identity import file_sha256, sha_cache_file
from tokbench.hardware.probe import physical_cores
from tokbench.paths import cache_dir
from tokbench.quant import kld as m
from tokbench.quant.evaluate import (
    DEFAULT_CTX,
    DEFAULT_MASS,
    DEFAULT_MAX_K,
    build_reference,
    check_coverage,
    evaluate,
)
from tokbench.quant.reference import (
    Reference,
    check_reference,
    check_writable,
    load_reference,
)
from tokbench.quant.rows import result_row
from tokbench.quant.speed import measure_decode, speeds
from tokbench.quant.text import EvalText, load_text
from tokbench.quant.view import ModelSpeed, QuantView
from tokbench.store.database import Store
from tokbench.store.ledger import new_run, this_host
from tokbench.store.quant import (
    QuantReference,
    QuantRow,
    quant_reference,
    quant_results,
    save_quant_run,
)

# (what: "reference" or a candidate's file name, windows done, windows in all)
Progress = Callable[[str, int, int], None]


def is_gguf(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(4) == b"GGUF"
    except OSError:
        return False


def reference_cache_path(model: Path, model_sha: str, text_sha: str, n_ctx: int,
                         chunks: int | None, mass: float, max_k: int) -> Path:
    key = hashlib.sha256(
        f"{model_sha}|{text_sha}|{n_ctx}|{chunks or 'all'}|{mass!r}|{max_k}".encode()
    ).hexdigest()[:16]
    return cache_dir() / "quant-references" / f"{model.stem}-{key}.npz"


def _copy(src: Path, dst: Path) -> int:
    tmp = dst.with_name(f".{dst.name}.tmp")
    try:
        shutil.copyfile(src, tmp)
        tmp.replace(dst)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise TokbenchError(f"--save-reference {dst}: cannot write it ({exc.strerror})") from None
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
    ref_model: Path | None, reference_file: Path | None, *, text: EvalText, n_ctx: int,
    chunks: int | None, mass: float, max_k: int, threads: int, progress: Progress | None,
) -> _Ref:
    sha_cache = sha_cache_file()
    max_tokens = len(text.text.encode("utf-8")) + 1  # a token holds at least one byte
    if reference_file is not None:
        ref = load_reference(reference_file, max_tokens=max_tokens)
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
    cached = reference_cache_path(ref_model, sha, text.sha256, n_ctx, chunks, mass, max_k)
    if cached.is_file():
        try:
            ref = load_reference(cached, max_tokens=max_tokens)
            if ref.meta.model_sha256 == sha and ref.meta.text_sha256 == text.sha256:
                return _Ref(cached, ref, "cache", None)
        except TokbenchError:
            pass  # damaged: built again below
    step = (lambda d, n: progress("reference", d, n)) if progress else None
    summary = build_reference(ref_model, cached, text=text, n_ctx=n_ctx, chunks=chunks,
                              threads=threads, mass=mass, max_k=max_k, progress=step,
                              sha_cache=sha_cache)
    return _Ref(cached, load_reference(cached), "built", summary.load_s + summary.elapsed_s)


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
    mass: float = DEFAULT_MASS,
    max_k: int = DEFAULT_MAX_K,
    full_kld: bool = False,
    speed: bool = True,
    threads: int | None = None,
    store: Store | None = None,
    progress: Progress | None = None,
) -> QuantView:
    """Score each candidate of `models` (the first is the reference GGUF or reference file)
    against the reference and store the comparison as a run of kind "quant" in `store`.
    With `speed`, each GGUF's decode tok/s is measured too (same engine and threads).
    With no candidate, only the reference is built (and saved with `save_reference`)."""
    started_at = utc_now()
    ref_model, reference_file, cands = _split_models(models, reference_file)
    if not cands and save_reference is None:
        raise TokbenchError("give at least one candidate GGUF after the reference")
    if full_kld and ref_model is None:
        raise TokbenchError("--full-kld runs the reference model beside each candidate: "
                            "give the reference GGUF, not only a reference file")
    check_coverage(mass, max_k)
    if save_reference is not None:
        check_writable(save_reference)
    threads = threads or physical_cores()
    et = load_text(text)
    ref = _reference(ref_model, reference_file, text=et, n_ctx=n_ctx, chunks=chunks,
                     mass=mass, max_k=max_k, threads=threads, progress=progress)
    meta = ref.ref.meta
    check_reference(ref.path, meta, text_sha256=et.sha256, text_name=et.name, n_ctx=n_ctx,
                    n_vocab=meta.n_vocab, vocab_fingerprint=meta.vocab_fingerprint,
                    n_windows=chunks)
    windows = min(chunks or meta.n_windows, meta.n_windows)
    used = ref.ref.head(windows)
    ppl = m.perplexity(-used.rows.actual_lp)
    file_bytes = ref.path.stat().st_size
    if save_reference is not None and ref.path.resolve() != save_reference.resolve():
        file_bytes = _copy(ref.path, save_reference)
    ref_speed = measure_decode(ref_model, threads) if speed and ref_model and cands else None
    reference = QuantReference(
        model_path=str(ref_model) if ref_model else None,
        model_name=meta.model_name,
        model_sha256=meta.model_sha256,
        size_bytes=meta.model_size_bytes,
        source=ref.source,
        file_path=str(save_reference or ref.path),
        file_bytes=file_bytes,
        text_name=et.name,
        text_sha256=et.sha256,
        n_ctx=n_ctx,
        top_k=meta.max_k,
        mass=meta.mass,
        uncovered_mass=used.rows.uncovered_mass,
        windows=windows,
        scored_tokens=windows * meta.scored_per_window,
        perplexity=ppl.mean,
        perplexity_se=ppl.se,
        build_s=ref.build_s,
        decode_tps=ref_speed.tps if ref_speed else None,
        decode_tps_se=ref_speed.se if ref_speed else None,
    )
    rows = []
    for i, cand in enumerate(cands):
        step = (lambda d, n, c=cand: progress(c.name, d, n)) if progress else None
        res = evaluate(cand, text=et, n_ctx=n_ctx, chunks=windows, threads=threads,
                       reference=ref_model if full_kld else ref.path, mass=meta.mass,
                       max_k=meta.max_k, progress=step)
        tps = measure_decode(cand, threads) if speed else None
        rows.append(result_row(i, res, file_sha256(cand, sha_cache_file()), et.sha256, tps))
    paths = ([str(ref_model)] if ref_model else []) + [str(c) for c in cands]
    sp = _with_measured(speeds(store, list(dict.fromkeys(paths))), reference, rows, None)
    if not cands or store is None:
        return QuantView(None, reference, rows, sp)
    settings = QuantSettings(
        reference_model=str(ref_model) if ref_model else None,
        reference_sha256=meta.model_sha256, reference_name=meta.model_name,
        reference_file=str(save_reference or ref.path), reference_source=ref.source,
        text_name=et.name, text_sha256=et.sha256, n_ctx=n_ctx, chunks=chunks,
        n_windows=windows, top_k=meta.max_k, full_kld=full_kld, threads=threads,
    )
    run = new_run(
        "quant", settings, this_host(), backend="embedded", model=Path(meta.model_name).stem,
        targets=_targets(list(dict.fromkeys(paths)), sp, n_ctx, threads), status="done",
        created_at=started_at, finished_at=utc_now(),
    )
    save_quant_run(store, run, reference, rows)
    return QuantView(run, reference, rows, _with_measured(list(sp.values()), reference, rows,
                                                          run.id))


def _with_measured(found: list[ModelSpeed], reference: QuantReference,
                   rows: list[QuantRow], run_id: str | None) -> dict[str, ModelSpeed]:
    """Each file's speed facts, with the decode tok/s the comparison measured itself
    (`run_id`: the run that did) in place of one found in the store."""
    own = {reference.model_path: reference.decode_tps} if reference.model_path else {}
    own.update((r.model_path, r.decode_tps) for r in rows)
    out = {}
    for s in found:
        tps = own.get(s.path)
        out[s.path] = s if tps is None else replace(s, decode_tps=tps, decode_run=run_id)
    return out


def load_quant(store: Store, run: RunInfo) -> QuantView:
    """A stored comparison, with each model's speed facts as the store knows them now."""
    reference = quant_reference(store, run.id)
    if run.kind != "quant" or reference is None:
        raise TokbenchError(f"run {run.id} is not a quant comparison")
    rows = quant_results(store, run.id)
    paths = ([reference.model_path] if reference.model_path else []) + [
        r.model_path for r in rows
    ]
    paths = list(dict.fromkeys(paths))
    found = _with_measured(speeds(store, paths), reference, rows, run.id)
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
