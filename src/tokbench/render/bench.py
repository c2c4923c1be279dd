"""Benchmark results as a llama-bench-shaped Markdown table, rich tables, CSV and JSON."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from typing import Any

from rich.console import Group
from rich.table import Table

from tokbench.core.records import RunInfo, Target
from tokbench.hardware.calibration import decode_efficiency, efficiency
from tokbench.render.energy import BUSY, joules, no_power_line, run_lines
from tokbench.render.numbers import DASH, num
from tokbench.render.safe import csv_cell, md, md_row
from tokbench.results.bench import BenchSummary, TestRow


def _target(run: RunInfo, model: str) -> Target:
    return run.targets.get(model) or Target()


def _size(t: Target) -> str:
    b = t.gguf_bytes
    return f"{b / 2**30:.2f} GiB" if b else DASH


def _params(t: Target) -> str:
    p = t.n_params
    if not p:
        return str(t.details.get("parameter_size") or DASH)
    return f"{p / 1e9:.2f} B" if p >= 1e9 else f"{p / 1e6:.2f} M"


def _bound(run: RunInfo, r: TestRow) -> tuple[float | None, float | None]:
    """The test's decode bound here (when a bandwidth was measured) and the share of it
    reached: generation tests only (`tg128`, `tg128 @ d512`), since the bound is one of
    decoding; prompt processing is compute-bound and no prefill bound is computed."""
    target = run.targets.get(r.model)
    if target is None or not r.test.startswith("tg"):
        return None, None
    return target.bound_tps, decode_efficiency(r.test, r.mean, target.bound_tps)


WIDE_CI_PCT = 10.0  # a 95 % CI half-width above this share of the mean is marked


def wide_ci(r: TestRow) -> bool:
    """The row's 95 % CI is too wide to read the figure by (half-width > WIDE_CI_PCT % of
    the mean)."""
    if r.ci_low is None or r.ci_high is None or not r.mean:
        return False
    return (r.ci_high - r.ci_low) / 2 > WIDE_CI_PCT / 100 * abs(r.mean)


def wide_ci_line(s: BenchSummary) -> str | None:
    """One line under the table when any row is marked wide, saying how to narrow it."""
    n = sum(wide_ci(r) for r in s.tests)
    if not n:
        return None
    return (
        f"{n} row(s) marked 'wide CI': the 95% CI half-width is over {WIDE_CI_PCT:.0f} % of "
        "the mean; measure again with --until-ci 5 (repeats until the CI is within 5 %) or "
        "more repetitions (-r 10)."
    )


def _pct(eta: float | None) -> str:
    return DASH if eta is None else f"{eta:.0%}"


def _tps(r: TestRow) -> str:
    if r.mean is None:
        return DASH
    return f"{r.mean:.2f} ± {r.sd:.2f}" if r.sd is not None else f"{r.mean:.2f}"


def _ci(r: TestRow) -> str:
    return DASH if r.ci_low is None else f"{r.ci_low:.2f} – {r.ci_high:.2f}"


ENERGY_FIELDS = (
    "j_per_token",
    "avg_power_w",
    "energy_n",
    "energy_approximate",
    "busy",
    "host_monitored",
)


def _has_energy(run: RunInfo, s: BenchSummary) -> bool:
    return run.energy is not None or any(r.energy_n or r.host_monitored for r in s.tests)


def _energy_columns(run: RunInfo, s: BenchSummary) -> bool:
    """Printed tables get energy columns only with a power source (CSV keeps them all)."""
    return _has_energy(run, s) and (run.energy is None or run.energy.has_power)


def energy_cells(r: TestRow) -> list[str]:
    """J per token of the test's named part, average watts, the host's load."""
    approx = r.energy_approximate > 0
    host = DASH
    if r.host_monitored:
        host = f"{BUSY} ({r.busy}/{r.host_monitored})" if r.busy else "quiet"
    return [joules(r.j_per_token, approx, 3), joules(r.avg_power_w, approx, 1), host]


ENERGY_HEAD = ("J/token", "W", "host load")


def markdown(run: RunInfo, s: BenchSummary) -> str:
    lines = [
        "| model | size | params | backend | threads | test | t/s | 95% CI | n |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in s.tests:
        t = _target(run, r.model)
        backend = run.backend if t.backend_kind is None else t.backend_kind
        threads = t.threads or DASH
        lines.append(
            md_row(
                [
                    run.model_label(r.model),
                    _size(t),
                    _params(t),
                    backend,
                    threads,
                    r.test,
                    _tps(r),
                    _ci(r) + (" (wide)" if wide_ci(r) else ""),
                    r.n,
                ]
            )
        )
    if line := wide_ci_line(s):
        lines += ["", line]
    if s.concurrency:
        lines += [
            "",
            "| model | test | streams | per-stream t/s | aggregate t/s | TTFT p50 ms | p90 | p99 "
            "| failed |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for c in s.concurrency:
            lines.append(
                md_row(
                    [
                        run.model_label(c.model),
                        c.test,
                        c.concurrency,
                        num(c.per_stream_tps, 2),
                        num(c.aggregate_tps, 2),
                        num(c.ttft_p50_ms, 0),
                        num(c.ttft_p90_ms, 0),
                        num(c.ttft_p99_ms, 0),
                        c.failed,
                    ]
                )
            )
    if s.more_tests:
        lines += ["", more_tests_line(run, s)]
    for d in s.drift:
        lines += ["", md(drift_sentence(d))]
    if run.energy is not None and not run.energy.has_power:
        lines += ["", f"- {md(no_power_line(run.energy))}"]
    elif _energy_columns(run, s):
        lines += [
            "",
            "| model | test | " + " | ".join(ENERGY_HEAD) + " |",
            "| --- | ---: | ---: | ---: | --- |",
        ]
        lines += [md_row([run.model_label(r.model), r.test, *energy_cells(r)]) for r in s.tests]
        if run.energy:
            lines += [""] + [f"- {line}" for line in run_lines(run.energy)]
        lines.append(
            "- J/token counts the test's named part: prompt tokens for ppN, generated for tgN; "
            "~ marks approximate energy."
        )
    return "\n".join(lines) + "\n"


def more_tests_line(run: RunInfo, s: BenchSummary) -> str:
    return f"{s.more_tests:,} more tests not shown (the file imported into {run.id} has them)."


def drift_sentence(d: Any) -> str:
    if d.slope_tps_per_min is None:
        return f"Drift ({d.model}, {d.test}): too few samples ({d.n}) for a slope."
    verdict = (
        "significant slowdown"
        if d.slowdown
        else "no significant slowdown"
        if d.ci_low is not None and d.ci_low <= 0
        else "speeding up"
    )
    return (
        f"Drift ({d.model}, {d.test}, {d.n} runs): {d.slope_tps_per_min:+.3f} t/s per minute "
        f"(95% CI {d.ci_low:+.3f} to {d.ci_high:+.3f}): {verdict}; first {d.first_tps:.2f}, "
        f"last {d.last_tps:.2f} t/s."
    )


def table_view(run: RunInfo, s: BenchSummary) -> Group:
    t = Table(title=f"bench {run.id}  {run.status}", title_justify="left")
    for col in ("model", "test"):
        t.add_column(col, no_wrap=True)
    for col in (
        "t/s (mean ± sd)",
        "95% CI",
        "n",
        "server t/s",
        "bound t/s",
        "η",
        "warm-up",
        "stop",
    ):
        t.add_column(col, justify="right")
    energy = _energy_columns(run, s)
    if energy:
        for col in ENERGY_HEAD:
            t.add_column(col, justify="left" if col == "host load" else "right")
    t.add_column("notes")
    for r in s.tests:
        flags = []
        if r.short:
            flags.append(f"{r.short} short")
        if r.errors:
            flags.append(f"{r.errors} failed")
        if wide_ci(r):
            flags.append("wide CI")
        bound, eta = _bound(run, r)
        if bound and eta is not None and (hint := efficiency(r.mean or 0, bound)[1]):
            flags.append(hint)
        t.add_row(
            run.model_label(r.model),
            r.test,
            _tps(r),
            _ci(r),
            str(r.n),
            num(r.server_mean, 2),
            num(bound, 2),
            _pct(eta),
            str(r.warmups),
            r.stop_rule or DASH,
            *(energy_cells(r) if energy else []),
            "; ".join([*flags, *r.notes]),
        )
    caption = run_lines(run.energy) if run.energy else []
    if s.more_tests:
        caption.append(more_tests_line(run, s))
    if caption:
        t.caption = "\n".join(caption)
    parts: list[Any] = [t]
    if s.concurrency:
        c = Table(title="Concurrency", title_justify="left")
        for col in (
            "model",
            "test",
            "streams",
            "per-stream t/s",
            "aggregate t/s",
            "TTFT p50 ms",
            "p90",
            "p99",
            "failed",
        ):
            c.add_column(col, justify="right" if col not in ("model", "test") else "left")
        for row in s.concurrency:
            c.add_row(
                run.model_label(row.model),
                row.test,
                str(row.concurrency),
                num(row.per_stream_tps, 2),
                num(row.aggregate_tps, 2),
                num(row.ttft_p50_ms, 0),
                num(row.ttft_p90_ms, 0),
                num(row.ttft_p99_ms, 0),
                str(row.failed),
            )
        parts.append(c)
    if line := wide_ci_line(s):
        parts.append(line)
    parts += [drift_sentence(d) for d in s.drift]
    return Group(*parts)


def to_json(run: RunInfo, s: BenchSummary) -> dict[str, Any]:
    return {
        "run": run.to_json(),
        "tests": [
            {
                **_test_dict(r),
                **dict(zip(("bound_tps", "efficiency"), _bound(run, r), strict=True)),
            }
            for r in s.tests
        ],
        "concurrency": [asdict(c) for c in s.concurrency],
        "drift": [asdict(d) for d in s.drift],
        # only where the view left tests out (a big imported run)
        **({"more_tests": s.more_tests} if s.more_tests else {}),
    }


def _test_dict(r: TestRow) -> dict[str, Any]:
    """A test row; its energy keys only when it measured energy or the host's load."""
    d = asdict(r)
    if not (r.energy_n or r.host_monitored):
        for k in ENERGY_FIELDS:
            d.pop(k)
    return d


