"""The evaluation text: the built-in bilingual English/Chinese text shipped in
`quant/data/` (sources in `data/SOURCES.md`), or any UTF-8 text file."""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from tokbench.errors import TokbenchError

BUILTIN_NAME = "eval_en_zh.txt"
MAX_TEXT_BYTES = 64 << 20  # wikitext-2's test set is 1.3 MB; 64 MiB is ~30M tokens to score


@dataclass(frozen=True, slots=True)
class EvalText:
    name: str  # "builtin:eval_en_zh.txt" or the file's path
    text: str
    sha256: str  # of the UTF-8 bytes: part of a reference file's key


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def builtin_text() -> EvalText:
    data = resources.files("tokbench.quant").joinpath("data", BUILTIN_NAME).read_text("utf-8")
    return EvalText(f"builtin:{BUILTIN_NAME}", data, text_sha256(data))


def load_text(path: Path | str | None = None) -> EvalText:
    """The built-in text when `path` is None, else the UTF-8 file at `path`."""
    if path is None:
        return builtin_text()
    p = Path(path)
    try:
        data = read_bounded(p, MAX_TEXT_BYTES, what="--text").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TokbenchError(
            f"--text {p}: not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
    if not data.strip():
        raise TokbenchError(f"--text {p}: the file is empty")
    return EvalText(str(p), data, text_sha256(data))


def read_bounded(path: Path, limit: int, *, what: str) -> bytes:
    """The bytes of the regular file at `path`, at most `limit` of them, counted while
    reading (a size from stat() says nothing about /dev/zero or a FIFO).
    TODO(lead): the import helpers have a shared bounded reader; this one can go to it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO without writer: no hang
    except FileNotFoundError:
        raise TokbenchError(f"{what} {path}: no such file") from None
    except OSError as exc:
        raise TokbenchError(f"{what} {path}: cannot read it ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise TokbenchError(f"{what} {path}: not a regular file")
        try:
            data = f.read(limit + 1)
        except OSError as exc:
            raise TokbenchError(f"{what} {path}: cannot read it ({exc.strerror})") from None
    if len(data) > limit:
        raise TokbenchError(f"{what} {path}: larger than {limit >> 20} MiB, the most it reads")
    return data
