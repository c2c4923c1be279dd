"""What an imported benchmark file holds, as plain frozen values, independent of the database.

Numbers are kept exactly as the source tool wrote them: no unit conversion beyond what a field's
name says, no per-request data invented when a file only has summaries. Unknown fields are kept
as JSON text in `extra`, so nothing the file said is lost on import.
"""

from __future__ import annotations

from dataclasses import dataclass

# The kinds of test an import can hold: llama-bench's prompt processing (pp), text generation
# (tg) and combined (pp+tg) tests, and one serving benchmark (a vLLM result, a GuideLLM strategy).
TEST_KINDS = ("pp", "tg", "pp+tg", "serve")


@dataclass(frozen=True, slots=True)
class Summary:
    """A distribution summary as a tool reported it; None where the tool gave no such number.

    `percentiles` pairs a percentile (99.0, 99.9 ...) with its value, in the tool's order.
    """

    mean: float | None = None
    median: float | None = None
    sd: float | None = None
    min: float | None = None
    max: float | None = None
    count: int | None = None
    percentiles: tuple[tuple[float, float], ...] = ()

    def percentile(self, p: float) -> float | None:
        """The value at percentile `p` when the tool reported it, else None."""
        for q, value in self.percentiles:
            if q == p:
                return value
        return None


@dataclass(frozen=True, slots=True)
class ImportedTest:
    """One test of an imported file: a llama-bench row, a vLLM result, a GuideLLM benchmark.

    For llama-bench tests `mean_tps`/`sd_tps` are its avg_ts/stddev_ts and `samples_tps` its
    samples_ts (json/jsonl only). For serving tests `mean_tps` is the output token throughput the
    tool reported (sd where the tool gave one) and the latency summaries are in milliseconds.
    `params` holds the test's own settings as given (threads, n_batch, strategy ...), `extra`
    the fields tokbench does not map, as JSON text.
    """

    name: str
    kind: str
    n_prompt: int | None = None
    n_gen: int | None = None
    depth: int | None = None
    mean_tps: float | None = None
    sd_tps: float | None = None
    samples_tps: tuple[float, ...] = ()
    n: int | None = None
    ttft_ms: Summary | None = None
    tpot_ms: Summary | None = None
    itl_ms: Summary | None = None
    e2el_ms: Summary | None = None
    request_throughput_rps: float | None = None
    output_throughput_tps: float | None = None
    total_throughput_tps: float | None = None
    concurrency: float | None = None
    request_rate_rps: float | None = None  # math.inf where the tool sent all requests at once
    completed: int | None = None
    failed: int | None = None
    duration_s: float | None = None
    summaries: tuple[tuple[str, Summary], ...] = ()  # other distributions, by the tool's name
    params: tuple[tuple[str, str], ...] = ()
    extra: str = "{}"


@dataclass(frozen=True, slots=True)
class ImportedRun:
    """One imported file: who wrote it, on what model and host, and its tests.

    Host and model fields are None when the file does not say. `notes` tells the user what was
    assumed or left out (a newer schema version, per-request texts not imported ...).
    """

    source_tool: str
    source_version: str | None
    format: str
    file_sha256: str
    model: str | None
    tests: tuple[ImportedTest, ...]
    model_file: str | None = None
    model_size_bytes: int | None = None
    model_params: int | None = None
    model_quant: str | None = None
    cpu: str | None = None
    gpu: str | None = None
    backend: str | None = None
    threads: int | None = None
    n_gpu_layers: int | None = None
    build_commit: str | None = None
    build_number: int | None = None
    platform: str | None = None
    server_url: str | None = None
    created_at: str | None = None  # ISO 8601 as found in (or converted from) the file
    extra: str = "{}"
    notes: tuple[str, ...] = ()
