"""Read GuideLLM's benchmarks report (benchmarks.json or .yaml) into an ImportedRun.

Schemas, from GuideLLM's src/guidellm/benchmark/ over its releases:
- v2 (0.7 and later): {"metadata": {"version": 2, "guidellm_version", "python_version",
  "platform"}, "config": {...}, "benchmarks": [...]}, each benchmark with
  config.strategy ({"type_": synchronous|concurrent|throughput|constant|poisson, streams, rate,
  max_concurrency}), config.backend ({kind, target, model}), metrics, scheduler_metrics.
- v1 (0.5, 0.6): the same benchmarks with "metadata": {"version": 1} and top-level "args".
- 0.4: top-level "args" and no metadata.
- legacy (0.2, 0.3): benchmarks with args.strategy, worker.backend_model/backend_target,
  request_totals beside metrics.
Each metric (requests_per_second, request_latency, time_to_first_token_ms, ...) is a status
breakdown {successful, errored, incomplete, total} of distribution summaries {mean, median,
std_dev, min, max, count, percentiles: {p001 ... p999}}. Tests take the successful requests'
summaries; the whole metrics block is kept in each test's extra.
"""

from __future__ import annotations

import importlib
import json
from datetime import UTC, datetime
from typing import Any, TypeGuard

from tokbench.errors import TokbenchError
from tokbench.interop.parsing import (
    check_depth,
    check_size,
    check_tests,
    dumps,
    get_path,
    load_json,
    opt_float,
    opt_int,
    opt_str,
    sha256_text,
    strip_bom,
)
from tokbench.interop.records import ImportedRun, ImportedTest, Summary

TOOL = "guidellm"
# YAML decodes about ten times slower than JSON and in several times the memory, even with
# libyaml; above this a report imports faster as JSON, which GuideLLM writes as readily.
MAX_YAML_BYTES = 32 * 2**20
KNOWN_VERSIONS = (1, 2)
_STATUS = ("successful", "errored", "incomplete", "total")


def looks_like(value: Any) -> bool:
    """Whether decoded JSON/YAML is a GuideLLM report: a benchmarks list of metric blocks."""
    benchmarks = value.get("benchmarks") if isinstance(value, dict) else None
    return isinstance(benchmarks, list) and (
        not benchmarks
        or any(isinstance(b, dict) and isinstance(b.get("metrics"), dict) for b in benchmarks)
        or isinstance(value.get("metadata"), dict)
    )


def _load_yaml(text: str) -> Any:
    try:
        # Imported by name: PyYAML is optional here and ships no type stubs.
        yaml = importlib.import_module("yaml")
    except ImportError as exc:
        raise TokbenchError(
            "reading a GuideLLM YAML report needs PyYAML (pip install pyyaml); "
            "its JSON report works without it"
        ) from exc
    try:
        # GuideLLM dumps fresh dicts, so its reports hold no aliases; refusing them stops a
        # small file from expanding without bound.
        # libyaml's loader where PyYAML was built with it: the pure-Python one took 349 s
        # on a 17.8 MB report.
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        if any(isinstance(ev, yaml.AliasEvent) for ev in yaml.parse(text, Loader=loader)):
            raise TokbenchError(
                "the YAML file uses aliases, which GuideLLM reports do not; tokbench refuses them"
            )
        value = yaml.load(text, Loader=loader)  # a safe loader, chosen above
    except RecursionError as exc:
        raise TokbenchError("the GuideLLM YAML report nests too deeply") from exc
    except yaml.YAMLError as exc:
        raise TokbenchError(f"the GuideLLM report is not valid YAML ({exc})") from exc
    except ValueError as exc:  # an integer of thousands of digits (int_max_str_digits)
        raise TokbenchError(
            f"the GuideLLM YAML report holds a number too long to read ({exc})"
        ) from exc
    check_depth(value, "GuideLLM YAML", text_keys=True)
    return value


def _percentile_of(key: str) -> float | None:
    # GuideLLM names percentiles p001 (0.1), p01 (1) ... p99 (99), p999 (99.9).
    digits = key[1:]
    if not key.startswith("p") or not digits.isdigit():
        return None
    return int(digits) / 10 if len(digits) == 3 else float(int(digits))