def _energy_values(run: RunInfo, r: TestRow) -> tuple[Any, ...]:
    source = run.energy.power_source if run.energy else None
    return (source, *(getattr(r, k) for k in ENERGY_FIELDS))


def to_csv(run: RunInfo, s: BenchSummary) -> str:
    energy = _has_energy(run, s)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        [
            "run_id",
            "model",
            "size_bytes",
            "n_params",
            "backend",
            "threads",
            "test",
            "tps_mean",
            "tps_sd",
            "ci_low",
            "ci_high",
            "n",
            "server_tps",
            "warmups",
            "short",
            "errors",
            "stop_rule",
            "bound_tps",
            "efficiency",
            *(("power_source", *ENERGY_FIELDS) if energy else ()),
        ]
    )
    for r in s.tests:
        t = _target(run, r.model)
        w.writerow(
            map(
                csv_cell,
                [
                    run.id,
                    r.model,
                    t.gguf_bytes,
                    t.n_params,
                    t.backend_kind,
                    t.threads,
                    r.test,
                    r.mean,
                    r.sd,
                    r.ci_low,
                    r.ci_high,
                    r.n,
                    r.server_mean,
                    r.warmups,
                    r.short,
                    r.errors,
                    r.stop_rule,
                    *_bound(run, r),
                    *(_energy_values(run, r) if energy else ()),
                ],
            )
        )
    return buf.getvalue()
