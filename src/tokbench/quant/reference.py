"""The compact reference: per scored position the reference model's most likely tokens
(as many as it takes to cover `mass` of the probability, at most `max_k`), their log-probs,
the log of the mass left uncovered and the actual next token's log-prob, in one compressed
`.npz` with a JSON key: the reference GGUF's sha256, the text's sha256, n_ctx, the coverage
rule and the tokenizer fingerprint. The kept tokens are stored flat (`ids`, `lps`), position
by position, `counts` saying how many each position kept.

A reference file is foreign input: its key is validated strictly (pydantic), every member's
unpacked size is checked against what the key implies before anything is unpacked, and the
arrays are checked (dtype, shape, ids inside the vocabulary, finite log-probs that sum to 1)
before a candidate is scored against them. Written to a temporary file and renamed, so a
failed run leaves nothing half-written.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tokbench.core.files import open_regular
from tokbench.errors import TokbenchError

FORMAT: Literal["tokbench-quant-reference/2"] = "tokbench-quant-reference/2"
OLD_FORMAT = "tokbench-quant-reference/1"
MAX_K = 4096  # tokens kept per position at most (the --max-k ceiling)
MAX_META_BYTES = 64 << 10
MAX_UNPACKED_BYTES = 4 << 30  # a reference of ~10M positions; more is refused unread
HEADER_BYTES = 4096  # an .npy header is ~128 bytes; anything longer is not ours
LP_SLACK = 1e-3  # float32 rounding: log-probs up to this above 0, sums this far from 1

Hex64 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class ReferenceMeta(BaseModel):
    """The key of a reference file, checked strictly: a wrong type, a missing or an extra
    field refuses the file with the field's name."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")

    format: Literal["tokbench-quant-reference/2"]
    model_sha256: Hex64
    model_name: str = Field(max_length=1024)
    model_size_bytes: int = Field(ge=0, le=1 << 50)
    text_sha256: Hex64
    text_name: str = Field(max_length=4096)
    tokens_sha256: Hex64  # of the scored windows' token ids, int32 little-endian
    n_ctx: int = Field(ge=16, le=1 << 20)
    n_vocab: int = Field(ge=2, le=1 << 24)
    vocab_fingerprint: str = Field(max_length=64)
    n_windows: int = Field(ge=1, le=1 << 24)
    scored_per_window: int = Field(ge=1)
    mass: float = Field(gt=0.0, le=1.0, allow_inf_nan=False)  # probability covered per position
    max_k: int = Field(ge=1, le=MAX_K)  # tokens kept per position at most

    @model_validator(mode="after")
    def _consistent(self) -> ReferenceMeta:
        if self.scored_per_window != self.n_ctx - 1 - self.n_ctx // 2:
            raise ValueError("scored_per_window does not follow from n_ctx")
        return self

    @property
    def positions(self) -> int:
        return self.n_windows * self.scored_per_window


@dataclass(frozen=True, slots=True)
class RefRows:
    """A reference's records for some positions. Position t keeps counts[t] tokens, stored
    at ids/lps[offsets[t]:offsets[t + 1]], most likely first (so the first is the argmax)."""

    actual_lp: NDArray[np.float64]  # (n,)
    counts: NDArray[np.int32]  # (n,)
    ids: NDArray[np.int32]  # (sum counts,)
    lps: NDArray[np.float32]  # (sum counts,)
    rest_lp: NDArray[np.float32]  # (n,) log of the mass outside the kept tokens
    tail_plogp: NDArray[np.float64]  # (n,) sum of P ln P over the tokens not kept

    @property
    def offsets(self) -> NDArray[np.int64]:
        out: NDArray[np.int64] = np.concatenate(([0], np.cumsum(self.counts, dtype=np.int64)))
        return out

    @property
    def top_ids(self) -> NDArray[np.int32]:
        return self.ids[self.offsets[:-1]]

    @property
    def top_lp(self) -> NDArray[np.float32]:
        return self.lps[self.offsets[:-1]]

    @property
    def uncovered_mass(self) -> float:
        """The mean probability the kept tokens leave uncovered per position."""
        return float(np.mean(np.exp(self.rest_lp.astype(np.float64))))

    def rows(self, start: int, stop: int) -> RefRows:
        """Positions start..stop-1."""
        off = self.offsets
        a, b = int(off[start]), int(off[stop])
        return RefRows(self.actual_lp[start:stop], self.counts[start:stop], self.ids[a:b],
                       self.lps[a:b], self.rest_lp[start:stop], self.tail_plogp[start:stop])

    @staticmethod
    def concat(parts: list[RefRows]) -> RefRows:
        return RefRows(*(np.concatenate([getattr(p, f) for p in parts])
                         for f in ("actual_lp", "counts", "ids", "lps", "rest_lp",
                                   "tail_plogp")))


