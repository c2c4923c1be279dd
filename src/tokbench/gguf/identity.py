"""One model, one identity: the same model run embedded, through llama-server, in a quant
comparison or imported from llama-bench is one model in `history` and `compare`.

A GGUF file on this machine is identified by its sha256 (streamed, and remembered by
path, size and mtime in the data dir, so a 400 GB file is read once, not every run) and
named from its metadata ("Gemma 3 270M Q4_K_M"). A model known only through a server is
identified by the server's model id with the quant and size the server reports."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from contextlib import suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tokbench.core.records import Target
from tokbench.errors import TokbenchError
from tokbench.gguf.reader import read_shard
from tokbench.paths import data_dir

# llama_ftype (llama.h): what a GGUF's general.file_type says its quantization is
FILE_TYPES = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
}

_CHUNK = 1 << 22  # 4 MiB reads: hashing runs at disk speed without holding the file
_SAY_HASHING_BYTES = 4 << 30  # from 4 GiB (seconds at disk speed) the wait is announced


@dataclass(frozen=True, slots=True)
class ModelIdentity:
    model_id: str  # "sha256:<hex>" for a file; "served:<id>|<quant>|<size>" otherwise
    model_name: str  # the one name history, show, compare, report and export print


def sha_cache_file() -> Path:
    """Where model files' sha256 are remembered, by path, size and mtime."""
    return data_dir() / "model_sha256.json"


def _cache_key(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"


def _read_cache(cache_file: Path) -> dict[str, str]:
    try:
        loaded = json.loads(cache_file.read_text())
    except (OSError, ValueError, RecursionError):
        return {}  # absent or damaged: hashing again is the cure
    return {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}


def cached_sha256(path: Path, cache_file: Path | None = None) -> str | None:
    """The file's remembered sha256, or None when its path, size or mtime changed."""
    return _read_cache(cache_file or sha_cache_file()).get(_cache_key(path))


def file_sha256(path: Path, cache_file: Path | None = None) -> str:
    """sha256 of a (possibly huge) file, streamed in chunks; remembered in `cache_file`
    (default: the data dir's) by (path, size, mtime), so it is read once."""
    cache_file = cache_file or sha_cache_file()
    key = _cache_key(path)
    cache = _read_cache(cache_file)
    if key in cache:
        return cache[key]
    if path.stat().st_size >= _SAY_HASHING_BYTES:  # minutes for a big model: say why
        print(f"hashing {path.name} once to identify it (remembered after)", file=sys.stderr)
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    digest = h.hexdigest()
    cache = _read_cache(cache_file)  # another process may have added its own meanwhile
    cache[key] = digest
    with suppress(OSError):  # a read-only data dir costs a rehash next time, not the run
        _atomic_write(cache_file, json.dumps(cache, indent=0).encode())
    return digest


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def file_type_name(meta: dict[str, Any]) -> str | None:
    """The quantization a GGUF's metadata names (general.file_type), e.g. Q4_K_M."""
    try:
        ftype = meta.get("general.file_type")
        return FILE_TYPES.get(int(ftype)) if ftype is not None else None
    except (TypeError, ValueError):
        return None


def gguf_display_name(meta: dict[str, Any], fallback: str) -> str:
    """general.name with its size label and file type: "Gemma 3 270M Q4_K_M" (the size
    label replaces the name's own spelling of it: "Gemma 3 270m" says 270M once)."""
    name = str(meta.get("general.name") or meta.get("general.basename") or fallback).strip()
    words = name.split()
    size = str(meta.get("general.size_label") or "").strip()
    if size:
        if size.lower() in (w.lower() for w in words):
            words = [size if w.lower() == size.lower() else w for w in words]
        else:
            words.append(size)
    quant = file_type_name(meta)
    if quant and quant.lower() not in (w.lower() for w in words):
        words.append(quant)
    return " ".join(words) or fallback


def file_identity(path: Path) -> ModelIdentity:
    """A GGUF file's identity: its sha256, named from its metadata (the file's name when
    the metadata cannot be read)."""
    try:
        meta = read_shard(path).metadata
    except (TokbenchError, OSError, ValueError):
        meta = {}
    return ModelIdentity(f"sha256:{file_sha256(path)}", gguf_display_name(meta, path.stem))


def served_identity(model: str, quant: str | None, size: str | None) -> ModelIdentity:
    """A model known only by what a server (or another tool's file) says of it: its id,
    with the quant and size it reports, so two quants of one id stay two models."""
    name = model.strip() or "?"
    if quant and quant.lower() not in name.lower():
        name = f"{name} {quant}"
    key = "|".join(p.strip().lower() for p in (model, quant or "", size or ""))
    return ModelIdentity(f"served:{key}", name)


def _size(target: Target) -> str | None:
    """The model's size as the server says it: parameters, else a size label, else bytes."""
    if target.n_params:
        return str(target.n_params)
    label = target.details.get("parameter_size")
    if label:
        return str(label)
    return f"{target.gguf_bytes}B" if target.gguf_bytes else None


def local_file(path: str | None) -> Path | None:
    """The GGUF a target names, when it is a file on this machine."""
    if not path:
        return None
    try:
        p = Path(path)
        return p if p.is_file() else None
    except (OSError, ValueError):
        return None


def identified(name: str, target: Target) -> Target:
    """The target with its model identity (kept when it has one): the sha256 of the GGUF
    it names where that file is here (embedded runs, llama-server's model_path, an
    import's model_filename, or a model id that is a GGUF path here, as vLLM and GuideLLM
    name a served file), else `name` (the server's model id) with its quant and size."""
    if target.model_id:
        return target
    path = local_file(target.gguf_path)
    if path is None and name.lower().endswith(".gguf"):
        path = local_file(name)
    ident = None
    if path is not None:
        with suppress(OSError):  # unreadable here: known as the server names it
            ident = file_identity(path)
    if ident is None:
        ident = served_identity(name, target.quantization, _size(target))
    return replace(target, model_id=ident.model_id, model_name=ident.model_name)
