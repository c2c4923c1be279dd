"""A small, bounded GGUF reader: metadata, the tensor table and byte counts, across the
shards of a split model, without reading weights (or walking a 262k-token vocabulary
into Python objects).

It is bounded against crafted files: every count and length is checked against the
bytes that remain before anything is allocated, arrays nest at most a few levels, and
a tensor type newer than this table gets its size from the offsets.
"""

from __future__ import annotations

import itertools
import mmap
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tokbench.errors import TokbenchError

MAGIC = b"GGUF"
# ggml type id -> (elements per block, bytes per block); from ggml-common.h's block structs
TYPE_SIZES: dict[int, tuple[int, int]] = {
    0: (1, 4),
    1: (1, 2),
    2: (32, 18),
    3: (32, 20),
    6: (32, 22),
    7: (32, 24),
    8: (32, 34),
    9: (32, 40),
    10: (256, 84),
    11: (256, 110),
    12: (256, 144),
    13: (256, 176),
    14: (256, 210),
    15: (256, 292),
    16: (256, 66),
    17: (256, 74),
    18: (256, 98),
    19: (256, 50),
    20: (32, 18),
    21: (256, 110),
    22: (256, 82),
    23: (256, 136),
    24: (1, 1),
    25: (1, 2),
    26: (1, 4),
    27: (1, 8),
    28: (1, 8),
    29: (256, 56),
    30: (1, 2),
    34: (256, 54),
    35: (256, 66),
    39: (32, 17),
    40: (64, 36),
    41: (128, 18),
}
TYPE_NAMES = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    6: "Q5_0",
    7: "Q5_1",
    8: "Q8_0",
    9: "Q8_1",
    10: "Q2_K",
    11: "Q3_K",
    12: "Q4_K",
    13: "Q5_K",
    14: "Q6_K",
    15: "Q8_K",
    16: "IQ2_XXS",
    17: "IQ2_XS",
    18: "IQ3_XXS",
    19: "IQ1_S",
    20: "IQ4_NL",
    21: "IQ3_S",
    22: "IQ2_S",
    23: "IQ4_XS",
    24: "I8",
    25: "I16",
    26: "I32",
    27: "I64",
    28: "F64",
    29: "IQ1_M",
    30: "BF16",
    34: "TQ1_0",
    35: "TQ2_0",
    39: "MXFP4",
    40: "NVFP4",
    41: "Q1_0",
}
# GGUF metadata value types: id -> struct format (fixed size); 8 = string, 9 = array
_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
MAX_DIMS = 8
_U64 = struct.Struct("<Q")  # precompiled: the vocabulary skip calls it 262k times
MAX_NESTING = 3
KEEP_ARRAY = 64  # arrays longer than this are summarised, not materialised


@dataclass(frozen=True, slots=True)
class Tensor:
    name: str
    shape: tuple[int, ...]
    type_id: int
    offset: int  # from the start of the shard's data section
    n_bytes: int
    shard: int

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def type_name(self) -> str:
        return TYPE_NAMES.get(self.type_id, f"type{self.type_id}")


@dataclass
class Shard:
    path: Path
    version: int
    metadata: dict[str, Any]
    kv_spans: list[tuple[str, int, int]]  # key, start, end: raw bytes, for merging
    tensors: list[Tensor]
    tensor_info_spans: list[tuple[int, int]]
    data_offset: int
    alignment: int
    size: int


@dataclass
class Model:
    shards: list[Shard] = field(default_factory=list)

    @property
    def metadata(self) -> dict[str, Any]:
        return self.shards[0].metadata

    @property
    def tensors(self) -> list[Tensor]:
        return [t for s in self.shards for t in s.tensors]

    @property
    def total_bytes(self) -> int:
        return sum(s.size for s in self.shards)

    def key(self, name: str, default: Any = None) -> Any:
        arch = self.metadata.get("general.architecture", "")
        return self.metadata.get(f"{arch}.{name}", default)


class _Cursor:
    def __init__(self, buf: Any, path: Path) -> None:
        self.buf, self.pos, self.path, self.end = buf, 0, path, len(buf)

    def need(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.end:
            raise TokbenchError(
                f"{self.path}: truncated or corrupt GGUF ({what} needs {n} bytes at offset "
                f"{self.pos}, the file has {self.end})"
            )

    def unpack(self, fmt: str, what: str) -> Any:
        size = struct.calcsize(fmt)
        self.need(size, what)
        value = struct.unpack_from(fmt, self.buf, self.pos)[0]
        self.pos += size
        return value

    def string(self, what: str) -> str:
        n = self.unpack("<Q", what)
        self.need(n, what)
        raw = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        return raw.decode("utf-8", "replace")

    def value(self, vtype: int, depth: int, what: str) -> Any:
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype], what)
        if vtype == 8:
            return self.string(what)
        if vtype != 9:
            raise TokbenchError(f"{self.path}: unknown metadata type {vtype} in {what}")
        if depth >= MAX_NESTING:
            raise TokbenchError(f"{self.path}: arrays nested too deeply in {what}")
        etype = self.unpack("<I", what)
        count = self.unpack("<Q", what)
        if etype in _SCALARS:
            size = struct.calcsize(_SCALARS[etype])
            self.need(count * size, what)
            if count <= KEEP_ARRAY:
                out = [self.unpack(_SCALARS[etype], what) for _ in range(count)]
                return out
            self.pos += count * size
            return {"array_of": etype, "count": count}
        self.need(count * 8, what)  # every element needs at least 8 bytes
        if count <= KEEP_ARRAY:
            return [self.value(etype, depth + 1, what) for _ in range(count)]
        if etype == 8:  # e.g. a 262k-token vocabulary: skipped, never materialised
            buf, pos, end, unpack = self.buf, self.pos, self.end, _U64.unpack_from
            for _ in range(count):
                if pos + 8 > end:
                    pos = end + 1
                    break
                pos += 8 + unpack(buf, pos)[0]
            if pos > end:
                self.need(pos - self.pos, what)  # raises: the strings run past the end
            self.pos = pos
        else:
            for _ in range(count):
                self.value(etype, depth + 1, what)
        return {"array_of": etype, "count": count}


