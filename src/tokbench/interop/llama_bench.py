"""Read llama-bench's outputs (`-o json`, `jsonl`, `csv`, `sql`, `md`) into an ImportedRun.

Field names follow llama.cpp's tools/llama-bench/llama-bench.cpp: each test is one record with
build_commit, cpu_info, gpu_info, backends, model_filename, model_type, model_size,
model_n_params, n_threads, n_prompt, n_gen, n_depth, test_time, avg_ns, stddev_ns, avg_ts,
stddev_ts and, in json/jsonl only, samples_ns and samples_ts. The markdown table has only the
display columns (`model | size | params | backend | threads | test | t/s`, more when settings
differ from the defaults) with `t/s` as "mean ± sd" rounded to two decimals, and a
`build: <commit> (<number>)` footer.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from tokbench.errors import TokbenchError
from tokbench.interop.parsing import (
    check_size,
    check_tests,
    common_value,
    dumps,
    load_json,
    opt_float,
    opt_int,
    opt_str,
    sha256_text,
    strip_bom,
)
from tokbench.interop.records import ImportedRun, ImportedTest

TOOL = "llama-bench"
FORMATS = ("json", "jsonl", "csv", "sql", "md")

# Every field llama-bench writes today plus ones older builds wrote (use_mmap, f16_kv ...);
# a field outside this set means a newer schema, which imports with a note.
KNOWN_FIELDS = frozenset(
    {
        "build_commit", "build_number", "cpu_info", "gpu_info", "backends", "model_filename",
        "model_type", "model_size", "model_n_params", "n_batch", "n_ubatch", "n_threads",
        "cpu_mask", "cpu_strict", "poll", "type_k", "type_v", "n_gpu_layers", "n_cpu_moe",
        "split_mode", "main_gpu", "no_kv_offload", "flash_attn", "devices", "tensor_split",
        "tensor_buft_overrides", "load_mode", "lazy_mode", "use_mmap", "use_direct_io",
        "embeddings", "no_op_offload", "no_host", "repack", "fit_target", "fit_min_ctx",
        "n_prompt", "n_gen", "n_depth", "test_time", "avg_ns", "stddev_ns", "avg_ts",
        "stddev_ts", "samples_ns", "samples_ts",
        # written by older builds
        "f16_kv", "cuda", "vulkan", "kompute", "metal", "sycl", "rpc", "gpu_blas", "blas",
        # tokbench's own export, and the md table's display columns
        "tokbench_n", "tokbench_unknown", "size", "params",
    }
)  # fmt: skip
# Result fields: kept as numbers on the test or in its extra, not in its params.
_RESULT_FIELDS = frozenset(
    {
        "avg_ns",
        "stddev_ns",
        "avg_ts",
        "stddev_ts",
        "samples_ns",
        "samples_ts",
        "test_time",
        "tokbench_n",
    }
)
_REQUIRED = ("n_prompt", "n_gen", "avg_ts")
_NOT_PARAMS = _RESULT_FIELDS | {"n_prompt", "n_gen", "n_depth"}
# Fields that describe the file or the result, not a test's settings: they never tell two
# rows apart (test_time differs on every row; the md table's size and params are display).
_NOT_IDENTITY = _NOT_PARAMS | {
    "build_commit", "build_number", "cpu_info", "gpu_info", "model_size", "model_n_params",
    "size", "params",
}  # fmt: skip

# The markdown table's display names for the fields it shows (llama-bench's
# get_field_display_name), so md params use the same keys as the other formats.
_MD_FIELD = {
    "ngl": "n_gpu_layers",
    "sm": "split_mode",
    "threads": "n_threads",
    "nkvo": "no_kv_offload",
    "fa": "flash_attn",
    "lm": "load_mode",
    "mmap": "use_mmap",
    "embd": "embeddings",
    "nopo": "no_op_offload",
    "noh": "no_host",
    "dev": "devices",
    "ts": "tensor_split",
    "ot": "tensor_buft_overrides",
    "fitt": "fit_target",
    "fitc": "fit_min_ctx",
    "backend": "backends",
    "model": "model_type",
}

_TEST_RE = re.compile(
    r"^(?:pp(?P<pp>\d+)(?:\+tg(?P<pg>\d+))?|tg(?P<tg>\d+))(?:\s*@\s*d(?P<d>\d+))?$"
)
_TS_RE = re.compile(
    r"^\s*(?P<mean>[-+]?[0-9.]+(?:[eE][-+]?\d+)?)\s*(?:±|\+/-)\s*"
    r"(?P<sd>[-+]?[0-9.]+(?:[eE][-+]?\d+)?|nan|-nan)\s*$"
)
_BUILD_RE = re.compile(r"^\s*build:\s*(?P<commit>\S+)\s*\((?P<number>-?\d+)\)")


def test_name(n_prompt: int, n_gen: int, depth: int = 0) -> str:
    """llama-bench's test name: pp512, tg128, pp512+tg128, with " @ d4096" for a depth."""
    if n_prompt > 0 and n_gen == 0:
        name = f"pp{n_prompt}"
    elif n_gen > 0 and n_prompt == 0:
        name = f"tg{n_gen}"
    else:
        name = f"pp{n_prompt}+tg{n_gen}"
    return f"{name} @ d{depth}" if depth > 0 else name