@dataclass(frozen=True, slots=True)
class Reference:
    meta: ReferenceMeta
    rows: RefRows

    def head(self, n_windows: int) -> Reference:
        """The records of the first `n_windows` windows."""
        return Reference(self.meta, self.rows.rows(0, n_windows * self.meta.scored_per_window))


def tokens_sha256(tokens: list[int]) -> str:
    return hashlib.sha256(np.asarray(tokens, dtype="<i4").tobytes()).hexdigest()


def check_writable(path: Path, what: str = "--save-reference") -> None:
    """Refuse, before any work, a path a reference file cannot be written to."""
    parent = path.parent
    if path.is_dir():
        raise TokbenchError(f"{what} {path}: is a folder, give a file name")
    if not parent.is_dir():
        raise TokbenchError(f"{what} {path}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise TokbenchError(f"{what} {path}: the folder {parent} is not writable")


def save_reference(path: Path, ref: Reference) -> int:
    """Write `ref` to `path` atomically; returns the file's size in bytes."""
    r = ref.rows
    n = r.actual_lp.shape[0]
    if (r.counts.shape != (n,) or r.rest_lp.shape != (n,) or r.ids.shape != r.lps.shape
            or int(r.counts.sum()) != r.ids.shape[0]):
        raise ValueError("reference arrays disagree in shape")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with Path(tmp).open("wb") as f:
            meta = np.frombuffer(ref.meta.model_dump_json().encode(), dtype=np.uint8)
            np.savez_compressed(f, allow_pickle=False, meta=meta, **disk_arrays(r))
        Path(tmp).replace(path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise TokbenchError(f"cannot write the reference file {path}: {exc.strerror}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path.stat().st_size


def disk_arrays(r: RefRows) -> dict[str, NDArray[np.generic]]:
    """On disk each position's tokens are in id order, the ids as differences from the one
    before (the first from 0): small numbers that compress to about a byte, where random
    ids take four. Loading puts them back most likely first."""
    pos = _positions(r.counts)
    order = np.lexsort((r.ids, pos))
    ids = r.ids[order].astype(np.int64)
    deltas = np.diff(ids, prepend=0)
    deltas[r.offsets[:-1][r.counts > 0]] = ids[r.offsets[:-1][r.counts > 0]]
    return {"actual_lp": r.actual_lp.astype("<f8"), "counts": r.counts.astype("<i4"),
            "ids": deltas.astype("<i4"), "lps": r.lps[order].astype("<f4"),
            "rest_lp": r.rest_lp.astype("<f4"), "tail_plogp": r.tail_plogp.astype("<f8")}


def _positions(counts: NDArray[np.int32]) -> NDArray[np.int64]:
    out: NDArray[np.int64] = np.repeat(np.arange(counts.size, dtype=np.int64), counts)
    return out


def _from_disk(counts: NDArray[np.int32], deltas: NDArray[np.int32],
               lps: NDArray[np.float32]) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
    """(ids, lps) most likely first per position (ties by lower id), from `_arrays`' form;
    a negative delta (ids not ascending) shows up as a repeated or out-of-range id."""
    run = np.cumsum(deltas, dtype=np.int64)
    starts = np.concatenate(([0], np.cumsum(counts, dtype=np.int64)))[:-1]
    before = np.where(starts > 0, run[np.maximum(starts - 1, 0)], 0)
    ids = run - np.repeat(before, counts)
    order = np.lexsort((ids, -lps.astype(np.float64), _positions(counts)))
    return (np.clip(ids[order], -1, 2**31 - 1).astype(np.int32) if ids.size else
            ids.astype(np.int32)), lps[order]


# member -> dtype; the per-position ones hold n values, the flat ones sum(counts)
_PER_POSITION = {"actual_lp": "<f8", "counts": "<i4", "rest_lp": "<f4", "tail_plogp": "<f8"}
_FLAT = {"ids": "<i4", "lps": "<f4"}


def load_reference(path: Path, *, max_tokens: int | None = None) -> Reference:
    """Read and check the reference file at `path`. `max_tokens`: the most tokens the text
    can have; a key claiming more windows is refused before anything is unpacked."""
    f = open_regular(path, "quant reference file")
    try:
        with zipfile.ZipFile(f) as z:
            members = {i.filename: i for i in z.infolist()}
            meta = _meta(path, z, members)
            if max_tokens is not None and meta.n_windows * meta.n_ctx > max_tokens:
                raise TokbenchError(
                    f"reference {path} claims {meta.n_windows} windows of {meta.n_ctx} tokens, "
                    f"more than the text can hold: it was built on another text"
                )
            n = meta.positions
            want = {**dict.fromkeys(_PER_POSITION, n), **dict.fromkeys(_FLAT, n * meta.max_k)}
            declared = sum(i.file_size for i in members.values())
            if declared > MAX_UNPACKED_BYTES:
                raise TokbenchError(f"reference {path} unpacks to {declared >> 20} MiB, more "
                                    f"than the {MAX_UNPACKED_BYTES >> 30} GiB it may hold")
            arrays: dict[str, NDArray[np.generic]] = {}
            for name, dtype in (_PER_POSITION | _FLAT).items():
                arrays[name] = _member(path, z, members, name, dtype, want[name],
                                       exact=name in _PER_POSITION)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError,
            ValueError, OSError) as exc:
        detail = f": {exc}" if isinstance(exc, zipfile.BadZipFile) else ""
        raise TokbenchError(f"{path} is not a tokbench quant reference file (not a readable "
                            f".npz{detail})") from None
    finally:
        f.close()
    counts = arrays["counts"].astype(np.int32)
    if (np.any(counts < 1) or np.any(counts > meta.max_k)
            or int(counts.sum(dtype=np.int64)) != arrays["ids"].shape[0]
            or arrays["lps"].shape != arrays["ids"].shape):
        raise TokbenchError(f"reference {path}: counts outside 1..{meta.max_k} or not adding "
                            "up to the number of ids: the file is damaged")
    ids, lps = _from_disk(counts, arrays["ids"].astype(np.int32),
                          arrays["lps"].astype(np.float32))
    rows = RefRows(arrays["actual_lp"].astype(np.float64), counts, ids, lps,
                   arrays["rest_lp"].astype(np.float32),
                   arrays["tail_plogp"].astype(np.float64))
    _check_rows(path, meta, rows)
    return Reference(meta, rows)


def _meta(path: Path, z: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo]) -> ReferenceMeta:
    not_ref = f"{path} is not a tokbench quant reference file"
    raw = _member(path, z, members, "meta", "|u1", MAX_META_BYTES, exact=False)
    try:
        doc = json.loads(raw.tobytes().decode("utf-8"))
    except (ValueError, RecursionError):
        raise TokbenchError(f"{not_ref} (its key is not JSON)") from None
    if not isinstance(doc, dict):
        raise TokbenchError(f"{not_ref} (its key is not a JSON object)")
    fmt = doc.get("format")
    if fmt == OLD_FORMAT:
        raise TokbenchError(f"reference {path} is a fixed top-k reference of an older tokbench, "
                            "which underestimates KLD: build it again")
    if fmt != FORMAT:
        raise TokbenchError(f"{not_ref} (format {FORMAT})")
    try:
        return ReferenceMeta.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "key"
        raise TokbenchError(f"reference {path}: field {field} of its key is wrong "
                            f"({err['msg']})") from None


def _member(path: Path, z: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], name: str,
            dtype: str, count: int, *, exact: bool = True) -> NDArray[np.generic]:
    """One .npy member of `dtype`, 1-D, at most `count` values (exactly `count` when
    `exact`): its unpacked size is checked in the zip directory before it is read, and
    reading stops at that size whatever the compressed stream holds."""
    info = members.get(f"{name}.npy")
    if info is None:
        raise TokbenchError(f"{path} is not a tokbench quant reference file (no {name})")
    limit = HEADER_BYTES + count * np.dtype(dtype).itemsize
    if info.file_size > limit:
        raise TokbenchError(f"reference {path}: {name} unpacks to {info.file_size} bytes, more "
                            f"than its key allows ({limit}): the file is damaged")
    with z.open(info) as f:
        data = f.read(limit + 1)
    buf = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(buf)
        header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                  else np.lib.format.read_array_header_2_0)
        shape, fortran, got = header(buf, max_header_size=HEADER_BYTES)
    except ValueError:
        raise TokbenchError(f"reference {path}: {name} is not an array: the file is "
                            "damaged") from None
    if got != np.dtype(dtype) or len(shape) != 1 or fortran:
        raise TokbenchError(f"reference {path}: {name} is {got}{list(shape)}, not a list "
                            f"of {np.dtype(dtype)}: the file is damaged")
    n = int(shape[0])
    if (exact and n != count) or n > count or buf.tell() + n * got.itemsize != len(data):
        raise TokbenchError(f"reference {path}: {name} holds {n} values where its key "
                            f"says {count}: the file is damaged")
    return np.frombuffer(data, dtype=got, count=n, offset=buf.tell())


