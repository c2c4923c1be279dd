"""The compact reference: per scored position the reference model's top-k token ids and
log-probs, the log of the mass outside them and the actual next token's log-prob, in one
compressed `.npz` (about 8 MB for 32k positions at k=32) with a JSON key: the reference GGUF's
sha256, the text's sha256, n_ctx, k and the tokenizer fingerprint. Written to a temporary
file and renamed, so a failed run leaves nothing half-written.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from tokbench.errors import TokbenchError

FORMAT = "tokbench-quant-reference/1"


@dataclass(frozen=True, slots=True)
class ReferenceMeta:
    format: str
    model_sha256: str
    model_name: str
    model_size_bytes: int
    text_sha256: str
    text_name: str
    tokens_sha256: str  # of the scored windows' token ids, int32 little-endian
    n_ctx: int
    top_k: int
    n_vocab: int
    vocab_fingerprint: str
    n_windows: int
    scored_per_window: int


@dataclass(frozen=True, slots=True)
class Reference:
    meta: ReferenceMeta
    actual_lp: NDArray[np.float64]  # (n,)
    top_ids: NDArray[np.int32]  # (n, k), column 0 the reference's argmax
    top_lp: NDArray[np.float32]  # (n, k)
    rest_lp: NDArray[np.float32]  # (n,)

    def head(self, n_windows: int) -> Reference:
        """The records of the first `n_windows` windows."""
        n = n_windows * self.meta.scored_per_window
        return Reference(self.meta, self.actual_lp[:n], self.top_ids[:n], self.top_lp[:n],
                         self.rest_lp[:n])


def tokens_sha256(tokens: list[int]) -> str:
    return hashlib.sha256(np.asarray(tokens, dtype="<i4").tobytes()).hexdigest()


_memo: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path, cache_file: Path | None = None) -> str:
    """sha256 of a (possibly huge) file, streamed; remembered by (path, size, mtime) in this
    process and, with `cache_file`, in a small JSON file across runs."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key in _memo:
        return _memo[key]
    cache: dict[str, str] = {}
    ckey = f"{key[0]}|{key[1]}|{key[2]}"
    if cache_file is not None and cache_file.is_file():
        try:
            loaded = json.loads(cache_file.read_text())
            cache = {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            cache = {}
        if ckey in cache:
            _memo[key] = cache[ckey]
            return cache[ckey]
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    digest = h.hexdigest()
    _memo[key] = digest
    if cache_file is not None:
        cache[ckey] = digest
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


def save_reference(path: Path, ref: Reference) -> int:
    """Write `ref` to `path` atomically; returns the file's size in bytes."""
    n = ref.actual_lp.shape[0]
    k = ref.top_ids.shape[1]
    if ref.top_ids.shape != (n, k) or ref.top_lp.shape != (n, k) or ref.rest_lp.shape != (n,):
        raise ValueError("reference arrays disagree in shape")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with Path(tmp).open("wb") as f:
            np.savez_compressed(
                f,
                meta=np.frombuffer(json.dumps(asdict(ref.meta)).encode(), dtype=np.uint8),
                actual_lp=ref.actual_lp.astype(np.float64),
                top_ids=ref.top_ids.astype(np.int32),
                top_lp=ref.top_lp.astype(np.float32),
                rest_lp=ref.rest_lp.astype(np.float32),
            )
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path.stat().st_size


def load_reference(path: Path) -> Reference:
    not_ref = f"{path} is not a tokbench quant reference file"
    try:
        with np.load(path, allow_pickle=False) as z:
            raw = json.loads(bytes(z["meta"]).decode())
            arrays = {k: z[k] for k in ("actual_lp", "top_ids", "top_lp", "rest_lp")}
    except FileNotFoundError:
        raise TokbenchError(f"reference file {path} not found") from None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, UnicodeDecodeError):
        raise TokbenchError(not_ref) from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise TokbenchError(f"{not_ref} (format {FORMAT})")
    try:
        meta = ReferenceMeta(**raw)
    except TypeError:
        raise TokbenchError(not_ref) from None
    n = meta.n_windows * meta.scored_per_window
    k = meta.top_k
    if (arrays["actual_lp"].shape != (n,) or arrays["top_ids"].shape != (n, k)
            or arrays["top_lp"].shape != (n, k) or arrays["rest_lp"].shape != (n,)):
        raise TokbenchError(f"{path}: reference file is damaged (array shapes disagree)")
    return Reference(meta, arrays["actual_lp"].astype(np.float64),
                     arrays["top_ids"].astype(np.int32), arrays["top_lp"].astype(np.float32),
                     arrays["rest_lp"].astype(np.float32))


def check_reference(
    path: Path, meta: ReferenceMeta, *, text_sha256: str, text_name: str, n_ctx: int,
    n_vocab: int, vocab_fingerprint: str, n_windows: int | None,
) -> None:
    """One clear error when the reference cannot serve this run."""
    if meta.text_sha256 != text_sha256:
        raise TokbenchError(
            f"reference {path} was built on another text ({meta.text_name}), not {text_name}: "
            "build a reference for this text"
        )
    if meta.n_ctx != n_ctx:
        raise TokbenchError(
            f"reference {path} was built with --ctx {meta.n_ctx}, this run uses --ctx {n_ctx}"
        )
    if meta.n_vocab != n_vocab or meta.vocab_fingerprint != vocab_fingerprint:
        what = (f"{meta.n_vocab} vs {n_vocab} tokens" if meta.n_vocab != n_vocab
                else "same size, different tokens")
        raise TokbenchError(
            f"reference {path} comes from a model with another vocabulary ({what}): "
            "KL divergence needs the same tokenizer on both sides"
        )
    if n_windows is not None and n_windows > meta.n_windows:
        raise TokbenchError(
            f"reference {path} holds {meta.n_windows} windows, --chunks {n_windows} asks for more"
        )