def _summary(dist: Any) -> Summary | None:
    if not isinstance(dist, dict):
        return None
    pct = dist.get("percentiles")
    pairs = []
    if isinstance(pct, dict):
        for key, value in pct.items():
            p, v = _percentile_of(str(key)), opt_float(value)
            if p is not None and v is not None:
                pairs.append((p, v))
    return Summary(
        mean=opt_float(dist.get("mean")),
        median=opt_float(dist.get("median")),
        sd=opt_float(dist.get("std_dev")),
        min=opt_float(dist.get("min")),
        max=opt_float(dist.get("max")),
        count=opt_int(dist.get("count")),
        percentiles=tuple(pairs),
    )


def _is_status_summary(value: Any) -> TypeGuard[dict[str, Any]]:
    return isinstance(value, dict) and isinstance(value.get("successful"), dict)


def _strategy(bench: dict[str, Any]) -> dict[str, Any]:
    s = get_path(bench, "config", "strategy") or get_path(bench, "args", "strategy")
    return s if isinstance(s, dict) else {}


def _name(strategy: dict[str, Any]) -> str:
    kind = opt_str(strategy.get("type_")) or "unknown"
    if kind == "concurrent" and strategy.get("streams") is not None:
        return f"serve concurrent@{strategy['streams']}"
    if kind in ("constant", "poisson") and opt_float(strategy.get("rate")) is not None:
        return f"serve {kind}@{opt_float(strategy['rate']):g}"
    if kind == "throughput" and strategy.get("max_concurrency") is not None:
        return f"serve throughput max{strategy['max_concurrency']}"
    return f"serve {kind}"


def _iso(epoch: Any) -> str | None:
    seconds = opt_float(epoch)
    # Up to the year 9999: beyond, and NaN or infinity, are not times (marked missing).
    if seconds is None or not 0 < seconds < 253402300800:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def _test(bench: dict[str, Any], index: int) -> ImportedTest:
    metrics = bench.get("metrics")
    if not isinstance(metrics, dict) or not any(_is_status_summary(v) for v in metrics.values()):
        raise TokbenchError(f"GuideLLM benchmark {index} has no metrics block")
    strategy = _strategy(bench)

    def successful(name: str) -> Summary | None:
        value = metrics.get(name)
        return _summary(value.get("successful")) if _is_status_summary(value) else None

    totals = metrics.get("request_totals") or bench.get("request_totals") or {}
    totals = totals if isinstance(totals, dict) else {}
    out_tps = successful("output_tokens_per_second")
    rps = successful("requests_per_second")
    total_tps = successful("tokens_per_second")
    mapped = ("time_to_first_token_ms", "time_per_output_token_ms", "inter_token_latency_ms")
    others = tuple(
        (name, s)
        for name, value in metrics.items()
        if name not in mapped
        and _is_status_summary(value)
        and (s := _summary(value["successful"])) is not None
    )
    concurrency = opt_float(strategy.get("streams") or strategy.get("max_concurrency"))
    params = tuple(
        (f"strategy.{k}", v if isinstance(v, str) else json.dumps(v)) for k, v in strategy.items()
    ) + tuple((f"requests.{k}", str(totals[k])) for k in _STATUS if k in totals)
    extra = {k: v for k, v in bench.items() if k != "requests"}
    return ImportedTest(
        name=_name(strategy),
        kind="serve",
        mean_tps=out_tps.mean if out_tps else None,
        sd_tps=out_tps.sd if out_tps else None,
        n=opt_int(totals.get("successful")),
        ttft_ms=successful("time_to_first_token_ms"),
        tpot_ms=successful("time_per_output_token_ms"),
        itl_ms=successful("inter_token_latency_ms"),
        request_throughput_rps=rps.mean if rps else None,
        output_throughput_tps=out_tps.mean if out_tps else None,
        total_throughput_tps=total_tps.mean if total_tps else None,
        concurrency=concurrency,
        request_rate_rps=opt_float(strategy.get("rate")),
        completed=opt_int(totals.get("successful")),
        failed=opt_int(totals.get("errored")),
        duration_s=opt_float(bench.get("duration")),
        summaries=others,
        params=params,
        extra=dumps(extra),
    )


def _sampled_requests(bench: dict[str, Any]) -> int:
    requests = bench.get("requests")
    if not isinstance(requests, dict):
        return 0
    return sum(len(v) for v in requests.values() if isinstance(v, list))


