"""The speed side of a quant's choice: its file size, the bytes it reads per generated
token (GGUF analysis), the decode bound on this host (measured bandwidth / bytes per token,
`hardware.bandwidth`) and its decode tok/s: measured by the comparison itself (`measure_decode`,
the embedded engine with the comparison's threads), else the newest run or bench of the
same file in the store."""

from __future__ import annotations

from pathlib import Path

from tokbench.backends.embedded import EmbeddedBackend
from tokbench.backends.embedded_bench import EmbeddedBench
from tokbench.core.config import BenchTest, EngineSettings
from tokbench.core.records import BENCH_KINDS, RunInfo, stop_rules
from tokbench.errors import TokbenchError
from tokbench.gguf.analysis import analyze
from tokbench.gguf.reader import read_model
from tokbench.hardware.bandwidth import speed_bound
from tokbench.quant.view import DecodeSpeed, ModelSpeed
from tokbench.results.bench import summarize_bench, summarize_imported
from tokbench.results.summary import summarize_run
from tokbench.store.database import Store

RUNS_SEARCHED = 500  # the newest runs looked at for a measured decode speed
DECODE_TEST = BenchTest("tg", 32)  # llama-bench's way: generated tokens, timed alone
DECODE_REPS = 3


def measure_decode(path: Path, threads: int) -> DecodeSpeed:
    """Decode tok/s of `path` on the embedded engine: DECODE_REPS repetitions of
    DECODE_TEST after one untimed warm-up, with `threads` threads."""
    backend = EmbeddedBackend(path, EngineSettings(threads=threads, n_ctx=DECODE_TEST.n + 16))
    try:
        bench = EmbeddedBench(backend)
        bench.measure(DECODE_TEST, -1)  # warm-up: page the weights in
        values = []
        for rep in range(DECODE_REPS):
            sample = bench.measure(DECODE_TEST, rep)
            if sample.status != "ok" or sample.tps is None:
                raise TokbenchError(f"could not measure the decode speed of {path.name}: "
                                    f"{sample.note or sample.status}")
            values.append(sample.tps)
    finally:
        backend.close()
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return DecodeSpeed(mean, (var / len(values)) ** 0.5)


def _resolved(path: str | None) -> str | None:
    if not path:
        return None
    try:
        return str(Path(path).resolve())
    except OSError:
        return path


def file_speed(path: Path) -> ModelSpeed:
    """Size, bytes per token and the bound here of one GGUF (no measured speed yet)."""
    size = path.stat().st_size if path.is_file() else None
    try:
        bpt: float | None = analyze(read_model(path)).bytes_per_token
    except (TokbenchError, OSError):
        bpt = None
    bound = speed_bound(str(path))
    return ModelSpeed(str(path), size, bpt, bound.bandwidth_gbs if bound else None,
                      bound.bound_tps if bound else None, None, None)


def measured_decode(store: Store, paths: list[str]) -> dict[str, tuple[float, str]]:
    """path -> (decode tok/s, run id): the newest run or bench of the same file (its target's
    `gguf_path` resolves to the same file, or a bench names the model by the file's stem)."""
    want = {p: _resolved(p) for p in paths}
    stems = {p: Path(p).stem for p in paths}
    found: dict[str, tuple[float, str]] = {}
    for run in store.runs(RUNS_SEARCHED):  # newest first
        if run.kind == "quant" or len(found) == len(want):
            continue
        for name, target in run.targets.items():
            hit = [p for p, r in want.items() if p not in found and (
                (r is not None and _resolved(target.gguf_path) == r)
                or (run.kind == "bench" and name == stems[p]))]
            if not hit:
                continue
            tps = _decode_of(store, run, name)
            if tps is not None:
                for p in hit:
                    found[p] = (tps, run.id)
    return found


def _decode_of(store: Store, run: RunInfo, model: str) -> float | None:
    if run.kind in BENCH_KINDS:
        samples = store.bench_samples(run.id)
        summary = (summarize_imported(store.imported_tests(run.id), samples) if run.source
                   else summarize_bench(samples, stop_rules(run)))
        tests = summary.tests
        tg = next((t for t in tests if t.model == model and t.test.startswith("tg") and t.mean),
                  None)
        return tg.mean if tg else None
    mean = summarize_run(store.requests(run.id)).overall["decode_tps"].mean
    return float(mean) if mean is not None else None


def speeds(store: Store | None, paths: list[str]) -> list[ModelSpeed]:
    """Each file's speed facts, with the store's measured decode tok/s where it has one."""
    measured = measured_decode(store, paths) if store is not None else {}
    out = []
    for p in paths:
        s = file_speed(Path(p))
        m = measured.get(p)
        out.append(ModelSpeed(s.path, s.size_bytes, s.bytes_per_token, s.bandwidth_gbs,
                              s.bound_tps, m[0] if m else None, m[1] if m else None))
    return out