def _check_rows(path: Path, meta: ReferenceMeta, r: RefRows) -> None:
    def bad(what: str) -> TokbenchError:
        return TokbenchError(f"reference {path}: {what}: the file is damaged")

    if np.any(r.counts < 1) or np.any(r.counts > meta.max_k):
        raise bad(f"counts outside 1..{meta.max_k}")
    if int(r.counts.sum(dtype=np.int64)) != r.ids.shape[0] or r.lps.shape != r.ids.shape:
        raise bad("counts do not add up to the number of ids")
    if r.ids.size and (int(r.ids.min()) < 0 or int(r.ids.max()) >= meta.n_vocab):
        raise bad(f"token ids outside the vocabulary (0..{meta.n_vocab - 1})")
    for name in ("actual_lp", "lps", "rest_lp", "tail_plogp"):
        a = getattr(r, name)
        if not np.all(np.isfinite(a)):
            raise bad(f"{name} holds NaN or infinite values")
        if a.size and float(a.max()) > LP_SLACK:
            raise bad(f"{name} holds log-probabilities above 0")
    starts = r.offsets[:-1]
    kept = np.add.reduceat(np.exp(r.lps.astype(np.float64)), starts) if r.ids.size else 0.0
    total = kept + np.exp(r.rest_lp.astype(np.float64))
    if r.counts.size and float(np.max(np.abs(total - 1.0))) > LP_SLACK:
        raise bad("the probabilities of a position do not add up to 1")
    # the tail's sum of P ln P lies between its most spread value and its most peaked
    p_tail = np.exp(r.rest_lp.astype(np.float64))
    min_kept = r.lps[r.offsets[1:] - 1].astype(np.float64)
    spread = p_tail * (np.log(np.maximum(p_tail, 1e-300)) - np.log(meta.n_vocab))
    if r.counts.size and (np.any(r.tail_plogp < spread - LP_SLACK)
                          or np.any(r.tail_plogp > p_tail * min_kept + LP_SLACK)):
        raise bad("tail_plogp does not fit the uncovered mass")
    # no token twice for one position
    same = np.repeat(np.arange(r.counts.size), r.counts)
    order = np.lexsort((r.ids, same))
    sid, spos = r.ids[order], same[order]
    if np.any((sid[1:] == sid[:-1]) & (spos[1:] == spos[:-1])):
        raise bad("a token is kept twice for one position")


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