def _backend(report: dict[str, Any], bench: dict[str, Any]) -> tuple[str | None, str | None]:
    """Model and target (the server's URL), wherever this schema version put them."""
    found: dict[str, str] = {}
    for source in (
        get_path(bench, "config", "backend"),
        {
            "model": get_path(bench, "worker", "backend_model"),
            "target": get_path(bench, "worker", "backend_target"),
        },
        get_path(report, "config", "spec", "backend"),
        get_path(report, "config", "backend"),
        get_path(report, "args"),
    ):
        if isinstance(source, dict):
            for key in ("model", "target"):
                if found.get(key) is None and opt_str(source.get(key)):
                    found[key] = str(source[key])
    return found.get("model"), found.get("target")


def _schema(report: dict[str, Any], notes: list[str]) -> str:
    version = get_path(report, "metadata", "version")
    if isinstance(version, int) and not isinstance(version, bool):
        if version > max(KNOWN_VERSIONS):
            notes.append(
                f"GuideLLM report schema version {version} is newer than this reader knows "
                f"({max(KNOWN_VERSIONS)}): imported its required fields"
            )
        return f"v{version}"
    if "metadata" in report:
        notes.append(
            f"GuideLLM report schema version {version!r} is unknown: imported its required fields"
        )
        return "unknown"
    return "0.4" if "args" in report else "legacy"


def parse_value(report: Any, text: str, fmt: str) -> ImportedRun:
    """Build the run from an already decoded report (JSON or YAML)."""
    if not isinstance(report, dict) or not isinstance(report.get("benchmarks"), list):
        raise TokbenchError("this GuideLLM file has no 'benchmarks' list")
    benchmarks = report["benchmarks"]
    if not benchmarks:
        raise TokbenchError("the GuideLLM report holds no benchmarks")
    check_tests(len(benchmarks), "GuideLLM report")
    for i, bench in enumerate(benchmarks):
        if not isinstance(bench, dict):
            raise TokbenchError(f"GuideLLM benchmark {i + 1} is not an object")
    notes: list[str] = []
    schema = _schema(report, notes)
    tests = tuple(_test(b, i + 1) for i, b in enumerate(benchmarks))
    sampled = sum(_sampled_requests(b) for b in benchmarks)
    if sampled:
        notes.append(f"{sampled} per-request records were not imported; summaries were")
    backends = [_backend(report, b) for b in benchmarks]
    models = {model for model, _ in backends}
    targets = {target for _, target in backends}
    starts = sorted(
        t
        for t in (
            _iso(
                b.get("start_time")
                or get_path(b, "scheduler_metrics", "measure_start_time")
                or get_path(b, "run_stats", "start_time")
            )
            for b in benchmarks
        )
        if t
    )
    top = {k: v for k, v in report.items() if k != "benchmarks"}
    top["schema"] = schema
    return ImportedRun(
        source_tool=TOOL,
        source_version=opt_str(get_path(report, "metadata", "guidellm_version")),
        format=fmt,
        file_sha256=sha256_text(text),
        model=models.pop() if len(models) == 1 else None,
        tests=tests,
        platform=opt_str(get_path(report, "metadata", "platform")),
        server_url=targets.pop() if len(targets) == 1 else None,
        created_at=starts[0] if starts else None,
        extra=dumps(top),
        notes=tuple(notes),
    )


def parse(text: str) -> ImportedRun:
    """A GuideLLM report as JSON, or as YAML when it is not JSON."""
    text = strip_bom(text)
    check_size(text, "GuideLLM")
    if text.lstrip().startswith("{"):
        return parse_value(load_json(text, "GuideLLM"), text, "guidellm-json")
    return parse_yaml(text)


def parse_yaml(text: str) -> ImportedRun:
    text = strip_bom(text)
    check_size(text, "GuideLLM")
    if len(text) > MAX_YAML_BYTES:
        raise TokbenchError(
            f"the GuideLLM YAML report is larger than {MAX_YAML_BYTES // 2**20} MiB, which "
            "tokbench reads too slowly: import its JSON report (GuideLLM's --output-path "
            "benchmarks.json)"
        )
    return parse_value(_load_yaml(text), text, "guidellm-yaml")