def parse_test_name(name: str) -> tuple[int, int, int] | None:
    """(n_prompt, n_gen, depth) from a llama-bench test name, or None when it is not one."""
    m = _TEST_RE.match(name.strip())
    if m is None:
        return None
    if m["tg"] is not None:
        n_prompt, n_gen = 0, int(m["tg"])
    else:
        n_prompt, n_gen = int(m["pp"]), int(m["pg"] or 0)
    return n_prompt, n_gen, int(m["d"] or 0)


def _kind(n_prompt: int, n_gen: int) -> str:
    if n_gen == 0:
        return "pp"
    return "tg" if n_prompt == 0 else "pp+tg"


def _quant(model_type: str | None) -> str | None:
    # llama_model_desc writes "<arch> <size> <ftype>", e.g. "gemma3 270M Q4_K - Medium".
    parts = (model_type or "").split(maxsplit=2)
    return parts[2] if len(parts) == 3 else None


def _release(build_number: int | None) -> str | None:
    # llama.cpp tags releases b<build number>; builds outside git report 0.
    return f"b{build_number}" if build_number else None


def _floats(value: Any, field: str, row: int) -> tuple[float, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value
    ):
        raise TokbenchError(f"llama-bench record {row} has a {field} that is not a list of numbers")
    return tuple(float(v) for v in value)


def _shape(rec: Mapping[str, Any], row: int) -> tuple[int, int, int]:
    """(n_prompt, n_gen, depth) of a record, which name its test."""
    missing = [f for f in _REQUIRED if rec.get(f) in (None, "")]
    if missing:
        raise TokbenchError(f"llama-bench record {row} lacks {', '.join(missing)}")
    n_prompt, n_gen = opt_int(rec["n_prompt"]), opt_int(rec["n_gen"])
    depth = opt_int(rec.get("n_depth", 0)) if rec.get("n_depth") not in (None, "") else 0
    if n_prompt is None or n_gen is None or depth is None:
        raise TokbenchError(
            f"llama-bench record {row} has a non-numeric n_prompt, n_gen or n_depth"
        )
    return n_prompt, n_gen, depth


def _text(value: Any) -> str:
    """A setting as its JSON text ("1", "true", "f16"): what params hold."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value)


def _test(
    rec: Mapping[str, Any],
    row: int,
    shape: tuple[int, int, int],
    name: str,
    pairs: dict[tuple[str, type, Any], tuple[str, str]],
) -> ImportedTest:
    """One llama-bench record (from json, jsonl, csv, sql or md) as an ImportedTest.
    `pairs` holds each (setting, value) once: a sweep of 100k rows repeats the same few.
    Its keys carry the value's type, since 1, 1.0 and True are equal as keys."""
    n_prompt, n_gen, depth = shape
    mean = opt_float(rec["avg_ts"])
    if mean is None:
        raise TokbenchError(f"llama-bench record {row} has a non-numeric avg_ts")
    samples = _floats(rec.get("samples_ts"), "samples_ts", row)
    extra = {k: rec[k] for k in ("avg_ns", "stddev_ns", "samples_ns") if k in rec}
    params = []
    for k, v in rec.items():
        if k in _NOT_PARAMS:
            continue
        if isinstance(v, list | dict):  # unhashable, and rare (older builds' lists)
            params.append((k, _text(v)))
        elif (pair := pairs.get((k, type(v), v))) is not None:
            params.append(pair)
        else:
            params.append(pairs.setdefault((k, type(v), v), (k, _text(v))))
    return ImportedTest(
        name=name,
        kind=_kind(n_prompt, n_gen),
        n_prompt=n_prompt,
        n_gen=n_gen,
        depth=depth,
        mean_tps=mean,
        sd_tps=opt_float(rec.get("stddev_ts")),
        samples_tps=samples,
        n=len(samples) if samples else opt_int(rec.get("tokbench_n")),
        params=tuple(params),
        extra=dumps(extra) if extra else "{}",
    )