def read_shard(path: Path, shard_no: int = 0) -> Shard:
    try:
        with path.open("rb") as f:
            size = path.stat().st_size
            if size < 24:
                raise TokbenchError(f"{path}: too small to be a GGUF file ({size} bytes)")
            buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as exc:
        raise TokbenchError(f"cannot read {path}: {exc}") from exc
    try:
        return _parse(buf, path, shard_no, size)
    finally:
        buf.close()


def _parse(buf: Any, path: Path, shard_no: int, size: int) -> Shard:
    c = _Cursor(buf, path)
    c.need(4, "magic")
    if bytes(buf[0:4]) != MAGIC:
        raise TokbenchError(f"{path}: not a GGUF file (magic {bytes(buf[0:4])!r})")
    c.pos = 4
    version = c.unpack("<I", "version")
    if version not in (2, 3):
        raise TokbenchError(f"{path}: GGUF version {version} is not supported (2 or 3)")
    n_tensors = c.unpack("<Q", "tensor count")
    n_kv = c.unpack("<Q", "metadata count")
    # every key-value pair takes >= 12 bytes and every tensor info >= 24: no endless loop
    c.need(n_kv * 12 + n_tensors * 24, "the header's declared entries")
    metadata: dict[str, Any] = {}
    spans = []
    for _ in range(n_kv):
        start = c.pos
        key = c.string("a metadata key")
        vtype = c.unpack("<I", f"type of {key}")
        metadata[key] = c.value(vtype, 0, key)
        spans.append((key, start, c.pos))
    raw_tensors = []
    info_spans = []
    for _ in range(n_tensors):
        start = c.pos
        name = c.string("a tensor name")
        n_dims = c.unpack("<I", f"dimensions of {name}")
        if n_dims > MAX_DIMS:
            raise TokbenchError(f"{path}: tensor {name} claims {n_dims} dimensions")
        shape = tuple(c.unpack("<Q", f"shape of {name}") for _ in range(n_dims))
        type_id = c.unpack("<I", f"type of {name}")
        offset = c.unpack("<Q", f"offset of {name}")
        raw_tensors.append((name, shape, type_id, offset))
        info_spans.append((start, c.pos))
    alignment = metadata.get("general.alignment", 32)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise TokbenchError(f"{path}: general.alignment {alignment!r} is not a power of two")
    data_offset = -(-c.pos // alignment) * alignment
    data_size = max(size - data_offset, 0)
    by_offset = sorted(raw_tensors, key=lambda t: t[3])
    next_offset = {t[3]: n[3] for t, n in itertools.pairwise(by_offset)}
    tensors = []
    for name, shape, type_id, offset in raw_tensors:
        if offset > data_size:
            raise TokbenchError(f"{path}: tensor {name} starts past the end of the file")
        n_elements = 1
        for d in shape:
            n_elements *= d
        if type_id in TYPE_SIZES:
            block, nbytes = TYPE_SIZES[type_id]
            n_bytes = n_elements // block * nbytes
        else:  # a type newer than this table: its size is the gap to the next tensor
            n_bytes = next_offset.get(offset, data_size) - offset
        if offset + n_bytes > data_size:
            raise TokbenchError(
                f"{path}: truncated: tensor {name} needs {n_bytes} bytes at data offset "
                f"{offset}, only {data_size - offset} remain"
            )
        tensors.append(Tensor(name, shape, type_id, offset, n_bytes, shard_no))
    return Shard(path, version, metadata, spans, tensors, info_spans, data_offset, alignment, size)


_SPLIT_NAME = re.compile(r"^(?P<prefix>.*)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$")


def shard_paths(first: Path) -> list[Path]:
    """All shards of a split model from the first one's name (…-00001-of-00003.gguf)."""
    m = _SPLIT_NAME.match(first.name)
    if not m:
        return [first]
    count = int(m.group("count"))
    return [
        first.with_name(f"{m.group('prefix')}-{i:05d}-of-{count:05d}.gguf")
        for i in range(1, count + 1)
    ]


def read_model(path: Path) -> Model:
    if not path.is_file():
        raise TokbenchError(f"no such file: {path}")
    paths = shard_paths(path)
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise TokbenchError(f"missing shard(s) of a split model: {', '.join(map(str, missing))}")
    model = Model([read_shard(p, i) for i, p in enumerate(paths)])
    count = model.metadata.get("split.count", 1)
    if count != len(paths):
        raise TokbenchError(f"{path}: split.count is {count}, but {len(paths)} shards were found")
    declared = model.metadata.get("split.tensors.count")
    if declared is not None and declared != len(model.tensors):
        raise TokbenchError(
            f"{path}: the shards hold {len(model.tensors)} tensors, split.tensors.count says "
            f"{declared}: a shard is missing or from another model"
        )
    return model
