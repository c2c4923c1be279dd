"""Tell which tool wrote a benchmark file, and parse it with the matching reader."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from tokbench.core.files import read_bounded
from tokbench.errors import TokbenchError
from tokbench.interop import guidellm, llama_bench, vllm_bench
from tokbench.interop.parsing import MAX_BYTES, strip_bom
from tokbench.interop.records import ImportedRun
from tokbench.interop.validate import checked

# Format names accepted by parse_file(fmt=...) and the `tokbench import --format` option.
FORMATS: dict[str, Callable[[str], ImportedRun]] = {
    "llama-bench-json": llama_bench.parse_json,
    "llama-bench-jsonl": llama_bench.parse_jsonl,
    "llama-bench-csv": llama_bench.parse_csv,
    "llama-bench-sql": llama_bench.parse_sql,
    "llama-bench-md": llama_bench.parse_md,
    "vllm-bench-serve": vllm_bench.parse,
    "guidellm-json": guidellm.parse,
    "guidellm-yaml": guidellm.parse_yaml,
}

UNDERSTOOD = (
    "llama-bench output (-o json, jsonl, csv, sql or md), "
    "`vllm bench serve --save-result` JSON, or a GuideLLM benchmarks JSON/YAML report"
)


def _json_kind(text: str) -> str | None:
    """Sniff JSON documents (whole file, or one object per line) by their keys."""
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        first = text.split("\n", 1)[0]
        try:
            value = json.loads(first)
        except (json.JSONDecodeError, RecursionError):
            return None
        except ValueError as exc:
            raise TokbenchError(f"the file holds a number too long to read ({exc})") from exc
    except ValueError as exc:  # valid JSON, but an integer of thousands of digits
        raise TokbenchError(f"the file holds a number too long to read ({exc})") from exc
        if vllm_bench.looks_like(value):
            return "vllm-bench-serve"
        return "llama-bench-jsonl" if isinstance(value, dict) and "avg_ts" in value else None
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        if "avg_ts" in value[0]:
            return "llama-bench-json"
        if vllm_bench.looks_like(value[0]):
            return "vllm-bench-serve"
    if vllm_bench.looks_like(value):
        return "vllm-bench-serve"
    if guidellm.looks_like(value):
        return "guidellm-json"
    return None


def detect_format(text: str, filename: str = "") -> str:
    """The format name of `text` (see FORMATS); one sentence naming those understood if none."""
    s = strip_bom(text).lstrip()
    kind: str | None = None
    if s.startswith(("{", "[")):
        # llama-bench's JSON is told by its first keys; decoding a big file only to sniff
        # it would double the work of the import.
        quick = llama_bench.flavour(s)
        kind = f"llama-bench-{quick}" if quick in ("json", "jsonl") else _json_kind(s)
    if kind is None:
        flavour = llama_bench.flavour(s)
        kind = f"llama-bench-{flavour}" if flavour else None
    suffix = Path(filename).suffix.lower()
    if kind is None and (suffix in (".yaml", ".yml") or s.startswith(("benchmarks:", "metadata:"))):
        kind = "guidellm-yaml"
    if kind is None:
        name = f"{filename} " if filename else "this file "
        raise TokbenchError(
            f"{name}is not a benchmark file tokbench can import: it reads {UNDERSTOOD}"
        )
    return kind


def parse_text(text: str, fmt: str | None = None, filename: str = "") -> ImportedRun:
    """Parse already read text; `fmt` forces a format name from FORMATS."""
    if fmt is not None and fmt not in FORMATS:
        raise TokbenchError(f"unknown import format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return checked(FORMATS[fmt or detect_format(text, filename)](text))


def parse_file(path: Path | str, fmt: str | None = None) -> ImportedRun:
    """Read, detect and parse one file; its sha256 is of the file's exact bytes."""
    p = Path(path)
    data = read_bounded(p, MAX_BYTES, "benchmark file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TokbenchError(
            f"{p} is not UTF-8 text, so not a benchmark file tokbench reads: it reads {UNDERSTOOD}"
        ) from exc
    try:
        run = parse_text(text, fmt, p.name)
    except TokbenchError as exc:
        raise TokbenchError(f"{p.name}: {exc}") from exc
    return replace(run, file_sha256=hashlib.sha256(data).hexdigest())
