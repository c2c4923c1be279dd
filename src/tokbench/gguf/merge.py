"""Merge llama.cpp split GGUF files (…-00001-of-0000N.gguf) into one loadable file,
streaming with constant memory (the kernel copies the tensor data)."""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from pathlib import Path

from tokbench.errors import TokbenchError
from tokbench.gguf.reader import Model, read_model

CHUNK = 64 * 2**20


def _align(n: int, a: int) -> int:
    return -(-n // a) * a


def _copy_range(src: int, dst: int, offset: int, count: int) -> None:
    while count > 0:
        try:
            sent = os.sendfile(dst, src, offset, min(count, CHUNK))
        except OSError:
            sent = 0
        if sent == 0:  # no sendfile here: plain reads, still constant memory
            os.lseek(src, offset, os.SEEK_SET)
            data = os.read(src, min(count, CHUNK))
            if not data:
                raise TokbenchError("a shard ended before its tensor data did")
            sent = os.write(dst, data)
        offset += sent
        count -= sent


def _runs(model: Model, align: int) -> list[tuple[int, int, int, int]]:
    """(shard, start, length, pad after) copies that write the tensors back to back, each
    aligned: a shard laid out exactly so (as llama.cpp writes them) is one copy, with its
    zero padding."""
    runs: list[list[int]] = []
    for t in model.tensors:
        pad = _align(t.n_bytes, align) - t.n_bytes
        last = runs[-1] if runs else None
        if last and last[0] == t.shard and last[1] + last[2] + last[3] == t.offset:
            last[2] += last[3] + t.n_bytes  # the padding between them is copied too
            last[3] = pad
        else:
            runs.append([t.shard, t.offset, t.n_bytes, pad])
    return [(a, b, c, d) for a, b, c, d in runs]


def merge(
    first: Path,
    out: Path,
    *,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Model:
    if out.exists() and not force:
        raise TokbenchError(f"{out} exists: pass --force to overwrite it")
    model = read_model(first)
    if len(model.shards) < 2 and "split.count" not in model.metadata:
        raise TokbenchError(f"{first} is not a split model (no split.count): nothing to merge")
    for i, shard in enumerate(model.shards):
        if shard.metadata.get("split.no", i) != i:
            raise TokbenchError(
                f"{shard.path}: split.no is {shard.metadata.get('split.no')}, "
                f"expected {i}: shards are mixed up"
            )
    head = model.shards[0]
    align = head.alignment
    with head.path.open("rb") as f:
        raw = f.read(head.kv_spans[-1][2] if head.kv_spans else 24)
    kept = [raw[s:e] for k, s, e in head.kv_spans if not k.startswith("split.")]
    tensors = model.tensors
    infos = []
    offset = 0
    for t in tensors:
        name = t.name.encode()
        infos.append(
            struct.pack("<Q", len(name))
            + name
            + struct.pack("<I", len(t.shape))
            + b"".join(struct.pack("<Q", d) for d in t.shape)
            + struct.pack("<IQ", t.type_id, offset)
        )
        offset = _align(offset + t.n_bytes, align)
    header = (
        MAGIC_V3 + struct.pack("<QQ", len(tensors), len(kept)) + b"".join(kept) + b"".join(infos)
    )
    total = offset
    tmp = out.with_name(out.name + ".partial")
    fds = {s.path: os.open(s.path, os.O_RDONLY) for s in model.shards}
    try:
        with tmp.open("wb") as f:
            f.write(header)
            f.write(b"\0" * (_align(len(header), align) - len(header)))
            f.flush()
            dst = f.fileno()
            done = 0
            for shard_no, start, length, pad in _runs(model, align):
                shard = model.shards[shard_no]
                _copy_range(fds[shard.path], dst, shard.data_offset + start, length)
                if pad:
                    os.write(dst, b"\0" * pad)
                done += length + pad
                if progress:
                    progress(done, total)
            os.fsync(dst)  # on disk before the rename: a crash never leaves a torn OUT
        # ext4 flushes a file renamed over an existing one (auto_da_alloc), which cost
        # more than the copy: drop the old file first, then rename.
        out.unlink(missing_ok=True)
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise TokbenchError(f"cannot write {out}: {exc.strerror or exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        for fd in fds.values():
            os.close(fd)
    return model  # the merged file holds exactly these tensors


MAGIC_V3 = b"GGUF" + struct.pack("<I", 3)