def _varying(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """The settings given two values or more, in the file's field order: a sweep's axes
    (-t 1,2, -fa 0,1, -b, -ctk ...), which tell its rows apart."""
    fields = dict.fromkeys(k for rec in records for k in rec if k not in _NOT_IDENTITY)
    varying = []
    for k in fields:
        given = (v for rec in records if (v := rec.get(k)) is not None)
        first = next(given, None)
        if any(v != first for v in given):
            varying.append(k)
    if "model_filename" in varying and "model_type" in varying:
        varying.remove("model_type")  # the file names the model; its type says no more
    return varying


def _named(names: list[str], records: Sequence[Mapping[str, Any]], varying: list[str]) -> list[str]:
    """Each test named by its shape and the sweep settings it ran with ("pp16 (threads=2)"),
    so every row of a sweep is its own test; rows alike in every setting are numbered."""
    display = {v: k for k, v in _MD_FIELD.items()}
    seen: dict[str, int] = {}
    out = []
    for name, rec in zip(names, records, strict=True):
        if varying:
            shown = [f"{display.get(k, k)}={_setting(k, rec.get(k))}" for k in varying]
            name = f"{name} ({', '.join(shown)})"
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} #{seen[name]}")
    return out


def _setting(field: str, value: Any) -> str:
    if value is None:
        return "?"
    text = _text(value)
    if field == "model_filename":
        return text.replace("\\", "/").rsplit("/", 1)[-1]
    return text


def _drop_placeholders(rec: Mapping[str, Any]) -> Mapping[str, Any]:
    # tokbench's own export lists the settings it wrote as stand-ins; they are unknown again.
    unknown = rec.get("tokbench_unknown")
    if not isinstance(unknown, list):
        return rec
    drop = {str(k) for k in unknown} | {"tokbench_unknown"}
    return {k: v for k, v in rec.items() if k not in drop}


def _run(
    records: Sequence[Mapping[str, Any]], fmt: str, text: str, notes: list[str]
) -> ImportedRun:
    """Run-level fields are those every record agrees on; differing ones stay per test."""
    records = [_drop_placeholders(rec) for rec in records]
    if not records:
        raise TokbenchError(f"the llama-bench {fmt} output holds no test results")
    shapes = [_shape(rec, i + 1) for i, rec in enumerate(records)]
    names = [test_name(*shape) for shape in shapes]

    def common(field: str) -> Any:
        return common_value([rec.get(field) for rec in records])

    unknown = sorted({k for rec in records for k in rec} - KNOWN_FIELDS)
    if unknown:
        notes.append(
            f"fields newer than this reader ({', '.join(unknown)}) were kept in each test's params"
        )
    if len(set(names)) < len(names):  # a sweep: shapes alone do not tell its rows apart
        varying = _varying(records)
        if varying:
            notes.append(f"a sweep over {', '.join(varying)}: each test's name gives its values")
        names = _named(names, records, varying)
    else:
        for field in ("model_type", "n_threads", "n_gpu_layers"):
            if len({repr(rec.get(field)) for rec in records}) > 1:
                notes.append(f"tests differ in {field}: see each test's params")
    pairs: dict[tuple[str, type, Any], tuple[str, str]] = {}
    tests = tuple(
        _test(rec, i + 1, shape, name, pairs)
        for i, (rec, shape, name) in enumerate(zip(records, shapes, names, strict=True))
    )
    times = sorted(t for t in (opt_str(rec.get("test_time")) for rec in records) if t)
    model_type = opt_str(common("model_type"))
    return ImportedRun(
        source_tool=TOOL,
        source_version=_release(opt_int(common("build_number"))),
        format=f"llama-bench-{fmt}",
        file_sha256=sha256_text(text),
        model=model_type or opt_str(common("model_filename")),
        tests=tests,
        model_file=opt_str(common("model_filename")),
        model_size_bytes=opt_int(common("model_size")),
        model_params=opt_int(common("model_n_params")),
        model_quant=_quant(model_type),
        cpu=opt_str(common("cpu_info")),
        gpu=opt_str(common("gpu_info")),
        backend=opt_str(common("backends")),
        threads=opt_int(common("n_threads")),
        n_gpu_layers=opt_int(common("n_gpu_layers")),
        build_commit=opt_str(common("build_commit")),
        build_number=opt_int(common("build_number")),
        created_at=times[0] if times else None,
        notes=tuple(notes),
    )


