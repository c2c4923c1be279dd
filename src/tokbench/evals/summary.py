"""An eval run's results per benchmark, from its stored requests: the estimate of the
full-set accuracy, what counted wrong and why, and the speed and energy it took; the
published scores shown beside it; and how long a run takes, before it runs."""

from __future__ import annotations

import re
import statistics
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from tokbench.core.records import EvalPlan, RequestRecord, RunInfo, RunSettings
from tokbench.evals.answers import THINKING_ONLY, TRUNCATED
from tokbench.evals.estimate import Estimate, estimate

CUT = "cut by the time box"  # a request's error when --max-time ended it mid-answer


@dataclass(frozen=True, slots=True)
class BenchmarkResult:
    benchmark: str
    estimate: Estimate
    planned: int  # items the run meant to ask
    truncated: int  # counted wrong: the token limit hit
    thinking_only: int  # counted wrong: no answer after the thinking
    failed: int  # requests that failed: not graded, not in the estimate
    cut: int  # ended by the time box: not graded, asked again on --resume
    decode_tps: float | None  # median over the graded answers
    j_per_token: float | None  # energy over output tokens, where energy was measured


def benchmark_of(item_id: str) -> str:
    return item_id.split("/", 1)[0]


def latest(records: list[RequestRecord]) -> dict[str, RequestRecord]:
    """Each item's last try (a cut item asked again on resume has a later rep)."""
    out: dict[str, RequestRecord] = {}
    for r in sorted(records, key=lambda r: r.rep):
        out[r.item_id] = r
    return out


def is_cut(record: RequestRecord) -> bool:
    return record.status == "error" and (record.error or "").startswith(CUT)


def summarize(
    plan: EvalPlan, records: list[RequestRecord], planned: dict[str, int] | None = None
) -> list[BenchmarkResult]:
    by_bench: dict[str, list[RequestRecord]] = {b: [] for b in plan.benchmarks}
    for r in latest(records).values():
        by_bench.setdefault(benchmark_of(r.item_id), []).append(r)
    out = []
    for bench, recs in by_bench.items():
        graded = [r for r in recs if r.grade is not None and r.grade.verdict in ("pass", "fail")]
        correct = sum(1 for r in graded if r.grade is not None and r.grade.verdict == "pass")
        reasons = [r.grade.reason for r in graded if r.grade is not None]
        tps = [r.metrics.decode_tps for r in graded if r.metrics and r.metrics.decode_tps]
        metered = [r for r in recs if r.energy and r.energy.energy_j is not None and r.metrics]
        joules = sum(r.energy.energy_j or 0.0 for r in metered if r.energy)
        tokens = sum(r.metrics.completion_tokens or 0 for r in metered if r.metrics)
        out.append(
            BenchmarkResult(
                bench,
                estimate(correct, len(graded), plan.populations.get(bench, len(graded))),
                (planned or {}).get(bench, len(recs)),
                sum(1 for x in reasons if x.startswith(TRUNCATED)),
                sum(1 for x in reasons if x.startswith(THINKING_ONLY)),
                sum(1 for r in recs if r.status == "error" and not is_cut(r)),
                sum(1 for r in recs if is_cut(r)),
                statistics.median(tps) if tps else None,
                joules / tokens if metered and tokens else None,
            )
        )
    return out


def summarize_run(run: RunInfo, records: list[RequestRecord]) -> list[BenchmarkResult]:
    """A stored eval run's results ([] for any other run)."""
    cfg = run.config
    if run.kind != "eval" or not isinstance(cfg, RunSettings) or cfg.eval is None:
        return []
    planned: dict[str, int] = {}
    for i in cfg.items:
        planned[benchmark_of(i.id)] = planned.get(benchmark_of(i.id), 0) + 1
    return summarize(cfg.eval, records, planned)


# ------------------------------------------------------------------ published scores
# Published scores (data/published.toml) found for a model name, to show beside its estimate.


@dataclass(frozen=True, slots=True)
class Published:
    model: str
    benchmark: str
    accuracy_pct: float
    setting: str
    source: str
    match: tuple[str, ...]
    exclude: tuple[str, ...]


@cache
def _published_doc() -> dict[str, Any]:
    text = resources.files("tokbench.evals").joinpath("data/published.toml").read_text("utf-8")
    return tomllib.loads(text)


@cache
def ollama_libraries() -> dict[str, str]:
    """Ollama library name -> the checkpoint its size tags stand for ('' for none measured)."""
    return {o["library"]: o["means"] for o in _published_doc().get("ollama", [])}


@cache
def published_scores() -> tuple[Published, ...]:
    return tuple(
        Published(
            s["model"],
            s["benchmark"],
            float(s["accuracy"]),
            s["setting"],
            s["source"],
            tuple(s["match"]),
            tuple(s.get("exclude", ())),
        )
        for s in _published_doc()["score"]
    )


def normalized(name: str) -> str:
    """'Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf' -> 'meta-llama-3.1-8b-instruct-q4-k-m'."""
    base = re.split(r"[\\/]", name)[-1].lower()
    return re.sub(r"[\s_]+", "-", base.removesuffix(".gguf"))


def checkpoint_name(model: str) -> str | None:
    """The name published rows are matched against: an Ollama library name (`qwen2.5:7b`)
    becomes the checkpoint its tag stands for (`qwen2.5-7b-instruct`); None where Ollama's
    tag stands for no measured checkpoint (a pre-trained `-text` tag, an unknown size, a
    library whose tags are later checkpoints or distills)."""
    name = normalized(model)
    library, colon, tag = name.partition(":")
    if not colon or "/" in model or library not in ollama_libraries():
        return name
    size = tag.split("-")[0]
    means = ollama_libraries()[library]
    if not means or not re.fullmatch(r"\d+(\.\d+)?[bm]", size) or re.search(r"-(text|base)\b", tag):
        return None
    return means.format(size=size)


def published_for(model: str | None, benchmark: str) -> Published | None:
    """The row whose longest `match` the model name contains, unless an `exclude` word is in it."""
    name = checkpoint_name(model) if model else None
    if not name:
        return None
    best: tuple[int, Published] | None = None
    for p in published_scores():
        if p.benchmark != benchmark or any(x in name for x in p.exclude):
            continue
        for key in p.match:
            if key in name and (best is None or len(key) > best[0]):
                best = (len(key), p)
    return best[1] if best else None


# -------------------------------------------------------------- time, before asking
# How long an eval takes, before it runs: items × (prompt at prefill speed + reply at decode
# speed). A reasoning model's reply is mostly thinking: the seed's R1 wrote 500-2,000 tokens
# an answer, so the estimate is given for that range.
SEED_DECODE_TPS = 1.5  # the seed's DeepSeek-R1 IQ2_XXS on four DDR4 channels
SEED_REPLY_TOKENS = (500, 1000, 2000)


@dataclass(frozen=True, slots=True)
class TimeEstimate:
    items: int
    reply_tokens: int
    prompt_tokens: int
    decode_tps: float
    prefill_tps: float | None  # None: prefill not counted (the estimate is a lower bound)

    @property
    def seconds(self) -> float:
        per_item = self.reply_tokens / self.decode_tps
        if self.prefill_tps:
            per_item += self.prompt_tokens / self.prefill_tps
        return self.items * per_item


def estimates(
    items: int,
    decode_tps: float,
    prefill_tps: float | None,
    prompt_tokens: int,
    reply_tokens: tuple[int, ...] = SEED_REPLY_TOKENS,
) -> list[TimeEstimate]:
    return [TimeEstimate(items, r, prompt_tokens, decode_tps, prefill_tps) for r in reply_tokens]
