"""How long does `tokbench import` take on a big file, and how much memory? And `show` and
`report` of the run it makes?

Writes one file of about --mb megabytes per format (llama-bench json, jsonl, csv, sql and md
with a thread sweep, a vLLM --save-detailed result, GuideLLM JSON and YAML with sampled
requests), then runs `tokbench import`, `show --json` and `report` on each in a fresh
process and prints the file size, seconds and peak RSS of each step.

Target (issue 20): a 100 MB file imports in under 30 s and under 1 GB; show and report of
the run it makes stay bounded.

Usage: python bench/big_import.py [--mb 100] [--formats llama-bench-json,guidellm-yaml]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parents[1] / "src"
FIXTURE = Path(__file__).resolve().parents[1] / "tests/interop/fixtures/sweep_threads.json"


def llama_records() -> Iterator[dict[str, Any]]:
    """Endless llama-bench records: a real one with n_prompt growing and threads 1..4."""
    base = json.loads(FIXTURE.read_text())[0]
    i = 0
    while True:
        yield {**base, "n_prompt": 16 + i // 4, "n_threads": 1 + i % 4, "avg_ts": 100.0 + i % 7}
        i += 1


def _fill(target: int, pieces: Iterator[str]) -> str:
    out, size = [], 0
    for piece in pieces:
        out.append(piece)
        size += len(piece)
        if size >= target:
            break
    return "".join(out)


def llama_json(target: int) -> str:
    body = _fill(target, (json.dumps(r, indent=2) + ",\n" for r in llama_records()))
    return "[\n" + body.rstrip(",\n") + "\n]\n"


def llama_jsonl(target: int) -> str:
    return _fill(target, (json.dumps(r) + "\n" for r in llama_records()))


def _flat(r: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in r.items() if k not in ("samples_ns", "samples_ts")}


def llama_csv(target: int) -> str:
    fields = list(_flat(next(llama_records())))
    head = io.StringIO()
    csv.writer(head).writerow(fields)

    def rows() -> Iterator[str]:
        yield head.getvalue()
        for r in llama_records():
            line = io.StringIO()
            csv.writer(line).writerow([_flat(r)[f] for f in fields])
            yield line.getvalue()

    return _fill(target, rows())


def llama_sql(target: int) -> str:
    def rows() -> Iterator[str]:
        yield "CREATE TABLE IF NOT EXISTS llama_bench (x TEXT);\n"
        for r in llama_records():
            flat = _flat(r)
            values = ", ".join(
                f"'{v}'" if isinstance(v, str) else str(int(v) if isinstance(v, bool) else v)
                for v in flat.values()
            )
            yield f"INSERT INTO llama_bench ({', '.join(flat)}) VALUES ({values});\n"

    return _fill(target, rows())


def llama_md(target: int) -> str:
    def rows() -> Iterator[str]:
        yield "| model | size | params | backend | threads | test | t/s |\n"
        yield "| --- | ---: | ---: | --- | ---: | ---: | ---: |\n"
        for r in llama_records():
            yield (
                f"| gemma3 270M Q4_K - Medium | 235.16 MiB | 268.10 M | CPU | {r['n_threads']} "
                f"| pp{r['n_prompt']} | {r['avg_ts']:.2f} ± 0.00 |\n"
            )

    return _fill(target, rows()) + "\nbuild: unknown (0)\n"


def vllm(target: int) -> str:
    """One --save-detailed result whose per-request lists make up the size."""
    n = max(1, target // 260)
    result = {
        "date": "20260101-120000", "backend": "vllm", "model_id": "m", "tokenizer_id": "m",
        "num_prompts": n, "request_rate": "inf", "burstiness": 1.0, "max_concurrency": 8,
        "duration": 100.0, "completed": n, "failed": 0, "total_input_tokens": n * 100,
        "total_output_tokens": n * 20, "request_throughput": 9.0, "output_throughput": 180.0,
        "total_token_throughput": 1000.0, "mean_ttft_ms": 50.0, "median_ttft_ms": 48.0,
        "p99_ttft_ms": 90.0, "mean_tpot_ms": 10.0, "median_tpot_ms": 10.0, "p99_tpot_ms": 12.0,
        "input_lens": [100] * n, "output_lens": [20] * n, "ttfts": [0.05] * n,
        "itls": [[0.0101] * 20 for _ in range(n)], "generated_texts": ["hello world"] * n,
        "errors": [""] * n,
    }  # fmt: skip
    return json.dumps(result)


def _guidellm(target: int) -> dict[str, Any]:
    def dist(mean: float) -> dict[str, Any]:
        return {
            "mean": mean, "median": mean, "std_dev": 1.0, "min": 0.0, "max": 2 * mean,
            "count": 10, "percentiles": {"p50": mean, "p90": mean, "p99": mean},
        }  # fmt: skip

    def status(mean: float) -> dict[str, Any]:
        return {k: dist(mean) for k in ("successful", "errored", "incomplete", "total")}

    request = {
        "request_id": "0" * 36, "request_type": "text_completions", "prompt_tokens": 100,
        "output_tokens": 20, "start_time": 1767225600.0, "end_time": 1767225601.0,
        "first_token_time": 1767225600.05, "time_to_first_token_ms": 50.0,
        "inter_token_latency_ms": 10.0, "prompt": "word " * 40, "output": "token " * 20,
    }  # fmt: skip
    per_bench = max(1, target // (len(json.dumps(request)) + 4) // 4)
    bench = {
        "config": {"strategy": {"type_": "concurrent", "streams": 4}},
        "metrics": {
            "output_tokens_per_second": status(200.0),
            "requests_per_second": status(9.0),
            "time_to_first_token_ms": status(50.0),
            "inter_token_latency_ms": status(10.0),
        },
        "request_totals": {"successful": per_bench, "errored": 0, "incomplete": 0},
        "start_time": 1767225600.0,
        "duration": 30.0,
        "requests": {
            # distinct objects: YAML would write one object repeated as aliases
            "successful": [dict(request) for _ in range(per_bench)],
            "errored": [],
            "incomplete": [],
        },
    }
    benches = []
    for streams in (1, 2, 4, 8):
        # deep copies: YAML would write an object met twice as an alias
        copy = json.loads(json.dumps(bench))
        copy["config"]["strategy"]["streams"] = streams
        benches.append(copy)
    return {"metadata": {"version": 2, "guidellm_version": "0.8.1"}, "benchmarks": benches}


def guidellm_json(target: int) -> str:
    return json.dumps(_guidellm(target), indent=2)


def guidellm_yaml(target: int) -> str:
    import yaml

    text: str = yaml.dump(_guidellm(target), Dumper=yaml.CSafeDumper, sort_keys=False)
    return text


FORMATS: dict[str, tuple[str, Callable[[int], str]]] = {
    "llama-bench-json": ("lb.json", llama_json),
    "llama-bench-jsonl": ("lb.jsonl", llama_jsonl),
    "llama-bench-csv": ("lb.csv", llama_csv),
    "llama-bench-sql": ("lb.sql", llama_sql),
    "llama-bench-md": ("lb.md", llama_md),
    "vllm-bench-serve": ("vllm.json", vllm),
    "guidellm-json": ("benchmarks.json", guidellm_json),
    "guidellm-yaml": ("benchmarks.yaml", guidellm_yaml),
}


@dataclass(frozen=True)
class Cost:
    wall_s: float
    cpu_s: float
    peak_mib: float
    proc: subprocess.CompletedProcess[str]

    def cells(self) -> str:
        return f"{self.wall_s:7.1f} {self.cpu_s:6.1f} {self.peak_mib:6.0f}"


def timed(args: list[str], env: dict[str, str]) -> Cost:
    """Wall seconds, CPU seconds and peak RSS of one fresh tokbench process. On a busy box
    the CPU seconds are the fairer figure: wall time there is mostly waiting for a core."""
    code = (
        "import resource, sys, runpy; sys.argv = ['tokbench', *sys.argv[1:]]\n"
        "try:\n    runpy.run_module('tokbench', run_name='__main__')\n"
        "finally:\n"
        "    use = resource.getrusage(resource.RUSAGE_SELF)\n"
        # VmHWM is this program's own peak; ru_maxrss would also count the (big) parent
        # process it was forked from
        "    hwm = [ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmHWM')]\n"
        "    print('PEAK_KB', hwm[0], use.ru_utime + use.ru_stime, file=sys.stderr)\n"
    )
    start = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    line = next((ln.split() for ln in r.stderr.splitlines() if ln.startswith("PEAK_KB")), None)
    return Cost(wall, float(line[2]) if line else 0.0, int(line[1]) / 1024 if line else 0.0, r)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=100.0)
    ap.add_argument("--formats", default=",".join(FORMATS))
    args = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    print(f"load average before: {os.getloadavg()}")
    step = f"{'wall s':>7} {'cpu s':>6} {'MiB':>6}"
    print(f"{'format':<20} {'MB':>6} | import {step} | show {step} | report {step}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.formats.split(","):
            filename, make = FORMATS[name]
            path = Path(tmp) / filename
            path.write_text(make(int(args.mb * 1e6)))
            mb = path.stat().st_size / 1e6
            db = str(Path(tmp) / f"{name}.db")
            imp = timed(["import", str(path), "--json", "--db", db], env)
            if imp.proc.returncode != 0:
                said = imp.proc.stderr.strip().splitlines()[0][:120]
                print(f"{name:<20} {mb:6.1f} | {imp.cells()} | refused: {said}", flush=True)
                continue
            run_id = json.loads(imp.proc.stdout)[0]["run_id"]
            show = timed(["show", run_id, "--json", "--db", db], env)
            rep = timed(["report", run_id, "-o", str(Path(tmp) / "r.html"), "--db", db], env)
            bad = [n for n, c in (("show", show), ("report", rep)) if c.proc.returncode]
            print(
                f"{name:<20} {mb:6.1f} | {imp.cells()} | {show.cells()} | {rep.cells()}"
                + (f"  failed: {bad}" if bad else ""),
                flush=True,
            )
            path.unlink()
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