def _records_of(value: Any, fmt: str) -> list[Mapping[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise TokbenchError(f"the llama-bench {fmt} output is not a list of test records")
    check_tests(len(value), f"llama-bench {fmt} output")
    return value


def parse_json(text: str) -> ImportedRun:
    text = strip_bom(text)
    return _run(_records_of(load_json(text, "llama-bench json"), "json"), "json", text, [])


def parse_jsonl(text: str) -> ImportedRun:
    text = strip_bom(text)
    check_size(text, "llama-bench jsonl")
    records: list[Any] = []
    for i, line in enumerate(text.splitlines()):
        if line.strip():
            try:
                records.append(load_json(line, "llama-bench jsonl"))
                check_tests(len(records), "llama-bench jsonl output")
            except TokbenchError as exc:
                raise TokbenchError(f"line {i + 1} of the llama-bench jsonl output: {exc}") from exc
    return _run(_records_of(records, "jsonl"), "jsonl", text, [])


def parse_csv(text: str) -> ImportedRun:
    text = strip_bom(text)
    check_size(text, "llama-bench csv")
    try:
        rows = []
        for row in csv.DictReader(io.StringIO(text)):
            rows.append(row)
            check_tests(len(rows), "llama-bench csv output")
    except csv.Error as exc:
        raise TokbenchError(f"the llama-bench csv output is not valid CSV ({exc})") from exc
    if any(None in row or any(v is None for v in row.values()) for row in rows):
        raise TokbenchError("the llama-bench csv output has rows of differing lengths")
    return _run(list(rows), "csv", text, [])


def _sql_values(body: str, row: int) -> list[str | None]:
    """The literals of a VALUES (...) list: '...' strings ('' escapes a quote), numbers, NULL."""
    values: list[str | None] = []
    i, n = 0, len(body)
    while i < n:
        while i < n and body[i] in " \t\r\n":
            i += 1
        if i < n and body[i] == "'":
            j, parts = i + 1, []
            while True:
                k = body.find("'", j)
                if k < 0:
                    raise TokbenchError(f"llama-bench sql statement {row} has an unclosed string")
                parts.append(body[j:k])
                if body.startswith("''", k):
                    parts.append("'")
                    j = k + 2
                    continue
                i = k + 1
                break
            values.append("".join(parts))
        else:
            k = body.find(",", i)
            token = (body[i:] if k < 0 else body[i:k]).strip()
            values.append(None if token.upper() == "NULL" else token)
            i = n if k < 0 else k
        while i < n and body[i] in " \t\r\n":
            i += 1
        if i < n:
            if body[i] != ",":
                raise TokbenchError(f"llama-bench sql statement {row} has a malformed VALUES list")
            i += 1
    return values


_INSERT_RE = re.compile(
    r"INSERT\s+INTO\s+llama_bench\s*\((?P<fields>[^)]*)\)\s*VALUES\s*\((?P<values>.*)\)\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)


def parse_sql(text: str) -> ImportedRun:
    """The `-o sql` output: a CREATE TABLE then one INSERT per test, one statement per line."""
    text = strip_bom(text)
    check_size(text, "llama-bench sql")
    records: list[Mapping[str, Any]] = []
    for line in text.splitlines():
        if not line.lstrip().upper().startswith("INSERT"):
            continue
        m = _INSERT_RE.match(line.strip())
        if m is None:
            raise TokbenchError(
                f"llama-bench sql statement {len(records) + 1} is not an INSERT INTO llama_bench"
            )
        fields = [f.strip() for f in m["fields"].split(",")]
        values = _sql_values(m["values"], len(records) + 1)
        if len(fields) != len(values):
            raise TokbenchError(
                f"llama-bench sql statement {len(records) + 1} has {len(fields)} fields "
                f"but {len(values)} values"
            )
        records.append(dict(zip(fields, values, strict=True)))
        check_tests(len(records), "llama-bench sql output")
    return _run(records, "sql", text, [])


def _md_cells(line: str) -> list[str]:
    s = line.strip()
    s = s.removeprefix("|").removesuffix("|")
    return [c.strip() for c in s.split("|")]


def _md_record(header: list[str], cells: list[str], row: int) -> dict[str, Any]:
    if len(cells) != len(header):
        raise TokbenchError(
            f"llama-bench md row {row} has {len(cells)} cells but the header has {len(header)}"
        )
    cell = dict(zip(header, cells, strict=True))
    parsed = parse_test_name(cell["test"])
    if parsed is None:
        raise TokbenchError(f"llama-bench md row {row} has an unknown test name {cell['test']!r}")
    ts = _TS_RE.match(cell["t/s"])
    if ts is None:
        raise TokbenchError(f"llama-bench md row {row} has t/s {cell['t/s']!r}, not 'mean ± sd'")
    rec: dict[str, Any] = {
        _MD_FIELD.get(k, k): v for k, v in cell.items() if k not in ("test", "t/s", "n")
    }
    rec["n_prompt"], rec["n_gen"], rec["n_depth"] = parsed
    rec["avg_ts"], rec["stddev_ts"] = ts["mean"], ts["sd"]
    if "n" in cell:  # tokbench's own md export adds the repetition count
        rec["tokbench_n"] = cell["n"]
    return rec


def parse_md(text: str) -> ImportedRun:
    """The markdown table; text around it (a pasted command, blank lines) is skipped."""
    text = strip_bom(text)
    check_size(text, "llama-bench md")
    header: list[str] | None = None
    records: list[dict[str, Any]] = []
    builds: list[tuple[str, str]] = []
    for line in text.splitlines():
        s = line.strip()
        build = _BUILD_RE.match(s)
        if build:
            builds.append((build["commit"], build["number"]))
            continue
        if not s.startswith("|"):
            continue
        cells = _md_cells(s)
        if "test" in cells and "t/s" in cells:
            header = cells
        elif all(re.fullmatch(r":?-+:?", c) for c in cells if c):
            continue
        elif header is None:
            raise TokbenchError("the llama-bench md table has a row before its header row")
        else:
            records.append(_md_record(header, cells, len(records) + 1))
            check_tests(len(records), "llama-bench md table")
    if header is None:
        raise TokbenchError("the llama-bench md output has no table with 'test' and 't/s' columns")
    notes = ["the md table rounds t/s to two decimals and gives no per-repetition samples"]
    if len(set(builds)) == 1:
        for rec in records:
            rec["build_commit"], rec["build_number"] = builds[0]
    run = _run(records, "md", text, notes)
    # md shows size and params rounded ("241.41 MiB"), so no exact byte or parameter count.
    shown = {k: common_value([r.get(k) for r in records]) for k in ("size", "params")}
    return _replace_extra(run, {k: v for k, v in shown.items() if v is not None})


def _replace_extra(run: ImportedRun, extra: dict[str, Any]) -> ImportedRun:
    return replace(run, extra=dumps(extra))


_PARSERS = {
    "json": parse_json,
    "jsonl": parse_jsonl,
    "csv": parse_csv,
    "sql": parse_sql,
    "md": parse_md,
}


def flavour(text: str) -> str | None:
    """Which llama-bench output this text looks like (json, jsonl, csv, sql, md), or None."""
    s = strip_bom(text).lstrip()
    head = s[:65536]
    if re.match(
        r"(CREATE\s+TABLE\s+IF\s+NOT\s+EXISTS\s+llama_bench|INSERT\s+INTO\s+llama_bench)",
        head,
        re.IGNORECASE,
    ):
        return "sql"
    first = head.split("\n", 1)[0]
    if s.startswith("[") and '"avg_ts"' in head:
        return "json"
    if s.startswith("{") and '"avg_ts"' in first:
        return "jsonl"
    fields = [f.strip().strip('"') for f in first.split(",")]
    if "avg_ts" in fields and "n_prompt" in fields:
        return "csv"
    for line in head.splitlines()[:200]:
        cells = _md_cells(line) if line.strip().startswith("|") else []
        if "test" in cells and "t/s" in cells:
            return "md"
    return None


def parse(text: str, fmt: str | None = None) -> ImportedRun:
    """Parse any llama-bench output; `fmt` (json, jsonl, csv, sql, md) skips the sniffing."""
    fmt = fmt or flavour(text)
    if fmt not in _PARSERS:
        raise TokbenchError(
            "this is not llama-bench output (its -o json, jsonl, csv, sql or md forms)"
        )
    return _PARSERS[fmt](text)
